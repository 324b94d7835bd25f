import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { armFault, newJobId, sendJob, startTestSandbox, state, waitFor } from '../support/sandbox-driver.ts';

/**
 * A dispatch slower than the dispatcher's timeout, through the sandbox's routes. The twin's Lambda
 * timeout, dispatch lease and queue visibility are the deployed 30 s / 120 s / 180 s scaled together
 * (at timeScale 0.01: 3 s, the floor; 3.9 s; 4.5 s). Before, the lease (1.2 s) and the visibility
 * (1.8 s) were scaled and the timeout (30 s) was not: a redelivered message was handled while its
 * first invocation still ran, and both launched a runner for the job. On the product's side, each
 * failed instance's parameter cleanup (a throttled DeleteParameter the SDK retries for 5–7 s) held
 * the dispatch past its timeout, and middy's early timeout let a timed-out dispatch run on after its
 * lease was gone.
 */
let sandbox: Sandbox;
// One sandbox per test: queue receipts, alerts and AWS calls then belong to that test alone.
beforeEach(async () => {
  sandbox = await startTestSandbox();
});
afterEach(async () => sandbox?.close());

const succeeded = (target: string) =>
  sandbox.twin.endpoint.calls.filter((c) => c.target === target && !c.error).length;

/** Every job completed, or something landed in the dead-letter queue (then the test says which). */
const settled = (jobIds: readonly number[]) =>
  waitFor(
    `jobs ${jobIds.join(', ')} to complete`,
    async () => {
      const s = await state(sandbox);
      const completed = s.jobs!.filter((j) => jobIds.includes(j.id) && j.status === 'completed');
      return completed.length === jobIds.length || s.alerts!.length > 0 ? s : undefined;
    },
    45_000,
  );

describe('dispatch slower than the dispatcher timeout', () => {
  it(
    'with no EC2 capacity and every Parameter Store delete throttled, gives each job one build and completes it',
    { timeout: 60_000 },
    async () => {
      // Prepare
      await armFault(sandbox, {
        target: 'ec2:StartInstances',
        error: 'InsufficientInstanceCapacity',
        probability: 1,
      });
      await armFault(sandbox, {
        target: 'ssm:DeleteParameter',
        error: 'ThrottlingException',
        probability: 1,
      });
      const jobIds = [newJobId(), newJobId(), newJobId(), newJobId()];

      // Act
      for (const jobId of jobIds) {
        expect((await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux'] })).status).toBe(202);
      }
      const s = await settled(jobIds);

      // Assess
      expect(s.alerts).toEqual([]);
      expect(sandbox.twin.queues.get('DispatchQueue')!.overlappingReceipts()).toEqual([]);
      for (const jobId of jobIds) {
        expect(
          s.jobs!.find((j) => j.id === jobId),
          `job ${jobId}`,
        ).toMatchObject({
          status: 'completed',
          conclusion: 'success',
          pool: 'linux-codebuild',
        });
        expect(
          s.builds!.filter((b) => b.jobId === jobId),
          `builds of job ${jobId}`,
        ).toHaveLength(1);
      }
      // No instance could start; each job's build was asked for exactly once.
      expect(succeeded('ec2:StartInstances')).toBe(0);
      expect(succeeded('codebuild:StartBuild')).toBe(jobIds.length);
    },
  );

  it(
    'when a Parameter Store write is throttled past the timeout, wakes one instance for the job, not two',
    { timeout: 60_000 },
    async () => {
      // Prepare: the SDK retries ThrottlingException 4 times with jittered backoff (up to 1+2+4+8 s),
      // so the first invocation usually outlives a 1 s timeout and its 1.9 s lease.
      // This test needs the overrun: a 1 s timeout here (lease 1.9 s, visibility 2.5 s), the
      // suite's 3 s floor being too long for the backoff to outlast reliably.
      await sandbox.close();
      sandbox = await startTestSandbox((config) => {
        config.sandbox.lambdaTimeoutFloorMs = 1_000;
      });
      const since = Date.now();
      await armFault(sandbox, { target: 'ssm:PutParameter', error: 'ThrottlingException', count: 4 });
      const jobId = newJobId();

      // Act
      await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux'] });
      const s = await settled([jobId]);
      // Whatever the first invocation left running has had time to act: its backoff ends within
      // 1 + 2 + 4 + 8 = 15 s of its first attempt.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 16_000 - (Date.now() - since))));

      // Assess
      expect(s.alerts).toEqual([]);
      expect(sandbox.twin.queues.get('DispatchQueue')!.overlappingReceipts()).toEqual([]);
      expect(s.jobs!.find((j) => j.id === jobId)).toMatchObject({
        status: 'completed',
        conclusion: 'success',
        pool: 'linux',
      });
      expect(succeeded('ec2:StartInstances')).toBe(1);
    },
  );
});
