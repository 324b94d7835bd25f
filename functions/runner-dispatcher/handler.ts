import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createDispatcherFromEnv } from '../../shared/dispatch/create-dispatcher-from-env.ts';
import { handleDispatchBatch } from '../../shared/dispatch/sqs-batch.ts';
import { dispatchBatchMetrics } from '../../shared/observability/dispatch-metrics.ts';
import { createMetrics, publishMetricsSafely } from '../../shared/observability/metrics.ts';

const logger = new Logger({ serviceName: 'runner-dispatcher' });
const metrics = createMetrics();
const dispatcher = await createDispatcherFromEnv(logger, metrics); // once per container
const observer = dispatchBatchMetrics(metrics, logger);

const dispatch = async (event: SQSEvent): Promise<SQSBatchResponse> => ({
  batchItemFailures: await handleDispatchBatch(event.Records, dispatcher, logger, observer),
});

// No early timeout: middy's (5 ms before the deadline) would return an error while the dispatch
// keeps running, and Lambda resets only an environment that times out. The unfinished dispatch would
// resume at this container's next invocation, after its job lease ran out, and could launch twice.
export const handler = middy(dispatch, { timeoutEarlyInMillis: 0 })
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(publishMetricsSafely(metrics, logger));
