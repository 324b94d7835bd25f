import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { createMetrics, publishMetricsSafely } from '../../shared/observability/metrics.ts';
import { recordReconcileReport } from '../../shared/observability/reconcile-metrics.ts';
import { createReconcilerFromEnv } from '../../shared/reconcile/create-reconciler-from-env.ts';

const logger = new Logger({ serviceName: 'runner-reconciler' });
const metrics = createMetrics();
const reconcile = await createReconcilerFromEnv(logger, metrics); // once per container

const run = async (_event: unknown, context: Context) => {
  const report = await reconcile({ remainingMs: context.getRemainingTimeInMillis() });
  // One line a run; a run that found nothing to do is only worth a debug line (it runs every minute).
  const acted =
    report.released.length +
    report.closed.length +
    report.relaunched.length +
    report.dispatched.length +
    report.redelivered +
    report.discovered.length +
    report.orphansRemoved;
  const notable = acted > 0 || report.failed > 0 || report.githubErrors > 0 || report.rateLimited !== null;
  (notable ? logger.info : logger.debug).call(logger, 'reconciler run', { ...report });
  recordReconcileReport(metrics, report, logger);
  return report;
};

// No early timeout, for the dispatcher's reason: a timed-out run must not resume later.
export const handler = middy(run, { timeoutEarlyInMillis: 0 })
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(publishMetricsSafely(metrics, logger));
