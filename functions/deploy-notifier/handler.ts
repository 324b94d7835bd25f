import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createDeployNotifierFromEnv } from '../../shared/notify/create-deploy-notifier-from-env.ts';
import { handleNotifierBatch } from '../../shared/notify/notifier-batch.ts';

const logger = new Logger({ serviceName: 'deploy-notifier' });
const notifier = createDeployNotifierFromEnv(); // once per container

const notify = async (event: SQSEvent): Promise<SQSBatchResponse> => ({
  batchItemFailures: await handleNotifierBatch(event.Records, notifier, logger),
});

export const handler = middy(notify).use(injectLambdaContext(logger, { resetKeys: true }));
