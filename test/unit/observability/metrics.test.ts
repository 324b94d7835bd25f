import { describe, expect, it } from 'vitest';
import middy from '@middy/core';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { createMetrics, publishMetricsSafely } from '../../../shared/observability/metrics.ts';
import { captureEmf } from './emf-capture.ts';

describe('publishing metrics after a handler', () => {
  it('flushes what the handler recorded, once, after it answered', async () => {
    const metrics = createMetrics();
    const handler = middy(async () => {
      metrics.addMetric('ReconcilerDispatches', MetricUnit.Count, 2);
      return 'done';
    }).use(publishMetricsSafely(metrics, { warn: () => undefined }));
    let answer: unknown;
    const records = await captureEmf(async () => (answer = await handler({}, {} as never)));
    expect(answer).toBe('done');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ ReconcilerDispatches: 2, service: 'runner-pools' });
  });

  it('flushes on error too, and the handler’s own error is what the invocation fails with', async () => {
    const metrics = createMetrics();
    const handler = middy(async () => {
      metrics.addMetric('ReconcilerFailures', MetricUnit.Count, 1);
      throw new Error('GHES unreachable');
    }).use(publishMetricsSafely(metrics, { warn: () => undefined }));
    let failure: unknown;
    const records = await captureEmf(() =>
      handler({}, {} as never).catch((error: unknown) => (failure = error)),
    );
    expect((failure as Error).message).toBe('GHES unreachable');
    expect(records[0]).toMatchObject({ ReconcilerFailures: 1 });
  });

  it('keeps the handler’s answer when the flush throws, and says so in a warning', async () => {
    // Prepare: a buffer whose flush throws, as Powertools does on a dimension it refuses.
    const metrics = createMetrics();
    metrics.addMetric('RunnerLaunches', MetricUnit.Count, 1);
    metrics.publishStoredMetrics = () => {
      throw new RangeError('The number of metric dimensions must be lower than 29');
    };
    const warnings: string[] = [];
    const handler = middy(async () => ({ batchItemFailures: [] })).use(
      publishMetricsSafely(metrics, { warn: (message: string) => void warnings.push(message) }),
    );

    // Act
    const answer = await handler({}, {} as never);

    // Assess
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(warnings).toEqual(['metric not emitted']);
  });

  it('writes nothing, not even a warning, after a run that recorded nothing', async () => {
    const metrics = createMetrics();
    const warnings: string[] = [];
    const handler = middy(async () => 'idle').use(
      publishMetricsSafely(metrics, { warn: (message: string) => void warnings.push(message) }),
    );
    const records = await captureEmf(() => handler({}, {} as never));
    expect(records).toEqual([]);
    expect(warnings).toEqual([]);
  });
});
