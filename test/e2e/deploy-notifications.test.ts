import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { postDelivery, signedDelivery, workflowJobPayload } from '../support/github-deliveries.ts';
import { completedJob, newJobId, startTestSandbox, state, waitFor } from '../support/sandbox-driver.ts';

/**
 * Deploy notifications through the sandbox's routes only: signed workflow_job webhooks in, the
 * Slack calls the twin recorded out (`GET /sandbox/state` → `slack[]`). The sandbox config sends
 * runs of `*-deploy` workflows to #deploys and mentions <!subteam^S0DEPLOYS> on a failure.
 */
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startTestSandbox();
}, 30_000);
afterAll(async () => sandbox?.close());

interface SlackCall {
  method: string;
  channel: string | null;
  ts: string | null;
  text: string | null;
  blocks: { text?: { text: string }; elements?: { text: string }[] }[] | null;
  error: string | null;
}

const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

/** A job of run `runId`, as GHES sends it. */
const runJob = (
  runId: number,
  jobId: number,
  fields: {
    name: string;
    workflow: string;
    labels: string[];
    action?: 'queued' | 'in_progress' | 'completed';
  } & Record<string, unknown>,
) => {
  const { name, workflow, labels, action = 'queued', ...rest } = fields;
  return workflowJobPayload(
    action,
    {
      id: jobId,
      run_id: runId,
      run_attempt: 1,
      name,
      workflow_name: workflow,
      labels,
      head_branch: 'main',
      head_sha: SHA,
      runner_name: null,
      status: action,
      created_at: new Date().toISOString(),
      ...rest,
    },
    {
      repository: { id: 1, name: 'app', full_name: 'acme/app', owner: { login: 'acme' } },
      sender: { login: 'octo-deployer' },
    },
  );
};

const send = async (payload: unknown) => {
  const answer = await postDelivery(
    sandbox.url,
    await signedDelivery(payload, { secret: sandbox.config.sandbox.secrets.webhook }),
  );
  expect(answer.status).toBe(202);
};

const slackCalls = async () => (await state(sandbox)).slack as SlackCall[];
/** The calls about one run: its id is in the message's run link. */
const callsFor = async (runId: number) =>
  (await slackCalls()).filter((call) => JSON.stringify(call.blocks ?? '').includes(`/actions/runs/${runId}`));
const blockText = (call: SlackCall) =>
  (call.blocks ?? []).map((b) => b.text?.text ?? b.elements?.map((e) => e.text).join(' ') ?? '').join('\n');

describe('deploy notifications in Slack', () => {
  it('posts one message when a deploy run queues and edits it to the run’s conclusion with each job’s duration', async () => {
    // Prepare: two jobs of one dev-deploy run; the pool's simulated runners take and finish them.
    const runId = newJobId() * 10;
    const [build, deploy] = [newJobId(), newJobId()];
    const labels = ['self-hosted', 'linux', 'deploy'];

    // Act
    await send(runJob(runId, build, { name: 'build', workflow: 'action-app-dev-deploy', labels }));
    await send(
      runJob(runId, deploy, { name: 'deploy (eu-west-1)', workflow: 'action-app-dev-deploy', labels }),
    );
    await completedJob(sandbox, build);
    await completedJob(sandbox, deploy);
    const calls = await waitFor('the message to show the run succeeded', async () => {
      const calls = await callsFor(runId);
      const last = calls.at(-1);
      return last && last.method === 'chat.update' && last.text?.includes('succeeded') ? calls : undefined;
    });

    // Assess
    const posts = calls.filter((call) => call.method === 'chat.postMessage');
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({ channel: 'C0DEPLOYS', error: null });
    const updates = calls.filter((call) => call.method === 'chat.update');
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(updates.every((call) => call.ts === posts[0]!.ts && call.channel === 'C0DEPLOYS')).toBe(true);
    const final = blockText(updates.at(-1)!);
    expect(final).toContain('action-app-dev-deploy');
    expect(final).toContain('acme/app @ main');
    expect(final).toContain(`/acme/app/commit/${SHA}|a1b2c3d>`);
    expect(final).toContain('triggered by octo-deployer');
    expect(final).toMatch(/:white_check_mark: build — success in \d+s/);
    expect(final).toMatch(/:white_check_mark: deploy \(eu-west-1\) — success in \d+s/);
    expect(final).not.toContain('S0DEPLOYS');
  }, 30_000);

  it('sends nothing to Slack for a workflow no rule selects', async () => {
    // Prepare: an everyday CI job on the linux pool.
    const runId = newJobId() * 10;
    const job = newJobId();

    // Act
    await send(runJob(runId, job, { name: 'test', workflow: 'CI', labels: ['self-hosted', 'linux', 'x64'] }));
    await completedJob(sandbox, job);
    // Every event of the job has left the notifier's queue.
    await waitFor('the notifier queue to drain', async () =>
      (await state(sandbox)).queues!.find((q) => q.name === 'DeployNotifierQueue')?.depth === 0
        ? true
        : undefined,
    );

    // Assess
    expect(await callsFor(runId)).toEqual([]);
  }, 30_000);

  it('mentions the on-call group once a deploy job fails', async () => {
    // Prepare: a job no pool runs, so GHES's events are ours to send: queued, started, failed.
    const runId = newJobId() * 10;
    const job = newJobId();
    const fields = {
      name: 'deploy',
      workflow: 'action-app-prd-deploy',
      labels: ['self-hosted', 'no-such-pool'],
    };

    // Act
    await send(runJob(runId, job, fields));
    await send(runJob(runId, job, { ...fields, action: 'in_progress', started_at: '2026-11-30T10:00:00Z' }));
    await send(
      runJob(runId, job, {
        ...fields,
        action: 'completed',
        conclusion: 'failure',
        started_at: '2026-11-30T10:00:00Z',
        completed_at: '2026-11-30T10:01:05Z',
      }),
    );
    const calls = await waitFor('the message to show the failure', async () => {
      const calls = await callsFor(runId);
      return calls.at(-1)?.text?.includes('failed') ? calls : undefined;
    });

    // Assess
    expect(calls.filter((call) => call.method === 'chat.postMessage')).toHaveLength(1);
    const last = calls.at(-1)!;
    expect(last.text?.startsWith('<!subteam^S0DEPLOYS> ')).toBe(true);
    expect(blockText(last)).toContain(':x: deploy — failure in 1m 05s');
  }, 30_000);
});
