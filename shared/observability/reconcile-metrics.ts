import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ReconcileReport } from '../reconcile/reconcile-jobs.ts';
import { emitSafely, METRIC, type MetricName, type MetricsLogger } from './metrics.ts';

/** A report field as a count: a list's length or a number; anything else (a field not there yet) is none. */
const countOf = (value: unknown): number | undefined => {
  if (Array.isArray(value)) return value.length;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
};

/**
 * One reconciler run as metrics: what it dispatched, relaunched, released and closed, what failed,
 * and the age of the oldest job still queued (the "queued > 10 minutes" alarm). The launches these
 * dispatches made are counted by the dispatcher itself (withDispatchMetrics).
 *
 * `redelivered`, `discovered` and `orphansRemoved` are read as they come: a run that does not report
 * them emits nothing for them rather than a zero that would read as "checked, found none".
 */
export const recordReconcileReport = (metrics: Metrics, report: ReconcileReport, logger: MetricsLogger) =>
  emitSafely(logger, () => {
    const fields = report as unknown as Record<string, unknown>;
    const counts: [MetricName, unknown][] = [
      [METRIC.reconcilerDispatches, report.dispatched],
      [METRIC.reconcilerRelaunches, report.relaunched],
      [METRIC.reconcilerReleases, report.released],
      [METRIC.reconcilerClosed, report.closed],
      [METRIC.reconcilerFailures, report.failed],
      [METRIC.reconcilerRedeliveries, fields.redelivered],
      [METRIC.reconcilerDiscovered, fields.discovered],
      [METRIC.orphansRemoved, fields.orphansRemoved],
    ];
    for (const [name, value] of counts) {
      const count = countOf(value);
      if (count !== undefined) metrics.addMetric(name, MetricUnit.Count, count);
    }
    const age = countOf(fields.oldestQueuedAgeSeconds);
    if (age !== undefined) metrics.addMetric(METRIC.oldestQueuedAge, MetricUnit.Seconds, age);
  });
