import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { appJwt } from '../support/github-app-jwt.ts';
import {
  armFault,
  buildsOf,
  clearFaults,
  completedJob,
  jobOf,
  startTestSandbox,
  state,
  waitFor,
} from '../support/sandbox-driver.ts';

/**
 * The reconciler's GitHub-side recovery, through the sandbox's routes, with its schedule on (a run
 * every 60 s of simulated time: 0.6 s here) and the App's hook log as its delivery source
 * (`github.hookDeliveries: { source: app }`): webhooks GitHub failed to deliver are redelivered,
 * queued jobs the ledger never saw are found through the runs/jobs API, runner registrations no
 * launch uses are removed, and a rate limit ends a run's GitHub work without failing the run.
 */
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startTestSandbox((config) => {
    config.sandbox.schedules = true;
  });
});
afterAll(async () => sandbox?.close());
afterEach(async () => clearFaults(sandbox));

type HookDelivery = {
  id: number;
  guid: string;
  action: string;
  status: string;
  status_code: number;
  redelivery: boolean;
};
type ReconcilerRun = {
  at: string;
  redelivered: number;
  discovered: number[];
  orphansRemoved: number;
  rateLimited: string | null;
  githubErrors: number;
};

const queueJobs = async (body: Record<string, unknown>) => {
  const response = await fetch(`${sandbox.url}/sandbox/github/jobs`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { runId: number; jobIds: number[] };
};
/** One job of a workflow run the twin's GitHub starts and announces itself. */
const queueJob = async (body: Record<string, unknown>) => (await queueJobs({ ...body, count: 1 })).jobIds[0]!;

const deploy = (environment: string, repository = 'acme/app') => ({
  repository,
  labels: ['self-hosted', 'linux', 'deploy'],
  workflowName: `action-app-${environment}-deploy`,
});

const hookDeliveries = async () => (await state(sandbox)).hookDeliveries as HookDelivery[];
const reconcilerRuns = async () => (await state(sandbox)).reconciler as ReconcilerRun[];
const lambdaStats = async (name: string) =>
  ((await state(sandbox)).lambdas as unknown as Record<string, { errors: number; crashes: number }>)[name]!;

/** The job a logged delivery was about, from its request payload (the App's deliveries API). */
const jobIdOfDelivery = async (id: number) => {
  const { github } = sandbox.twin;
  const response = await fetch(`${github.apiUrl}/app/hook/deliveries/${id}`, {
    headers: { authorization: appJwt({ privateKeyPem: github.privateKeyPem, appId: github.appId }) },
  });
  const detail = (await response.json()) as { request: { payload: { workflow_job: { id: number } } } };
  return detail.request.payload.workflow_job.id;
};

/** The job's first delivery of `action` that failed on the way. */
const failedDelivery = (jobId: number, action: string) =>
  waitFor(`job ${jobId}'s failed ${action} delivery`, async () => {
    for (const d of await hookDeliveries()) {
      if (
        d.action === action &&
        !d.redelivery &&
        d.status_code === 0 &&
        (await jobIdOfDelivery(d.id)) === jobId
      )
        return d;
    }
    return undefined;
  });

const redeliveriesOf = async (guid: string) =>
  (await hookDeliveries()).filter((d) => d.guid === guid && d.redelivery);

/** Every runner GitHub knows for the job: registered for it, or took it. */
const registrationsOf = (jobId: number) =>
  sandbox.twin.github.runners().filter((r) => r.jobId === jobId || r.name.startsWith(`ghes-cp-${jobId}-`));

/** The job was launched once: one build, one runner that took it. */
const expectOneLaunch = async (jobId: number) => {
  expect(await buildsOf(sandbox, jobId)).toHaveLength(1);
  expect(sandbox.twin.github.runners().filter((r) => r.jobId === jobId)).toHaveLength(1);
};

/** Waits out `n` reconciler runs that start from now. */
const moreRuns = async (n: number) => {
  const since = new Date().toISOString();
  await waitFor(
    `${n} more reconciler runs`,
    async () => (await reconcilerRuns()).filter((r) => r.at > since).length >= n,
  );
};

describe('a failed queued delivery', () => {
  it('is redelivered once by the reconciler, and its job is launched and completed once', async () => {
    // Prepare
    await armFault(sandbox, { target: 'github:DeliverWebhook', action: 'queued', count: 1 });

    // Act
    const jobId = await queueJob(deploy('dev'));
    const failed = await failedDelivery(jobId, 'queued');
    const redelivery = await waitFor('the redelivery', async () => (await redeliveriesOf(failed.guid))[0]);
    const dispatched = await waitFor(`job ${jobId} dispatched`, async () => {
      const job = await jobOf(sandbox, jobId);
      return job?.resourceId ? job : undefined;
    });

    // Assess
    expect(redelivery).toMatchObject({ action: 'queued', status: 'OK', status_code: 202 });
    expect(await completedJob(sandbox, jobId)).toMatchObject({
      pool: 'dev-deploy',
      conclusion: 'success',
      resourceId: dispatched.resourceId,
    });
    await expectOneLaunch(jobId);
    expect((await reconcilerRuns()).some((r) => r.redelivered >= 1)).toBe(true);
    // Later runs read the log from their cursor: the failure is not redelivered again.
    await moreRuns(4);
    expect(await redeliveriesOf(failed.guid)).toHaveLength(1);
    expect(sandbox.deliveries.filter((d) => d.id === failed.guid)).toHaveLength(1);
    await expectOneLaunch(jobId);
  });
});

describe('a failed completed delivery', () => {
  it('is redelivered: the job is completed in the ledger and its slot freed', async () => {
    // Prepare
    await armFault(sandbox, { target: 'github:DeliverWebhook', action: 'completed', count: 1 });

    // Act
    const jobId = await queueJob(deploy('stg'));
    const failed = await failedDelivery(jobId, 'completed');

    // Assess
    // The intake writes the ledger before it answers, and GitHub logs the attempt once answered.
    const redelivery = await waitFor('the redelivery', async () => (await redeliveriesOf(failed.guid))[0]);
    expect(redelivery).toMatchObject({ action: 'completed', status: 'OK', status_code: 202 });
    expect(await jobOf(sandbox, jobId)).toMatchObject({
      status: 'completed',
      pool: 'stg-deploy',
      conclusion: 'success',
    });
    const pool = await waitFor('the stg-deploy slot freed', async () => {
      const found = (await state(sandbox)).pools!.find((p) => p.name === 'stg-deploy');
      return found?.inUse === 0 && found;
    });
    expect(pool.inUse).toBe(0);
  });
});

describe('a completed delivery lost twice (its delivery and the one redelivery)', () => {
  it('is found by re-checking the long-running job against GitHub: closed here, its slot freed', async () => {
    // Prepare
    await armFault(sandbox, { target: 'github:DeliverWebhook', action: 'completed', count: 2 });

    // Act
    const jobId = await queueJob(deploy('dev'));
    const failed = await failedDelivery(jobId, 'completed');
    await waitFor('the failed redelivery', async () => (await redeliveriesOf(failed.guid))[0]);

    // Assess: after RECONCILE_STALE_SECONDS (600 s simulated) in progress, GitHub is asked.
    const closed = await waitFor(
      `job ${jobId} closed as on GitHub`,
      async () => {
        const job = await jobOf(sandbox, jobId);
        return job?.status === 'completed' && job;
      },
      20_000,
    );
    expect(closed.reason).toMatch(/^GitHub reports the job completed/);
    await waitFor('the dev-deploy slot freed', async () =>
      (await state(sandbox)).pools!.some((p) => p.name === 'dev-deploy' && p.inUse === 0),
    );
    expect((await redeliveriesOf(failed.guid)).length).toBe(1);
  });
});

describe('a queued job whose delivery and redelivery both failed', () => {
  it('is found through the runs/jobs API of its recently active repository and launched once', async () => {
    // Prepare: the repository ran a job lately, so the reconciler looks at its runs.
    const repository = 'acme/discovered';
    await completedJob(sandbox, await queueJob(deploy('dev', repository)));
    await armFault(sandbox, { target: 'github:DeliverWebhook', action: 'queued', count: 2 });

    // Act
    const jobId = await queueJob(deploy('dev', repository));
    const failed = await failedDelivery(jobId, 'queued');

    // Assess
    const run = await waitFor('a reconciler run that discovered the job', async () =>
      (await reconcilerRuns()).find((r) => r.discovered.includes(jobId)),
    );
    expect(run.discovered).toContain(jobId);
    // The one redelivery failed too: the job reached the ledger through discovery alone.
    expect((await redeliveriesOf(failed.guid)).map((d) => d.status_code)).toEqual([0]);
    expect(await completedJob(sandbox, jobId)).toMatchObject({ pool: 'dev-deploy', conclusion: 'success' });
    await moreRuns(3);
    await expectOneLaunch(jobId);
  });
});

describe('a runner registration no launch uses', () => {
  it('is removed; the live runner is not, and the job completes', async () => {
    // Prepare: GitHub registers the JIT runner but its answer is lost (the dispatcher sees a 502),
    // so the dispatch fails without knowing the registration; SQS retries with a new one.
    await armFault(sandbox, {
      target: 'github:Api',
      route: 'POST {scope}/actions/runners/generate-jitconfig',
      error: 'ServerError',
      afterEffect: true,
      count: 1,
    });

    // Act
    const jobId = await queueJob(deploy('dev'));

    // Assess
    const job = await completedJob(sandbox, jobId);
    expect(job).toMatchObject({ pool: 'dev-deploy', conclusion: 'success' });
    const live = sandbox.twin.github.runners().find((r) => r.jobId === jobId)!;
    const orphan = await waitFor('the orphaned registration removed', async () => {
      const unused = registrationsOf(jobId).filter((r) => r.id !== live.id);
      return unused.length === 1 && unused[0]!.state === 'deregistered' && unused[0]!;
    });
    expect(orphan.resourceId).toBeNull(); // no machine ever used it
    expect((await reconcilerRuns()).some((r) => r.orphansRemoved >= 1)).toBe(true);
    // Only the orphan was deleted through the API; the live runner went away by itself after its job.
    const deletes = sandbox.twin.github.calls.filter(
      (c) => c.method === 'DELETE' && /\/actions\/runners\/\d+$/.test(c.path),
    );
    expect(deletes.some((c) => c.path.endsWith(`/runners/${orphan.id}`))).toBe(true);
    expect(deletes.some((c) => c.path.endsWith(`/runners/${live.id}`))).toBe(false);
    await expectOneLaunch(jobId);
  });
});

describe('a rate-limited delivery log', () => {
  it('ends the run’s GitHub work without failing it, makes no call before retry-after ends, then redelivers', async () => {
    // Prepare: one read of the log is refused with a secondary rate limit whose wait (4 s here, not
    // scaled: GitHub's seconds are real ones) is past the run's deadline and spans several runs.
    await armFault(sandbox, {
      target: 'github:Api',
      route: 'GET /app/hook/deliveries',
      error: 'SecondaryRateLimit',
      retryAfter: 4,
      count: 1,
    });
    await armFault(sandbox, { target: 'github:DeliverWebhook', action: 'queued', count: 1 });
    const errorsBefore = (await lambdaStats('runner-reconciler')).errors;
    const logReads = () =>
      sandbox.twin.github.calls.filter((c) => c.method === 'GET' && c.path.endsWith('/app/hook/deliveries'));

    // Act
    const jobId = await queueJob(deploy('dev'));
    const failed = await failedDelivery(jobId, 'queued');
    const refused = await waitFor('the rate-limited run', async () =>
      (await reconcilerRuns()).find((r) => r.rateLimited?.includes('403')),
    );
    const readsAfterRefusal = logReads().length;
    // The next run dies (as one killed by its timeout would): the runs after it are in a fresh
    // container, which must still know of the pause.
    const crashesBefore = (await lambdaStats('runner-reconciler')).crashes;
    await armFault(sandbox, { target: 'lambda:runner-reconciler', error: 'Crash', count: 1 });
    await waitFor(
      'the crashed run',
      async () => (await lambdaStats('runner-reconciler')).crashes > crashesBefore,
    );
    const since = new Date().toISOString();
    const waiting = await waitFor('two runs while the wait lasts', async () => {
      const runs = (await reconcilerRuns()).filter((r) => r.at > since);
      return runs.length >= 2 && runs;
    });

    // Assess: the refused run said why it stopped and failed nothing; the next ones did not ask again.
    expect(refused).toMatchObject({
      rateLimited: expect.stringMatching(
        /^GitHub answered 403 \(rate limit\) to GET \S*\/app\/hook\/deliveries/,
      ),
      redelivered: 0,
      githubErrors: 0,
    });
    for (const run of waiting)
      expect(run).toMatchObject({ rateLimited: expect.stringMatching(/asked for a pause/), redelivered: 0 });
    expect(logReads()).toHaveLength(readsAfterRefusal);
    expect(logReads().filter((c) => c.status === 403)).toHaveLength(1);
    expect((await lambdaStats('runner-reconciler')).errors).toBe(errorsBefore + 1); // the crash alone
    expect(await redeliveriesOf(failed.guid)).toHaveLength(0);

    // Assess: once the wait is over, a run reads the log and redelivers.
    const redelivery = await waitFor('the redelivery', async () => (await redeliveriesOf(failed.guid))[0]);
    expect(redelivery).toMatchObject({ status: 'OK', status_code: 202 });
    // The run's report lands once it has finished (after its ledger pass).
    await waitFor('the run that redelivered', async () =>
      (await reconcilerRuns()).some((r) => r.redelivered >= 1 && r.rateLimited === null),
    );
    expect(await completedJob(sandbox, jobId)).toMatchObject({ conclusion: 'success' });
    await expectOneLaunch(jobId);
  });
});

describe('a failed delivery and a dispatcher crash together', () => {
  it.each([
    ['before its work', {}],
    ['after it launched', { afterEffect: true }],
  ])('still launch the job once when the dispatcher crashes %s', async (_when, crash) => {
    // Prepare
    await armFault(sandbox, { target: 'github:DeliverWebhook', action: 'queued', count: 1 });
    await armFault(sandbox, { target: 'lambda:runner-dispatcher', error: 'Crash', count: 1, ...crash });
    const crashesBefore = (await lambdaStats('runner-dispatcher')).crashes;

    // Act
    const jobId = await queueJob(deploy('dev'));
    const failed = await failedDelivery(jobId, 'queued');

    // Assess
    expect(await completedJob(sandbox, jobId)).toMatchObject({ pool: 'dev-deploy', conclusion: 'success' });
    expect(await redeliveriesOf(failed.guid)).toHaveLength(1);
    expect((await lambdaStats('runner-dispatcher')).crashes).toBe(crashesBefore + 1);
    await moreRuns(3);
    await expectOneLaunch(jobId);
  });
});
