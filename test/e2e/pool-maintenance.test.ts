import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import {
  armFault,
  clearFaults,
  completedJob,
  newJobId,
  sendJob,
  settledJob,
  startTestSandbox,
  state,
  waitFor,
} from '../support/sandbox-driver.ts';

/**
 * Pool maintenance end to end through the sandbox's routes: `POST /sandbox/maintenance` starts the
 * real state machine (as the pool's schedule would), whose task Lambda wakes, commands and stops the
 * twin's instances; `GET /sandbox/state` shows the execution, its report and the instances.
 */
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startTestSandbox((config) => {
    // A job runs 8 s here, so it is still running when the maintenance run is over.
    config.sandbox.durations.jobMs = 800_000;
  });
});
afterAll(async () => sandbox?.close());
afterEach(async () => clearFaults(sandbox));

const startMaintenance = async (pool: string) => {
  const response = await fetch(`${sandbox.url}/sandbox/maintenance`, {
    method: 'POST',
    body: JSON.stringify({ pool }),
  });
  return {
    status: response.status,
    body: (await response.json()) as { executionName?: string; error?: string },
  };
};

const finishedExecution = (name: string) =>
  waitFor(
    `execution ${name} to stop`,
    async () => (await state(sandbox)).executions!.find((e) => e.name === name && e.status !== 'RUNNING'),
    30_000,
  );

const linuxInstances = async () => (await state(sandbox)).instances!.filter((i) => i.pool === 'linux');

/** Every linux instance stopped and not leased: the pool as maintenance must leave it. */
const poolAtRest = () =>
  waitFor(
    'the linux pool stopped and free',
    async () => {
      const instances = await linuxInstances();
      return instances.every((i) => i.state === 'stopped' && !i.jobId && !i.maintenance) && instances;
    },
    30_000,
  );

describe('pool maintenance', () => {
  it('never starts, commands or stops an instance a job holds; maintains and stops the rest', async () => {
    await poolAtRest();
    // A job already running when the run starts…
    const runningJob = newJobId();
    await sendJob(sandbox, { jobId: runningJob, labels: ['self-hosted', 'linux', 'x64'] });
    const running = (await settledJob(sandbox, runningJob)).resourceId as string;
    const started = await startMaintenance('linux');
    expect(started.status).toBe(202);
    // …and one that claims a stopped instance of a later batch while the first batch is maintained.
    await waitFor('the first batch under maintenance', async () =>
      (await linuxInstances()).some((i) => i.maintenance === started.body.executionName),
    );
    const lateJob = newJobId();
    await sendJob(sandbox, { jobId: lateJob, labels: ['self-hosted', 'linux', 'x64'] });
    const claimed = (await settledJob(sandbox, lateJob)).resourceId as string;
    expect(claimed).toMatch(/^i-/);
    const touched: string[] = [];
    sandbox.twin.ec2.onStateChange((i) => {
      if (i.instanceId === running || i.instanceId === claimed) touched.push(`${i.instanceId} ${i.state}`);
    });

    const execution = await finishedExecution(started.body.executionName!);

    expect(execution).toMatchObject({ stateMachine: 'pool-maintenance', status: 'SUCCEEDED' });
    const report = execution.report as {
      instances: { instanceId: string; outcome: string; reason?: string }[];
    };
    const others = (await linuxInstances())
      .map((i) => i.instanceId)
      .filter((id) => id !== running && id !== claimed);
    expect(report.instances.find((i) => i.instanceId === claimed)).toEqual({
      instanceId: claimed,
      outcome: 'skipped',
      reason: 'claimed by a job',
    });
    // Not stopped when the run listed the pool: not in the run at all.
    expect(report.instances.find((i) => i.instanceId === running)).toBeUndefined();
    expect(
      report.instances
        .filter((i) => i.outcome === 'ok')
        .map((i) => i.instanceId)
        .sort(),
    ).toEqual(others.sort());
    // Both jobs' instances: no command, still running their jobs, no state change since.
    const now = await state(sandbox);
    expect(now.commands!.filter((c) => c.instanceId === running || c.instanceId === claimed)).toEqual([]);
    expect(now.instances!.find((i) => i.instanceId === running)).toMatchObject({
      state: 'running',
      jobId: runningJob,
    });
    expect(now.instances!.find((i) => i.instanceId === claimed)).toMatchObject({ jobId: lateJob });
    expect(touched.filter((t) => !t.endsWith(' running'))).toEqual([]);
    // The others were commanded once each, updated, stopped again and released.
    expect(
      now
        .commands!.filter((c) => others.includes(c.instanceId))
        .map((c) => [c.instanceId, c.status, c.exitCode])
        .sort(),
    ).toEqual(others.map((id) => [id, 'Success', 0]).sort());
    await waitFor('the maintained instances stopped', async () => {
      const instances = (await linuxInstances()).filter((i) => others.includes(i.instanceId));
      return instances.every(
        (i) => i.state === 'stopped' && i.maintenance === null && i.runnerVersion === '2.321.0',
      );
    });
    await completedJob(sandbox, runningJob, 30_000);
    await completedJob(sandbox, lateJob, 30_000);
  }, 60_000);

  it('gives a job queued during maintenance a runner', async () => {
    await poolAtRest();
    const started = await startMaintenance('linux');
    expect(started.status).toBe(202);
    // The first batch is being maintained (its instances leased) when the job arrives.
    await waitFor('a batch under maintenance', async () =>
      (await linuxInstances()).some((i) => i.maintenance === started.body.executionName),
    );
    const underMaintenance = (await linuxInstances()).filter((i) => i.maintenance).map((i) => i.instanceId);
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'x64'] });
    const job = await settledJob(sandbox, jobId);
    expect(job.resourceId).toBeTruthy();
    expect(underMaintenance).not.toContain(job.resourceId);
    const execution = await finishedExecution(started.body.executionName!);
    expect(execution.status).toBe('SUCCEEDED');
    expect((execution.report as { failed: number }).failed).toBe(0);
    await completedJob(sandbox, jobId, 30_000);
  }, 60_000);

  it('reports a failing command with its exit code, and still stops the instance and frees its lease', async () => {
    await poolAtRest();
    await armFault(sandbox, { target: 'ssm:os-update', exitCode: 100, count: 1 });
    const started = await startMaintenance('linux');
    const execution = await finishedExecution(started.body.executionName!);
    expect(execution.status).toBe('SUCCEEDED');
    const report = execution.report as { failed: number; ok: number; instances: Record<string, unknown>[] };
    const failed = report.instances.filter((i) => i.outcome === 'failed');
    expect(failed).toEqual([
      expect.objectContaining({
        exitCode: 100,
        status: 'Failed',
        reason: 'command Failed with exit code 100',
      }),
    ]);
    expect(report.ok).toBe(5);
    const instances = await poolAtRest();
    expect(instances.find((i) => i.instanceId === failed[0]!.instanceId)).toMatchObject({
      state: 'stopped',
      maintenance: null,
    });
  }, 60_000);

  it('answers 400 naming the problem for a pool without maintenance, and starts nothing', async () => {
    const before = (await state(sandbox)).executions!.length;
    const answer = await startMaintenance('linux-codebuild');
    expect(answer.status).toBe(400);
    expect(answer.body.error).toContain('pool: expected one with maintenance configured (linux)');
    expect((await state(sandbox)).executions!.length).toBe(before);
  });
});
