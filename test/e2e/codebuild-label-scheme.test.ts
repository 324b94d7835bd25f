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
  buildsOf,
  clearFaults,
  settledJob,
} from '../support/sandbox-driver.ts';

/**
 * AWS's CodeBuild runner labels (`codebuild-<project>-<run_id>-<run_attempt>` plus modifiers), through
 * the sandbox's routes: they may pick a pool the config opened to them, never widen it.
 */
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startTestSandbox();
});
afterAll(async () => sandbox?.close());
afterEach(async () => clearFaults(sandbox));

const settled = (jobId: number) => settledJob(sandbox, jobId);
const buildsFor = (jobId: number) => buildsOf(sandbox, jobId);
/** The sandbox's test payloads carry run id = job id × 10 and attempt 1. */
const schemeLabel = (project: string, jobId: number) => `codebuild-${project}-${jobId * 10}-1`;

describe('the CodeBuild runner label scheme', () => {
  it('refuses a workflow that names the production project with its own image and size, and starts nothing', async () => {
    const jobId = newJobId();
    const startsBefore = sandbox.twin.endpoint.count('codebuild:StartBuild');
    const registrationsBefore = sandbox.twin.github.runners().length;
    const response = await sendJob(sandbox, {
      jobId,
      labels: [
        schemeLabel('ghes-runners-prd', jobId),
        'image:attacker.example/evil:latest',
        'instance-size:2xlarge',
      ],
      repository: 'acme/untrusted',
      branch: 'feature/pwn',
      workflowName: 'pr-check',
    });
    expect(response.status).toBe(202);
    const job = await settled(jobId);
    expect(job).toMatchObject({
      status: 'unmatched',
      resourceId: null,
      reason:
        'label codebuild-ghes-runners-prd-…: no pool enables the label scheme for CodeBuild project ghes-runners-prd',
    });
    expect(await buildsFor(jobId)).toEqual([]);
    expect(sandbox.twin.endpoint.count('codebuild:StartBuild')).toBe(startsBefore);
    // Not even a runner registration: nothing is made for a refused job.
    expect(sandbox.twin.github.runners()).toHaveLength(registrationsBefore);
    const prd = (await state(sandbox)).pools!.find((p) => p.name === 'prd-deploy')!;
    expect(prd.inUse).toBe(0);
  });

  it('runs a deploy job labelled for ghes-runners on the linux-codebuild pool, with the project phases it asked for', async () => {
    const jobId = newJobId();
    await sendJob(sandbox, {
      jobId,
      labels: [schemeLabel('ghes-runners', jobId), 'buildspec-override:true'],
      workflowName: 'action-app-dev-deploy',
    });
    const job = await settled(jobId);
    expect(job).toMatchObject({ status: 'dispatched', pool: 'linux-codebuild', provider: 'codebuild' });
    const [build, ...more] = await buildsFor(jobId);
    expect(more).toEqual([]);
    expect(build).toMatchObject({
      id: job.resourceId,
      project: 'ghes-runners',
      computeType: 'BUILD_GENERAL1_MEDIUM', // the pool's own setting
      projectPhases: true,
    });
    // It holds one of the pool's slots like any other job, and gives it back when done.
    const pool = (await state(sandbox)).pools!.find((p) => p.name === 'linux-codebuild')!;
    expect(pool.inUse).toBeGreaterThanOrEqual(1);
    const done = await waitFor(`job ${jobId} completed`, async () => {
      const found = await jobOf(sandbox, jobId);
      return found?.status === 'completed' ? found : undefined;
    });
    expect(done).toMatchObject({ conclusion: 'success' });
    const runner = sandbox.twin.github.runners().find((r) => r.jobId === jobId);
    expect(runner).toMatchObject({ groupId: 1, resourceId: job.resourceId });
  });

  it.each([
    ['image:attacker.example/evil:latest', /image:attacker\.example\/evil:latest is not allowed/],
    ['instance-size:2xlarge', /instance-size:2xlarge is not allowed/],
    ['fleet:big', /fleet:big is not allowed/],
  ])('refuses %s on a pool that does not allow it', async (modifier, why) => {
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: [schemeLabel('ghes-runners', jobId), modifier] });
    const job = await settled(jobId);
    expect(job.status).toBe('unmatched');
    expect(job.reason).toMatch(why);
    expect(await buildsFor(jobId)).toEqual([]);
  });
});

describe("a CodeBuild runner's credentials", () => {
  it('sit under a name nobody can guess, handed to that build alone, and are gone after its first read', async () => {
    const jobIds = [newJobId(), newJobId()];
    for (const jobId of jobIds) {
      await sendJob(sandbox, {
        jobId,
        labels: ['self-hosted', 'linux', 'deploy'],
        workflowName: 'action-app-stg-deploy',
      });
    }
    const builds = await Promise.all(
      jobIds.map((jobId) => waitFor(`a build for job ${jobId}`, async () => (await buildsFor(jobId))[0])),
    );
    const names = builds.map((b) => b.credentialsParameter as string);
    for (const [i, name] of names.entries()) {
      // 128 random bits under builds/: nothing about the job (id, attempt, repository) is in it.
      expect(name).toMatch(/^\/ghes-cp\/runners\/builds\/[0-9a-f]{32}$/);
      expect(name).not.toContain(String(jobIds[i]));
    }
    expect(new Set(names).size).toBe(2);
    // Each name is in its own build's environment and in no other build's.
    const everyBuild = (await state(sandbox)).builds!;
    for (const name of names) {
      expect(everyBuild.filter((b) => JSON.stringify(b).includes(name))).toHaveLength(1);
    }
    // The runner read its credentials once at boot and deleted them.
    await Promise.all(
      jobIds.map((jobId) =>
        waitFor(`job ${jobId} completed`, async () => (await jobOf(sandbox, jobId))?.status === 'completed'),
      ),
    );
    expect(sandbox.twin.ssm.names().filter((n) => names.includes(n))).toEqual([]);
    // The stage's runners prefix holds nothing a later job could find by listing either.
    expect(sandbox.twin.ssm.names().filter((n) => n.startsWith('/ghes-cp/runners/builds/'))).toEqual([]);
  });
});

describe('a StartBuild whose answer is lost', () => {
  it('finds the build it started and keeps its credentials, so the job runs there once', async () => {
    // Every answer of the SDK's 5 tries is lost, after CodeBuild started the build on the first.
    await armFault(sandbox, {
      target: 'codebuild:StartBuild',
      error: 'InternalFailure',
      count: 5,
      afterEffect: true,
    });
    const jobId = newJobId();
    await sendJob(sandbox, {
      jobId,
      labels: ['self-hosted', 'linux', 'deploy'],
      workflowName: 'action-app-dev-deploy',
    });
    const job = await waitFor(`job ${jobId} completed`, async () => {
      const found = await jobOf(sandbox, jobId);
      return found?.status === 'completed' ? found : undefined;
    });
    const builds = await buildsFor(jobId);
    expect(builds).toHaveLength(1);
    expect(job).toMatchObject({ pool: 'dev-deploy', resourceId: builds[0]!.id, conclusion: 'success' });
    // The build read its credentials (they were not deleted under it) and its runner took the job.
    expect(builds[0]).toMatchObject({ status: 'SUCCEEDED' });
    expect(sandbox.twin.github.runners().filter((r) => r.jobId === jobId)).toHaveLength(1);
  });
});
