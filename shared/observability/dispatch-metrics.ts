import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { PoolConfig } from '../config/deployment-config.ts';
import type { DispatchOutcome, Dispatcher } from '../dispatch/dispatch-job.ts';
import type { DispatchBatchObserver } from '../dispatch/sqs-batch.ts';
import type { WorkflowJobDetail } from '../events/control-plane-events.ts';
import { emitSafely, METRIC, type MetricsLogger } from './metrics.ts';

/** What a dispatch did, counted: launches by provider and pool, fallbacks, jobs left without a runner. */
const countOutcome = (
  metrics: Metrics,
  outcome: DispatchOutcome,
  where: { routedPool: string | undefined; provider: string | undefined },
) => {
  if (outcome.outcome === 'launched') {
    // Two series: by provider (the dashboard), by pool (a pool implies its provider). Pools come from
    // the deployment config, so `pool` has as many values as the config has pools.
    const launch = metrics.singleMetric();
    if (where.provider) launch.addDimensions({ provider: where.provider });
    launch.addDimensions({ pool: outcome.pool });
    launch.addMetric(METRIC.runnerLaunches, MetricUnit.Count, 1);
    if (where.routedPool !== undefined && where.routedPool !== outcome.pool) {
      // Counted against the pool the job was meant for: that is the pool short of capacity.
      const fallback = metrics.singleMetric();
      fallback.addDimensions({});
      fallback.addDimensions({ pool: where.routedPool });
      fallback.addMetric(METRIC.fallbackLaunches, MetricUnit.Count, 1);
    }
    return;
  }
  if (outcome.outcome === 'no-capacity') metrics.addMetric(METRIC.noCapacity, MetricUnit.Count, 1);
  if (outcome.outcome === 'failed') metrics.addMetric(METRIC.launchRefused, MetricUnit.Count, 1);
  if (outcome.outcome === 'unmatched') metrics.addMetric(METRIC.unmatched, MetricUnit.Count, 1);
};

/**
 * The dispatcher with every dispatch it finishes counted: the event path's, a freed slot's backfill
 * and the reconciler's all go through `dispatch`, so wrapping it counts each launch once.
 */
export const withDispatchMetrics = (
  dispatcher: Dispatcher,
  pools: readonly Pick<PoolConfig, 'name' | 'provider'>[],
  metrics: Metrics,
  logger: MetricsLogger,
): Dispatcher => {
  const providerOf = new Map(pools.map((pool) => [pool.name, pool.provider]));
  return {
    ...dispatcher,
    async dispatch(job, options) {
      const outcome = await dispatcher.dispatch(job, options);
      emitSafely(logger, () =>
        countOutcome(metrics, outcome, {
          // Routing is pure and in memory: asking it again costs no call.
          routedPool: outcome.outcome === 'launched' ? dispatcher.poolsFor(job)[0] : undefined,
          provider: outcome.outcome === 'launched' ? providerOf.get(outcome.pool) : undefined,
        }),
      );
      return outcome;
    },
  };
};

const secondsBetween = (from: string | null | undefined, to: string | null | undefined) => {
  const [start, end] = [Date.parse(from ?? ''), Date.parse(to ?? '')];
  return Number.isFinite(start) && Number.isFinite(end) && end >= start ? (end - start) / 1000 : undefined;
};

/**
 * What the dispatcher's SQS records tell: how long a queued job's event took to become a launch
 * (from the bus event's `time`, set when the intake published it), and, from a `completed` event,
 * how long the job waited for a runner (GitHub's `created_at` → `started_at`).
 */
export const dispatchBatchMetrics = (
  metrics: Metrics,
  logger: MetricsLogger,
  now: () => Date = () => new Date(),
): DispatchBatchObserver => ({
  dispatched(outcome, publishedAt) {
    if (outcome.outcome !== 'launched') return;
    const latency = secondsBetween(publishedAt, now().toISOString());
    if (latency !== undefined) {
      emitSafely(logger, () => metrics.addMetric(METRIC.dispatchLatency, MetricUnit.Seconds, latency));
    }
  },
  completed(job: WorkflowJobDetail) {
    // A job cancelled while queued never had a runner: it has no queue time to tell.
    if (job.runnerName === null) return;
    const queued = secondsBetween(job.createdAt, job.startedAt);
    if (queued === undefined) return;
    emitSafely(logger, () => {
      // Stamped when the job started, not when it ended hours later, so the dashboard puts it in
      // the minute the wait ended (CloudWatch takes EMF points up to 14 days old).
      const single = metrics.singleMetric();
      single.setTimestamp(new Date(job.startedAt!));
      single.addMetric(METRIC.queueTime, MetricUnit.Seconds, queued);
    });
  },
});
