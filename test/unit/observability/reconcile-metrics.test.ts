import { describe, expect, it } from 'vitest';
import { createMetrics, METRIC } from '../../../shared/observability/metrics.ts';
import { recordReconcileReport } from '../../../shared/observability/reconcile-metrics.ts';
import type { ReconcileReport } from '../../../shared/reconcile/reconcile-jobs.ts';
import { captureEmf } from './emf-capture.ts';

const report = (extra: Record<string, unknown> = {}): ReconcileReport =>
  ({
    released: ['1#1'],
    closed: [2, 3],
    relaunched: [4],
    examined: 9,
    dispatched: [
      { jobId: 5, outcome: 'launched' },
      { jobId: 6, outcome: 'no-capacity' },
    ],
    failed: 1,
    oldestQueuedAgeSeconds: 640,
    ...extra,
  }) as ReconcileReport;

const emitted = async (run: ReconcileReport) => {
  const metrics = createMetrics();
  const [record, ...more] = await captureEmf(() => {
    recordReconcileReport(metrics, run, { warn: () => undefined });
    metrics.publishStoredMetrics();
  });
  expect(more).toEqual([]);
  return record!;
};

describe('reconciler metrics', () => {
  it('reports what one run did and the age of the oldest queued job, in one EMF line', async () => {
    const record = await emitted(report());
    expect(record).toMatchObject({
      [METRIC.reconcilerDispatches]: 2,
      [METRIC.reconcilerRelaunches]: 1,
      [METRIC.reconcilerReleases]: 1,
      [METRIC.reconcilerClosed]: 2,
      [METRIC.reconcilerFailures]: 1,
      [METRIC.oldestQueuedAge]: 640,
    });
    const units = Object.fromEntries(record._aws.CloudWatchMetrics[0]!.Metrics.map((m) => [m.Name, m.Unit]));
    expect(units[METRIC.oldestQueuedAge]).toBe('Seconds');
    expect(units[METRIC.reconcilerDispatches]).toBe('Count');
  });

  it('reads redeliveries, discovered jobs and removed orphans as lists or counts, when a run reports them', async () => {
    const record = await emitted(
      report({ redelivered: ['g1', 'g2', 'g3'], discovered: 2, orphansRemoved: [] }),
    );
    expect(record).toMatchObject({
      [METRIC.reconcilerRedeliveries]: 3,
      [METRIC.reconcilerDiscovered]: 2,
      [METRIC.orphansRemoved]: 0,
    });
  });

  it('emits nothing for a field a run does not report or reports as something else', async () => {
    const record = await emitted(report({ discovered: 'many', orphansRemoved: -1 }));
    for (const name of [METRIC.reconcilerRedeliveries, METRIC.reconcilerDiscovered, METRIC.orphansRemoved]) {
      expect(record).not.toHaveProperty(name);
    }
  });
});
