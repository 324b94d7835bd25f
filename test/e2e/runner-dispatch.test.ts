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
  completedJob,
  settledJob,
} from '../support/sandbox-driver.ts';

/**
 * The runner loop end to end, through the sandbox's routes only: a signed queued webhook → intake →
 * bus → queue → dispatcher → CodeBuild / EC2 on the twin → a simulated runner takes the job and
 * reports in_progress and completed through signed webhooks.
 */
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startTestSandbox((config) => {
    // 1 min → 0.6 s here: an idle runner gives up quickly enough to watch.
    config.pools.find((p) => p.name === 'linux')!.idleMinutes = 1;
  });
});
afterAll(async () => sandbox?.close());
afterEach(async () => clearFaults(sandbox));

const completed = (jobId: number) => completedJob(sandbox, jobId);
const settled = (jobId: number) => settledJob(sandbox, jobId);
const buildsFor = (jobId: number) => buildsOf(sandbox, jobId);
const startCalls = () => sandbox.twin.endpoint.count('ec2:StartInstances');

describe('runner dispatch', () => {
  it('runs a deployment on the CodeBuild pool its workflow name selects, and frees the slot after', async () => {
    const jobId = newJobId();
    expect(
      (
        await sendJob(sandbox, {
          jobId,
          labels: ['self-hosted', 'linux', 'deploy'],
          workflowName: 'action-app-stg-deploy',
        })
      ).status,
    ).toBe(202);
    const job = await completed(jobId);
    expect(job).toMatchObject({ pool: 'stg-deploy', provider: 'codebuild', conclusion: 'success' });
    const builds = await buildsFor(jobId);
    expect(builds).toHaveLength(1);
    expect(builds[0]).toMatchObject({ id: job.resourceId, project: 'ghes-runners-stg' });
    await waitFor(
      'the stg slot to be free',
      async () =>
        (await state(sandbox)).pools!.find((p) => p.name === 'stg-deploy')!.inUse === 0 || undefined,
    );
    // The JIT config was read once by the build and deleted; nothing is left in Parameter Store.
    expect(sandbox.twin.ssm.names().filter((n) => n.includes(String(jobId)))).toEqual([]);
  });

  it("registers production-deploy runners in the pool's runner group", async () => {
    const jobId = newJobId();
    await sendJob(sandbox, {
      jobId,
      labels: ['self-hosted', 'linux', 'deploy'],
      workflowName: 'action-app-prd-deploy',
      branch: 'release/2026.11',
    });
    const job = await completed(jobId);
    expect(job).toMatchObject({ pool: 'prd-deploy', provider: 'codebuild', conclusion: 'success' });
    const runner = sandbox.twin.github.runners().find((r) => r.jobId === jobId);
    expect(runner).toMatchObject({ groupId: 2, resourceId: job.resourceId });
  });

  it('wakes a stopped instance of the ec2-wake pool, which runs the job and stops again', async () => {
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux'] });
    const job = await completed(jobId);
    expect(job).toMatchObject({ pool: 'linux', provider: 'ec2-wake' });
    expect(job.resourceId).toMatch(/^i-0[0-9a-f]{16}$/);
    // The machine powers itself off when its runner exits; the lease is freed when the dispatcher
    // handles the `completed` event off the queue. Either may come first, and both must come.
    const instance = await waitFor('the instance to stop and be free again after its job', async () => {
      const found = (await state(sandbox)).instances!.find((i) => i.instanceId === job.resourceId);
      return found?.state === 'stopped' && found.jobId === null ? found : undefined;
    });
    expect(instance).toMatchObject({ state: 'stopped', jobId: null });
  });

  it("wakes an instance in another account through the pool's role, never with the dispatcher's own keys", async () => {
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'arm64'] });
    const job = await completed(jobId);
    expect(job).toMatchObject({ pool: 'linux-arm64', provider: 'ec2-wake', conclusion: 'success' });
    const instance = (await state(sandbox)).instances!.find((i) => i.instanceId === job.resourceId);
    expect(instance).toMatchObject({ account: '444455556666', instanceType: 'm7g.large' });
    const sessions = sandbox.twin.sts.sessions.filter((s) => s.account === '444455556666');
    expect(sessions.length).toBeGreaterThan(0);
    const keys = new Set(sessions.map((s) => s.accessKeyId));
    const starts = sandbox.twin.endpoint.calls.filter((c) => c.target === 'ec2:StartInstances' && !c.error);
    // The call that woke it was signed with the assumed role's session key.
    expect(starts.filter((c) => keys.has(c.caller))).toHaveLength(1);
  });

  it("stops a woken instance whose job another runner took, after the pool's idleMinutes", async () => {
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux'] });
    const dispatched = await settled(jobId);
    // A runner that was already online picks the job up before ours has booted.
    await sendJob(sandbox, {
      jobId,
      labels: ['self-hosted', 'linux'],
      action: 'in_progress',
      runnerName: 'early-bird',
    });
    const ours = await waitFor('our runner to give up', async () =>
      sandbox.twin.github
        .runners()
        // Ours by name: the instance has run other jobs' runners before.
        .find((r) => r.name.startsWith(`ghes-cp-${jobId}-`) && r.state === 'deregistered'),
    );
    expect(ours.jobId).toBeNull();
    await waitFor('the instance to stop', async () => {
      const instance = (await state(sandbox)).instances!.find((i) => i.instanceId === dispatched.resourceId);
      return instance?.state === 'stopped' || undefined;
    });
    expect(await jobOf(sandbox, jobId)).toMatchObject({ status: 'in_progress', runnerName: 'early-bird' });
    // When the job ends, its slot in the pool comes back although our runner never ran it.
    const before = (await state(sandbox)).pools!.find((p) => p.name === 'linux')!.inUse;
    await sendJob(sandbox, {
      jobId,
      labels: ['self-hosted', 'linux'],
      action: 'completed',
      runnerName: 'early-bird',
    });
    await waitFor(
      'the slot to come back',
      async () =>
        (await state(sandbox)).pools!.find((p) => p.name === 'linux')!.inUse === before - 1 || undefined,
    );
  });

  it('tries the next candidate when the first instance has no capacity', async () => {
    await armFault(sandbox, {
      target: 'ec2:StartInstances',
      error: 'InsufficientInstanceCapacity',
      count: 1,
    });
    const before = startCalls();
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux'] });
    const job = await settled(jobId);
    expect(job).toMatchObject({ pool: 'linux', provider: 'ec2-wake' });
    expect(startCalls() - before).toBe(2);
    // The ledger shows the candidate passed over and why.
    expect(job.launchPath).toEqual([
      expect.stringMatching(
        /^linux: i-0[0-9a-f]{16} \(eu-west-1[ab]\/m[67]i\.large\): InsufficientInstanceCapacity$/,
      ),
    ]);
    expect(job.launchPath[0]).not.toContain(job.resourceId);
    await completed(jobId);
  });

  it('falls back to the CodeBuild pool when no instance can start', async () => {
    await armFault(sandbox, {
      target: 'ec2:StartInstances',
      error: 'InsufficientInstanceCapacity',
      probability: 1,
    });
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux'] });
    const job = await settled(jobId);
    expect(job).toMatchObject({ pool: 'linux-codebuild', provider: 'codebuild' });
    expect(await buildsFor(jobId)).toHaveLength(1);
    // Why not the pool the job was meant for: every instance tried, on the job's own record.
    expect(job.launchPath).toEqual([
      expect.stringMatching(
        /^linux: no stopped instance could start: i-0[0-9a-f]{16} .*InsufficientInstanceCapacity/,
      ),
    ]);
    await completed(jobId);
  });

  it('hands a slot a finished job gives back to the job waiting for it, with no reconciler running', async () => {
    // linux-arm64: 2 slots, 2 instances, no fallback; this sandbox runs no schedule.
    const jobIds = [newJobId(), newJobId(), newJobId()];
    for (const jobId of jobIds) await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'arm64'] });
    const left = await waitFor('a job left queued for want of a slot', async () => {
      const jobs = await Promise.all(jobIds.map((id) => jobOf(sandbox, id)));
      return jobs.find((j) => j?.status === 'queued' && j.reason);
    });
    expect(left.reason).toMatch(/^no capacity: linux-arm64: /);
    for (const jobId of jobIds) {
      expect(await completed(jobId), `job ${jobId}`).toMatchObject({ conclusion: 'success' });
      expect(
        sandbox.twin.github.runners().filter((r) => r.jobId === jobId),
        `job ${jobId}`,
      ).toHaveLength(1);
    }
    expect((await state(sandbox)).reconciler).toEqual([]);
  });

  it('leaves the job queued with the reason when a pool without fallback has no instance that can start', async () => {
    await armFault(sandbox, {
      target: 'ec2:StartInstances',
      error: 'InsufficientInstanceCapacity',
      count: 20,
    });
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'arm64'] });
    const job = await settled(jobId);
    expect(job).toMatchObject({ status: 'queued', resourceId: null, pool: null });
    expect(job.reason).toMatch(
      /^no capacity: linux-arm64: no stopped instance could start: i-\w+ \(eu-west-1a\/m7g\.large\): InsufficientInstanceCapacity/,
    );
    // Nothing held: both arm64 instances stay stopped and free, the slot is back.
    const s = await state(sandbox);
    expect(s.instances!.filter((i) => i.pool === 'linux-arm64').map((i) => [i.state, i.jobId])).toEqual([
      ['stopped', null],
      ['stopped', null],
    ]);
    expect(s.pools!.find((p) => p.name === 'linux-arm64')!.inUse).toBe(0);
    // And no offline runner registration is left on GHES for it.
    const registered = sandbox.twin.github.runners().filter((r) => r.name.startsWith(`ghes-cp-${jobId}-`));
    expect(registered.map((r) => r.state)).toEqual(['deregistered']);
  });

  it('launches once for queued → waiting → queued', async () => {
    const jobId = newJobId();
    const labels = ['self-hosted', 'linux', 'deploy'];
    const workflowName = 'action-app-dev-deploy';
    await sendJob(sandbox, { jobId, labels, workflowName });
    await sendJob(sandbox, { jobId, labels, workflowName, action: 'waiting' });
    await sendJob(sandbox, { jobId, labels, workflowName });
    await completed(jobId);
    await sandbox.twin.queues.get('DispatchQueue')!.drained();
    expect(await buildsFor(jobId)).toHaveLength(1);
  });

  it('launches again after an approval that outlasted the first runner, and only then', async () => {
    const jobId = newJobId();
    const labels = ['self-hosted', 'linux'];
    await sendJob(sandbox, { jobId, labels });
    const first = await settled(jobId);
    // An environment needs approval: GitHub holds the job in `waiting` while our runner boots.
    await sendJob(sandbox, { jobId, labels, action: 'waiting' });
    await waitFor('the first runner to give up waiting', async () =>
      sandbox.twin.github
        .runners()
        .some((r) => r.name.startsWith(`ghes-cp-${jobId}-`) && r.state === 'deregistered'),
    );
    await waitFor('its instance to stop', async () => {
      const instance = (await state(sandbox)).instances!.find((i) => i.instanceId === first.resourceId);
      return instance?.state === 'stopped' || undefined;
    });
    // Approved: GitHub queues the job again, and a new runner is started for it.
    await sendJob(sandbox, { jobId, labels });
    const job = await completed(jobId);
    expect(job).toMatchObject({ pool: 'linux', provider: 'ec2-wake', conclusion: 'success' });
    const ours = sandbox.twin.github.runners().filter((r) => r.name.startsWith(`ghes-cp-${jobId}-`));
    expect(ours.map((r) => r.jobId)).toEqual([null, jobId]);
  });

  it('launches nothing for a job GitHub already reports in progress', async () => {
    const jobId = newJobId();
    const builds = (await state(sandbox)).builds!.length;
    const starts = startCalls();
    // GitHub moved the job on, but that webhook never arrived: only the queued one does.
    const { jobPayload } = await import('../support/sandbox-driver.ts');
    sandbox.twin.github.observeWebhook(
      'workflow_job',
      jobPayload({ jobId, labels: ['self-hosted', 'linux'], action: 'in_progress' }),
    );
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux'] });
    const job = await settled(jobId);
    expect(job.reason).toMatch(/GitHub reports the job in_progress/);
    expect(job.resourceId).toBeNull();
    expect((await state(sandbox)).builds!.length).toBe(builds);
    expect(startCalls()).toBe(starts);
  });

  it('rides out EC2 throttling with backoff and launches once', async () => {
    await armFault(sandbox, { target: 'ec2:StartInstances', error: 'RequestLimitExceeded', count: 2 });
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux'] });
    const job = await completed(jobId);
    expect(job).toMatchObject({ pool: 'linux', provider: 'ec2-wake' });
  });

  it('records an unmatched job and launches nothing', async () => {
    const jobId = newJobId();
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'gpu'] });
    const job = await settled(jobId);
    expect(job).toMatchObject({ status: 'unmatched', resourceId: null });
    expect(job.reason).toMatch(/matched no pool/);
  });

  it('survives a crash after the launch when the runner is faster than the redelivery: one build, slot freed', async () => {
    // Ledger writes: 1 the intake's, 2 the dispatcher's lease, 3 its record of the launch. Fail the third
    // more times than the client retries, as if the dispatcher died right after StartBuild.
    await armFault(sandbox, {
      target: 'dynamodb:UpdateItem',
      error: 'InternalServerError',
      count: 3,
      after: 2,
    });
    const jobId = newJobId();
    await sendJob(sandbox, {
      jobId,
      labels: ['self-hosted', 'linux', 'deploy'],
      workflowName: 'action-app-dev-deploy',
    });
    const job = await completed(jobId);
    expect(job).toMatchObject({ conclusion: 'success', reason: null });
    // The redelivered message found the job taken and launched nothing more.
    await sandbox.twin.queues.get('DispatchQueue')!.drained();
    expect(await buildsFor(jobId)).toHaveLength(1);
    expect(sandbox.twin.github.runners().filter((r) => r.jobId === jobId)).toHaveLength(1);
    // The ledger never learnt the build, yet the pool's slot comes back when the job completes.
    await waitFor(
      'the dev slot to be free',
      async () =>
        (await state(sandbox)).pools!.find((p) => p.name === 'dev-deploy')!.inUse === 0 || undefined,
    );
  });
});

