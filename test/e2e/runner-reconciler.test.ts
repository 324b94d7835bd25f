import { CodeBuildClient, StopBuildCommand } from '@aws-sdk/client-codebuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import {
  armFault,
  jobOf,
  newJobId,
  sendJob,
  startTestSandbox,
  state,
  waitFor,
  clearFaults,
  completedJob,
} from '../support/sandbox-driver.ts';

/**
 * The reconciler, through the sandbox's routes, with its EventBridge schedule on (every 60 s of
 * simulated time: 0.6 s here). It is the backstop for jobs the event path left without a runner.
 * Its ledger side alone here: without `github.hookDeliveries` nothing redelivers a failed delivery
 * (test/e2e/github-recovery.test.ts covers that side).
 */
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startTestSandbox((config) => {
    config.sandbox.schedules = true;
    delete config.github.hookDeliveries;
  });
});
afterAll(async () => sandbox?.close());
afterEach(async () => clearFaults(sandbox));

const completed = (jobId: number) => completedJob(sandbox, jobId);
/** Instances and builds that ever ran the job (a runner took it there). */
const runnersOf = (jobId: number) => sandbox.twin.github.runners().filter((r) => r.jobId === jobId);

describe('the runner reconciler', () => {
  it('dispatches a job whose row was written but whose event never reached the bus', async () => {
    // More failures than the intake's three tries: it answers 500, and GitHub (here) never redelivers.
    await armFault(sandbox, { target: 'eventbridge:PutEvents', error: 'InternalException', count: 3 });
    const jobId = newJobId();
    expect((await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'arm64'] })).status).toBe(500);
    expect(await jobOf(sandbox, jobId)).toMatchObject({ status: 'queued', reason: null, resourceId: null });

    const job = await completed(jobId);
    expect(job).toMatchObject({ pool: 'linux-arm64', conclusion: 'success' });
    expect(runnersOf(jobId)).toHaveLength(1);
    const runs = (await state(sandbox)).reconciler!;
    expect(runs.flatMap((r) => r.dispatched)).toContainEqual({ jobId, outcome: 'launched' });
  });

  it('dispatches a job left queued for want of capacity once capacity returns, with no slot freed to prompt it', async () => {
    // Both arm64 instances (the pool has no fallback) are out of capacity once; nothing frees a slot
    // afterwards, so only the reconciler can try again. (A freed slot is the backfill's business:
    // test/e2e/runner-dispatch.test.ts.)
    await armFault(sandbox, {
      target: 'ec2:StartInstances',
      error: 'InsufficientInstanceCapacity',
      count: 2,
    });
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'arm64'] });
    const waiting = await waitFor('the job left queued with a reason', async () => {
      const job = await jobOf(sandbox, jobId);
      return job?.status === 'queued' && job.reason ? job : undefined;
    });
    expect(waiting.reason).toMatch(/^no capacity: linux-arm64: no stopped instance could start/);

    expect(await completed(jobId)).toMatchObject({ pool: 'linux-arm64', conclusion: 'success' });
    expect(runnersOf(jobId)).toHaveLength(1);
    const runs = (await state(sandbox)).reconciler!;
    expect(runs.flatMap((r) => r.dispatched)).toContainEqual({ jobId, outcome: 'launched' });
  });

  it('gives back the slot and instance of a job whose completed event never reached the dispatcher', async () => {
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'arm64'] });
    const running = await waitFor(`job ${jobId} in progress`, async () => {
      const job = await jobOf(sandbox, jobId);
      return job?.status === 'in_progress' ? job : undefined;
    });
    // The in_progress delivery is on the bus (the ledger moves before PutEvents), so the fault
    // below meets the completed delivery.
    await waitFor('the in_progress event on the bus', async () =>
      sandbox.twin.events.archive.find(
        (e) =>
          e['detail-type'] === 'workflow_job.in_progress' && (e.detail as { jobId: number }).jobId === jobId,
      ),
    );
    // The runner's completed delivery: the intake writes the ledger, then every PutEvents try fails
    // (500), and nothing redelivers it.
    await armFault(sandbox, { target: 'eventbridge:PutEvents', error: 'InternalException', count: 3 });
    const job = await completed(jobId);
    expect(job.resourceId).toBe(running.resourceId);

    // A run gives them back; its report lands once the run has finished.
    await waitFor('a reconciler run that gave the slot back', async () =>
      (await state(sandbox)).reconciler!.find((run) => (run.released as string[]).includes(`${jobId}#1`)),
    );
    const s = await state(sandbox);
    expect(s.pools!.find((p) => p.name === 'linux-arm64')!.inUse).toBe(0);
    expect(s.instances!.find((i) => i.instanceId === job.resourceId)!.jobId).toBeNull();
  });
});

describe('the runner reconciler, with a launch that never becomes a runner', () => {
  let slow: Sandbox;
  beforeAll(async () => {
    // CodeBuild takes 400 s (4 s here) to start a build: time to stop one before its runner boots.
    slow = await startTestSandbox((config) => {
      config.sandbox.schedules = true;
      config.sandbox.durations.buildStartMs = 400_000;
    });
  });
  afterAll(async () => slow?.close());

  it(
    'dispatches a job again whose build was stopped before its runner took it',
    { timeout: 60_000 },
    async () => {
      const jobId = newJobId();
      await sendJob(slow, {
        jobId,
        labels: ['self-hosted', 'linux', 'deploy'],
        workflowName: 'action-app-dev-deploy',
      });
      const first = await waitFor(`job ${jobId} dispatched`, async () => {
        const job = (await state(slow)).jobs!.find((j) => j.id === jobId);
        return job?.resourceId ? job : undefined;
      });
      // Someone stops the build in the console (or its fleet goes away) while it is still queued.
      const codebuild = new CodeBuildClient({
        region: slow.config.region,
        endpoint: slow.twin.endpoint.url,
        credentials: { accessKeyId: 'operator', secretAccessKey: 'operator' },
      });
      await codebuild.send(new StopBuildCommand({ id: first.resourceId }));

      // 600 s of simulated time later (6 s here) the reconciler finds it still queued on GitHub.
      const done = await waitFor(
        `job ${jobId} completed on another build`,
        async () => {
          const job = (await state(slow)).jobs!.find((j) => j.id === jobId);
          return job?.status === 'completed' ? job : undefined;
        },
        40_000,
      );
      expect(done.resourceId).not.toBe(first.resourceId);
      expect(done).toMatchObject({ pool: 'dev-deploy', conclusion: 'success' });
      expect(slow.twin.github.runners().filter((r) => r.jobId === jobId)).toHaveLength(1);
      expect((await state(slow)).reconciler!.flatMap((r) => r.relaunched)).toContain(jobId);
      // The stopped build's registration does not linger offline in the runner list.
      const registrations = slow.twin.github
        .runners()
        .filter((r) => r.name.startsWith(`ghes-cp-${jobId}-1-`));
      expect(registrations).toHaveLength(2);
      expect(registrations.filter((r) => r.state === 'offline')).toEqual([]);
      const builds = (await state(slow)).builds!.filter((b) => b.jobId === jobId);
      expect(builds.map((b) => b.status).sort()).toEqual(['STOPPED', 'SUCCEEDED']);
    },
  );
});
