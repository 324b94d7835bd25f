import { describe, expect, it } from 'vitest';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { DispatchOutcome, Dispatcher } from '../../../shared/dispatch/dispatch-job.ts';
import { dispatchBatchMetrics, withDispatchMetrics } from '../../../shared/observability/dispatch-metrics.ts';
import { createMetrics, METRIC } from '../../../shared/observability/metrics.ts';
import { toWorkflowJobDetail } from '../../../shared/events/control-plane-events.ts';
import type { WorkflowJobEvent } from '../../../shared/intake/workflow-job.ts';
import { workflowJobEvent } from '../../support/workflow-job-event.ts';
import { captureEmf, recordsOf } from './emf-capture.ts';

/** The bus event the intake publishes for this webhook. */
const workflowJobDetail = (extra: Partial<WorkflowJobEvent> = {}) =>
  toWorkflowJobDetail(workflowJobEvent(extra), 'delivery-1');

const pools = [
  { name: 'linux', provider: 'ec2-wake' as const },
  { name: 'linux-codebuild', provider: 'codebuild' as const },
];

/** A dispatcher that answers `outcome` and routes every job to `routedPool`. */
const dispatcherAnswering = (outcome: DispatchOutcome, routedPool = 'linux'): Dispatcher => ({
  dispatch: async () => outcome,
  release: async () => undefined,
  poolsFor: () => [routedPool, 'linux-codebuild'],
  recheck: async () => 'left',
});

const dispatchOnce = async (outcome: DispatchOutcome, routedPool?: string) => {
  const metrics = createMetrics();
  const warnings: string[] = [];
  const dispatcher = withDispatchMetrics(dispatcherAnswering(outcome, routedPool), pools, metrics, {
    warn: (message: string) => void warnings.push(message),
  });
  let answer: DispatchOutcome | undefined;
  const records = await captureEmf(async () => {
    answer = await dispatcher.dispatch(workflowJobDetail());
    metrics.publishStoredMetrics();
  });
  return { records, answer, warnings };
};

describe('dispatch metrics', () => {
  it('counts a launch under its provider and its pool, and no fallback when it ran where routed', async () => {
    // Act
    const { records } = await dispatchOnce({ outcome: 'launched', pool: 'linux', resourceId: 'i-1' });

    // Assess
    const [launch, ...more] = recordsOf(records, METRIC.runnerLaunches);
    expect(more).toEqual([]);
    expect(launch).toMatchObject({
      service: 'runner-pools',
      provider: 'ec2-wake',
      pool: 'linux',
      RunnerLaunches: 1,
    });
    expect(launch!._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'GhesControlPlane',
      Dimensions: [
        ['service', 'provider'],
        ['service', 'pool'],
      ],
    });
    expect(recordsOf(records, METRIC.fallbackLaunches)).toEqual([]);
  });

  it('counts a launch in a fallback pool as a fallback of the pool the job was routed to', async () => {
    const { records } = await dispatchOnce({
      outcome: 'launched',
      pool: 'linux-codebuild',
      resourceId: 'b:1',
    });
    expect(recordsOf(records, METRIC.runnerLaunches)[0]).toMatchObject({ provider: 'codebuild' });
    const [fallback] = recordsOf(records, METRIC.fallbackLaunches);
    expect(fallback).toMatchObject({ pool: 'linux', FallbackLaunches: 1 });
    expect(fallback!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service'], ['service', 'pool']]);
  });

  it.each([
    ['no-capacity', METRIC.noCapacity],
    ['failed', METRIC.launchRefused],
    ['unmatched', METRIC.unmatched],
  ] as const)('counts a job left %s', async (outcome, name) => {
    const { records } = await dispatchOnce({ outcome, reason: 'r' });
    expect(recordsOf(records, name)).toHaveLength(1);
    expect(recordsOf(records, name)[0]![name]).toBe(1);
    expect(recordsOf(records, METRIC.runnerLaunches)).toEqual([]);
  });

  it('counts nothing for a skipped job (a duplicate, or one GitHub already gave a runner)', async () => {
    const { records } = await dispatchOnce({ outcome: 'skipped', reason: 'r' });
    expect(records).toEqual([]);
  });

  it('still answers the dispatch when writing the metric fails', async () => {
    // Prepare: a metrics object that refuses every write.
    const broken = new Proxy({} as Metrics, {
      get: () => () => {
        throw new RangeError('The number of metric dimensions must be lower than 29');
      },
    });
    const warnings: string[] = [];
    const dispatcher = withDispatchMetrics(
      dispatcherAnswering({ outcome: 'launched', pool: 'linux', resourceId: 'i-1' }),
      pools,
      broken,
      { warn: (message: string) => void warnings.push(message) },
    );

    // Act
    const answer = await dispatcher.dispatch(workflowJobDetail());

    // Assess
    expect(answer).toEqual({ outcome: 'launched', pool: 'linux', resourceId: 'i-1' });
    expect(warnings).toEqual(['metric not emitted']);
  });
});

describe('dispatch batch metrics', () => {
  const NOW = new Date('2026-11-29T12:00:10Z');

  it('measures dispatch latency from the bus event’s time to the launch', async () => {
    const metrics = createMetrics();
    const observer = dispatchBatchMetrics(metrics, { warn: () => undefined }, () => NOW);
    const records = await captureEmf(() => {
      observer.dispatched({ outcome: 'launched', pool: 'linux', resourceId: 'i-1' }, '2026-11-29T12:00:07Z');
      observer.dispatched({ outcome: 'no-capacity', reason: 'r' }, '2026-11-29T12:00:00Z');
      metrics.publishStoredMetrics();
    });
    expect(recordsOf(records, METRIC.dispatchLatency).map((r) => r[METRIC.dispatchLatency])).toEqual([3]);
  });

  it('reports queue time from a completed job’s created_at to started_at, stamped when it started', async () => {
    const metrics = createMetrics();
    const observer = dispatchBatchMetrics(metrics, { warn: () => undefined });
    const records = await captureEmf(() =>
      observer.completed(
        workflowJobDetail({
          action: 'completed',
          runnerName: 'r-1',
          createdAt: '2026-11-29T10:00:00Z',
          startedAt: '2026-11-29T10:02:30Z',
        }),
      ),
    );
    const [queueTime] = recordsOf(records, METRIC.queueTime);
    expect(queueTime![METRIC.queueTime]).toBe(150);
    expect(queueTime!._aws.Timestamp).toBe(Date.parse('2026-11-29T10:02:30Z'));
  });

  it('reports no queue time for a job cancelled before any runner took it, or with broken timestamps', async () => {
    const metrics = createMetrics();
    const observer = dispatchBatchMetrics(metrics, { warn: () => undefined });
    const times = { createdAt: '2026-11-29T10:00:00Z', startedAt: '2026-11-29T10:00:05Z' };
    const records = await captureEmf(() => {
      observer.completed(workflowJobDetail({ action: 'completed', runnerName: null, ...times }));
      observer.completed(
        workflowJobDetail({
          action: 'completed',
          runnerName: 'r',
          createdAt: times.startedAt,
          startedAt: times.createdAt,
        }),
      );
      observer.completed(
        workflowJobDetail({
          action: 'completed',
          runnerName: 'r',
          createdAt: null,
          startedAt: times.startedAt,
        }),
      );
    });
    expect(records).toEqual([]);
  });
});
