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
 * GitHub's own side of the webhooks, through the sandbox's routes: jobs that the twin's GitHub
 * queues and announces itself (`POST /sandbox/github/jobs`), its hook delivery log in the state,
 * deliveries that fail on the way (`github:DeliverWebhook`), a manual redelivery through the
 * deliveries API, and Lambda crashes (`lambda:<name>`).
 */
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startTestSandbox();
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

const queueJobs = async (body: Record<string, unknown>) => {
  const response = await fetch(`${sandbox.url}/sandbox/github/jobs`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as { runId: number; jobIds: number[]; error?: string },
  };
};
const LINUX = { repository: 'acme/app', labels: ['self-hosted', 'linux', 'x64'], workflowName: 'CI' };
const DEPLOY = {
  repository: 'acme/app',
  labels: ['self-hosted', 'linux', 'deploy'],
  workflowName: 'action-app-dev-deploy',
};

/** The twin's GitHub REST API, as the App (the sandbox holds the App's key). */
const asApp = async (method: string, path: string) => {
  const { github } = sandbox.twin;
  const response = await fetch(`${github.apiUrl}${path}`, {
    method,
    headers: { authorization: appJwt({ privateKeyPem: github.privateKeyPem, appId: github.appId }) },
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
};
const hookDeliveries = async () => (await state(sandbox)).hookDeliveries as HookDelivery[];
/** The job each logged delivery was about, from the delivery's own request payload. */
const jobIdOfDelivery = async (id: number) =>
  (await asApp('GET', `/app/hook/deliveries/${id}`)).body.request.payload.workflow_job.id as number;

describe('jobs queued by the twin’s GitHub', () => {
  it('dispatches and completes three jobs, each with its queued, in_progress and completed deliveries logged OK', async () => {
    // Act
    const { status, body } = await queueJobs({ ...LINUX, count: 3 });

    // Assess
    expect(status).toBe(201);
    expect(body.jobIds).toHaveLength(3);
    for (const jobId of body.jobIds)
      expect(await completedJob(sandbox, jobId)).toMatchObject({ runId: body.runId, conclusion: 'success' });
    const logged = await waitFor('nine deliveries logged', async () => {
      const all = await hookDeliveries();
      const ours = [];
      for (const d of all) if (body.jobIds.includes(await jobIdOfDelivery(d.id))) ours.push(d);
      return ours.length >= 9 && ours;
    });
    for (const jobId of body.jobIds) {
      const ofJob = [];
      for (const d of logged) if ((await jobIdOfDelivery(d.id)) === jobId) ofJob.push(d);
      expect(ofJob.map((d) => [d.action, d.status, d.status_code]).sort()).toEqual([
        ['completed', 'OK', 202],
        ['in_progress', 'OK', 202],
        ['queued', 'OK', 202],
      ]);
    }
    // Every logged delivery reached the intake under its guid.
    const received = new Set(sandbox.deliveries.map((d) => d.id));
    expect(logged.every((d) => received.has(d.guid))).toBe(true);
  });

  it('refuses a bad body naming the field, and queues nothing', async () => {
    const before = (await hookDeliveries()).length;
    expect(await queueJobs({ ...LINUX, repository: 'app', count: 1 })).toMatchObject({
      status: 400,
      body: { error: 'repository: expected "owner/name"' },
    });
    expect(await queueJobs({ ...LINUX, count: 1001 })).toMatchObject({
      status: 400,
      body: { error: 'count: expected a whole number from 1 to 1000' },
    });
    expect((await hookDeliveries()).length).toBe(before);
  });
});

describe('a lost queued delivery', () => {
  it('is logged as failed and never reaches the intake; a manual redelivery gets the job dispatched', async () => {
    // Prepare
    await armFault(sandbox, { target: 'github:DeliverWebhook', action: 'queued', count: 1 });

    // Act
    const { body } = await queueJobs({ ...DEPLOY, count: 1 });
    const [jobId] = body.jobIds as [number];
    const failed = await waitFor('the failed delivery', async () =>
      (await hookDeliveries()).find((d) => d.status_code === 0 && d.action === 'queued'),
    );

    // Assess: GitHub has the job, the control plane never heard of it.
    expect(failed.status).toBe('failed to connect to host');
    expect(await jobIdOfDelivery(failed.id)).toBe(jobId);
    expect(sandbox.deliveries.some((d) => d.id === failed.guid)).toBe(false);
    expect(await jobOf(sandbox, jobId)).toBeUndefined();
    expect(sandbox.twin.github.jobs().find((j) => j.id === jobId)).toMatchObject({ status: 'queued' });

    // Act: what the reconciler will do, by hand.
    expect(await asApp('POST', `/app/hook/deliveries/${failed.id}/attempts`)).toMatchObject({ status: 202 });

    // Assess
    expect(await completedJob(sandbox, jobId)).toMatchObject({ conclusion: 'success', pool: 'dev-deploy' });
    const redelivery = (await hookDeliveries()).find((d) => d.guid === failed.guid && d.redelivery);
    expect(redelivery).toMatchObject({ status: 'OK', status_code: 202 });
    expect(sandbox.deliveries.filter((d) => d.id === failed.guid)).toHaveLength(1);
    expect(await buildsOf(sandbox, jobId)).toHaveLength(1);
  });

  it('refuses a DeliverWebhook fault for an action GitHub does not send, naming it', async () => {
    const response = await fetch(`${sandbox.url}/sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify({ target: 'github:DeliverWebhook', action: 'started', count: 1 }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/^action: expected one of "queued"/);
  });
});

describe('Lambda crashes', () => {
  it('makes API Gateway answer 500 to a crashed intake: GitHub logs the delivery as failed', async () => {
    await armFault(sandbox, { target: 'lambda:github-webhook', error: 'Crash', count: 1 });
    const { body } = await queueJobs({ ...DEPLOY, count: 1 });
    const failed = await waitFor('the failed delivery', async () =>
      (await hookDeliveries()).find((d) => d.status_code === 500),
    );
    expect(failed.status).toBe('Invalid HTTP Response: 500');
    expect(await jobIdOfDelivery(failed.id)).toBe(body.jobIds[0]);
    expect(await jobOf(sandbox, body.jobIds[0]!)).toBeUndefined();
  });

  it.each([
    ['before its work', {}],
    ['after it launched', { afterEffect: true }],
  ])('launches a job once when the dispatcher crashes %s: SQS redelivers it', async (_when, crash) => {
    // Prepare
    await armFault(sandbox, { target: 'lambda:runner-dispatcher', error: 'Crash', count: 1, ...crash });
    const receiptsBefore = sandbox.twin.queues.get('DispatchQueue')!.receipts.length;

    // Act
    const { body } = await queueJobs({ ...DEPLOY, count: 1 });
    const [jobId] = body.jobIds as [number];

    // Assess
    expect(await completedJob(sandbox, jobId)).toMatchObject({ conclusion: 'success' });
    const queue = sandbox.twin.queues.get('DispatchQueue')!;
    await queue.drained();
    // The crashed receive returned its message (the job's queued event); the next one took it.
    const receipts = queue.receipts.slice(receiptsBefore);
    const crashed = receipts.filter((r) => r.outcome === 'returned');
    expect(crashed).toHaveLength(1);
    const ofMessage = receipts.filter((r) => r.messageId === crashed[0]!.messageId);
    expect(ofMessage.map((r) => r.outcome)).toEqual(['returned', 'deleted']);
    expect(JSON.stringify(queue.deadLetters)).not.toContain(String(jobId));
    expect(await buildsOf(sandbox, jobId)).toHaveLength(1);
    expect(sandbox.twin.github.runners().filter((r) => r.jobId === jobId)).toHaveLength(1);
  });
});