describe('runner dispatch, when the runner boots slower than SQS redelivers', () => {
  let slow: Sandbox;
  beforeAll(async () => {
    // CodeBuild takes 1,000 s (10 s here) to start; SQS redelivers after 4.5 s (the twin's 180 s
    // visibility, held above its 3 s Lambda timeout floor; test/twin/dispatch-timing.ts).
    slow = await startTestSandbox((config) => {
      config.sandbox.durations.buildStartMs = 1_000_000;
      // The deploy notifier's own UpdateItems would take the DynamoDB faults these tests aim at the dispatcher.
      config.notifications = [];
    });
  });
  afterAll(async () => slow?.close());

  it('survives a crash after StartBuild: the redelivery gets the same build back and records it', async () => {
    await armFault(slow, { target: 'dynamodb:UpdateItem', error: 'InternalServerError', count: 3, after: 2 });
    const jobId = newJobId();
    await sendJob(slow, {
      jobId,
      labels: ['self-hosted', 'linux', 'deploy'],
      workflowName: 'action-app-dev-deploy',
    });
    const dispatched = await waitFor(`job ${jobId} dispatched`, async () => {
      const job = await jobOf(slow, jobId);
      return job?.resourceId ? job : undefined;
    });
    expect(dispatched).toMatchObject({ status: 'dispatched', pool: 'dev-deploy', provider: 'codebuild' });
    // The redelivery found the build the first attempt started (its GHES_CP_JOB) and recorded it
    // instead of starting another with new credentials.
    expect(slow.twin.endpoint.count('codebuild:StartBuild')).toBe(1);
    expect(slow.twin.endpoint.count('codebuild:ListBuildsForProject')).toBe(1);
    const builds = (await state(slow)).builds!.filter((b) => b.jobId === jobId);
    expect(builds).toEqual([expect.objectContaining({ id: dispatched.resourceId })]);
    const job = await waitFor(
      `job ${jobId} completed`,
      async () => {
        const found = await jobOf(slow, jobId);
        return found?.status === 'completed' ? found : undefined;
      },
      30_000,
    );
    expect(job).toMatchObject({ conclusion: 'success', resourceId: dispatched.resourceId });
  });
});

