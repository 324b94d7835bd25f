import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  MIN_LAMBDA_TIMEOUT_MS,
  readDeployedTiming,
  scaleTiming,
  timingProblems,
} from '../../twin/dispatch-timing.ts';

/**
 * The dispatcher's timing, as deployed and as the twin scales it: Lambda timeout < dispatch lease
 * < queue visibility timeout. AWS itself refuses an SQS event source mapping whose visibility
 * timeout is below the function timeout; the lease is ours.
 */
describe('dispatch timing', () => {
  it('deploys a dispatcher timeout below the lease, and a lease below the queue visibility timeout', () => {
    // Act
    const deployed = readDeployedTiming();

    // Assess
    expect(deployed).toMatchObject({
      dispatcherTimeoutSeconds: 30,
      dispatchLeaseSeconds: 120,
      visibilityTimeoutSeconds: 180,
    });
    expect(deployed.visibilityTimeoutSeconds).toBeGreaterThanOrEqual(deployed.dispatcherTimeoutSeconds);
    expect(
      timingProblems({
        timeoutSeconds: deployed.dispatcherTimeoutSeconds,
        leaseSeconds: deployed.dispatchLeaseSeconds,
        visibilitySeconds: deployed.visibilityTimeoutSeconds,
      }),
    ).toEqual([]);
  });

  it("tells the dispatcher its own timeout, from the function's setting, so it checks the lease at cold start", () => {
    // Prepare
    const serverless = parse(readFileSync(new URL('../../../serverless.yml', import.meta.url), 'utf8'), {
      logLevel: 'silent',
    });

    // Act
    const env = serverless.functions['runner-dispatcher'].environment;

    // Assess
    expect(env.DISPATCHER_TIMEOUT_SECONDS).toBe('${self:functions.runner-dispatcher.timeout}');
    expect(Number(env.DISPATCH_LEASE_SECONDS)).toBe(readDeployedTiming().dispatchLeaseSeconds);
  });

  it.each([0.002, 0.01, 0.05, 0.2, 1])(
    'keeps timeout < lease < visibility at timeScale %s, never below the Lambda timeout floor',
    (timeScale) => {
      // Act
      const { dispatcher, dispatchQueue } = scaleTiming(readDeployedTiming(), timeScale);

      // Assess
      expect(dispatcher.timeoutMs).toBeGreaterThanOrEqual(MIN_LAMBDA_TIMEOUT_MS);
      expect(dispatcher.leaseSeconds * 1000).toBeGreaterThan(dispatcher.timeoutMs);
      expect(dispatchQueue.visibilityTimeoutMs).toBeGreaterThan(dispatcher.leaseSeconds * 1000);
    },
  );

  it('scales the three values together from the deployed ones above the floor', () => {
    // Act
    const at02 = scaleTiming(readDeployedTiming(), 0.2);
    const at1 = scaleTiming(readDeployedTiming(), 1);

    // Assess
    expect([
      at02.dispatcher.timeoutMs,
      at02.dispatcher.leaseSeconds,
      at02.dispatchQueue.visibilityTimeoutMs,
    ]).toEqual([6_000, 24, 36_000]);
    expect([
      at1.dispatcher.timeoutMs,
      at1.dispatcher.leaseSeconds,
      at1.dispatchQueue.visibilityTimeoutMs,
    ]).toEqual([30_000, 120, 180_000]);
  });

  it('keeps the deployed margins above the floor: at timeScale 0.01, 3 s, 3.9 s and 4.5 s', () => {
    // Act
    const { dispatcher, dispatchQueue } = scaleTiming(readDeployedTiming(), 0.01);

    // Assess
    expect([dispatcher.timeoutMs, dispatcher.leaseSeconds, dispatchQueue.visibilityTimeoutMs]).toEqual([
      3_000, 3.9, 4_500,
    ]);
  });

  it('refuses deployed values whose lease would not outlive the dispatcher timeout, naming both', () => {
    // Prepare
    const deployed = { ...readDeployedTiming(), dispatchLeaseSeconds: 25 };

    // Act + Assess
    expect(() => scaleTiming(deployed, 0.01)).toThrow(
      "the dispatch lease (25 s) must exceed the dispatcher's timeout (30 s)",
    );
  });
});
