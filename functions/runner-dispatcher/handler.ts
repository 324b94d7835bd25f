import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createDispatcherFromEnv } from '../../shared/dispatch/create-dispatcher-from-env.ts';
import { handleDispatchBatch } from '../../shared/dispatch/sqs-batch.ts';

const logger = new Logger({ serviceName: 'runner-dispatcher' });
const dispatcher = await createDispatcherFromEnv(logger); // once per container

const dispatch = async (event: SQSEvent): Promise<SQSBatchResponse> => ({
  batchItemFailures: await handleDispatchBatch(event.Records, dispatcher, logger),
});

export const handler = middy(dispatch).use(injectLambdaContext(logger, { resetKeys: true }));