describe('runner dispatch, a job that can never be dispatched', () => {
  let fast: Sandbox;
  beforeAll(async () => {
    // 0.002: SQS redelivers after 3.3 s (the visibility timeout, held above the twin's 3 s Lambda
    // timeout floor), so five receives take seconds, not minutes.
    fast = await startTestSandbox((config) => {
      config.sandbox.timeScale = 0.002;
    });
  });
  afterAll(async () => fast?.close());

  it(
    'fails only its own record, ends in the DLQ after 5 receives and raises an alert',
    { timeout: 60_000 },
    async () => {
      // Parameter Store refuses every write as invalid: this job can never launch, and nothing says an
      // operator must act, so SQS retries it until it lands in the DLQ.
      await armFault(fast, { target: 'ssm:PutParameter', error: 'ValidationException', probability: 1 });
      const poisoned = newJobId();
      await sendJob(fast, { jobId: poisoned, labels: ['self-hosted', 'linux'] });
      // A job in the same batches whose route needs no Parameter Store write is not held back by it.
      const unmatched = newJobId();
      await sendJob(fast, { jobId: unmatched, labels: ['self-hosted', 'gpu'] });
      const alert = await waitFor(
        'an alert from the dead-letter queue',
        async () => (await state(fast)).alerts!.find((a) => a.source === 'DispatchDeadLetterQueue'),
        40_000,
      );
      const queue = fast.twin.queues.get('DispatchQueue')!;
      expect(queue.deadLetters).toHaveLength(1);
      expect(queue.deadLetters[0]).toMatchObject({ messageId: alert.detail, receiveCount: 5 });
      expect(JSON.parse(queue.deadLetters[0]!.body).detail.jobId).toBe(poisoned);
      // Nothing launched, and the ledger says why; the job stays queued for the reconciler.
      expect(await jobOf(fast, poisoned)).toMatchObject({
        status: 'queued',
        resourceId: null,
        reason: 'dispatch failed: ValidationException',
      });
      expect((await state(fast)).instances!.every((i) => i.state === 'stopped')).toBe(true);
      expect(fast.twin.endpoint.count('ec2:StartInstances')).toBe(0);
      expect(await jobOf(fast, unmatched)).toMatchObject({ status: 'unmatched' });
    },
  );

  it('alerts at once and keeps the job queued when AWS refuses the launch for lack of permission', async () => {
    await fetch(`${fast.url}/sandbox/faults`, { method: 'DELETE' });
    await armFault(fast, { target: 'ec2:StartInstances', error: 'UnauthorizedOperation', probability: 1 });
    const before = fast.twin.queues.get('DispatchQueue')!.deadLetters.length;
    const jobId = newJobId();
    // The arm64 pool has no fallback: nothing else can take the job.
    await sendJob(fast, { jobId, labels: ['self-hosted', 'linux', 'arm64'] });
    const alert = await waitFor('an alert from the dispatcher', async () =>
      (await state(fast)).alerts!.find(
        (a) => a.source === 'ghes-control-plane.runner-dispatcher' && a.detail.includes(String(jobId)),
      ),
    );
    expect(alert.detail).toMatch(/^runner-launch-refused: .*linux-arm64: UnauthorizedOperation/);
    const job = await jobOf(fast, jobId);
    expect(job).toMatchObject({ status: 'queued', resourceId: null });
    expect(job.reason).toMatch(/^not launched: linux-arm64: UnauthorizedOperation/);
    // Acknowledged, not retried into the DLQ: one StartInstances per candidate, one receive.
    await fast.twin.queues.get('DispatchQueue')!.drained();
    expect(fast.twin.queues.get('DispatchQueue')!.deadLetters.length).toBe(before);
    expect(fast.twin.endpoint.calls.filter((c) => c.target === 'ec2:StartInstances' && c.error)).toHaveLength(
      1,
    );
  });
});
