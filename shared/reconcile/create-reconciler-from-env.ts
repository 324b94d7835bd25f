import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { createJsonClient, dynamoDbSpec } from '../aws/json-client.ts';
import { readDispatcherEnv, readReconcilerEnv } from '../config/runtime-env.ts';
import { createDispatcherFromEnv } from '../dispatch/create-dispatcher-from-env.ts';
import { createDynamoLeases } from '../dispatch/leases.ts';
import { createDynamoPendingJobs } from '../ledger/pending-jobs.ts';
import { reconcilePendingJobs, type ReconcileReport } from './reconcile-jobs.ts';

/** Wires the reconciler from the Lambda's environment (the dispatcher's, plus its own limits). */
export const createReconcilerFromEnv = async (
  logger: Pick<Logger, 'info' | 'warn' | 'error'>,
  metrics?: Metrics,
): Promise<() => Promise<ReconcileReport>> => {
  const env = readDispatcherEnv();
  const limits = readReconcilerEnv();
  const dispatcher = await createDispatcherFromEnv(logger, metrics);
  const dynamo = createJsonClient(dynamoDbSpec, env.aws);
  const pending = createDynamoPendingJobs(dynamo, env.jobsTable);
  const leases = createDynamoLeases(dynamo, env.leasesTable);
  return () => reconcilePendingJobs(pending, dispatcher, leases, logger, limits);
};
