import { sign } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { workflowJobPayload } from '../../support/github-deliveries.ts';
import { createTwinClock } from '../../twin/clock.ts';
import { startGithubTwin, type GithubTwin } from '../../twin/github-api.ts';

/** The GHES twin learns jobs from signed deliveries: whatever they hold, it keeps only what it uses. */
const APP_ID = 4242;

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

const start = async () => {
  const clock = createTwinClock(0.001);
  const twin = await startGithubTwin({
    clock,
    appId: APP_ID,
    webhookSecret: 'secret',
    deliverWebhook: async () => 202,
  });
  cleanups.push(
    () => clock.close(),
    () => twin.close(),
  );
  return twin;
};

/** GET a job through the REST API, with an installation token as the dispatcher has one. */
const restJob = async (twin: GithubTwin, installationId: number, path: string) => {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iat: now - 30, exp: now + 540, iss: APP_ID })}`;
  const jwt = `Bearer ${unsigned}.${sign('sha256', Buffer.from(unsigned), twin.privateKeyPem).toString('base64url')}`;
  const token = await fetch(`${twin.apiUrl}/app/installations/${installationId}/access_tokens`, {
    method: 'POST',
    headers: { authorization: jwt },
  }).then(async (r) => ((await r.json()) as { token: string }).token);
  const response = await fetch(`${twin.apiUrl}${path}`, { headers: { authorization: `token ${token}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

const deeplyNested = (depth: number) => {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

describe('GHES twin: observeWebhook', () => {
  it('keeps a job whose unread fields nest 200,000 deep, and answers its REST job without them', async () => {
    // Prepare
    const twin = await start();
    const payload = workflowJobPayload('queued', { id: 501, run_id: 5010, steps: deeplyNested(200_000) });
    const installationId = (payload.installation as { id: number }).id;

    // Act
    twin.observeWebhook('workflow_job', { ...payload, sender: deeplyNested(200_000) });

    // Assess
    expect(twin.jobs()).toEqual([expect.objectContaining({ id: 501, runId: 5010, status: 'queued' })]);
    const repository = (payload.repository as { full_name: string }).full_name;
    const { status, body } = await restJob(twin, installationId, `/repos/${repository}/actions/jobs/501`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      id: 501,
      run_id: 5010,
      status: 'queued',
      labels: payload.workflow_job.labels,
    });
    expect(body).not.toHaveProperty('steps');
  });

  it('never throws on odd input and learns no job from it', async () => {
    const twin = await start();
    const odd: unknown[] = [
      null,
      'text',
      [],
      { action: 'queued', repository: 'acme/app', workflow_job: { id: 1 } },
      workflowJobPayload('queued', {}, { action: 'toString' }),
      workflowJobPayload('queued', { id: deeplyNested(200_000) }),
      workflowJobPayload('queued', { id: -1.5 }),
      workflowJobPayload('queued', {}, { repository: deeplyNested(200_000) }),
    ];
    for (const payload of odd) expect(() => twin.observeWebhook('workflow_job', payload)).not.toThrow();
    expect(twin.jobs()).toEqual([]);
  });

  it('keeps only the string labels of a job whose labels hold anything else', async () => {
    const twin = await start();
    const labels = ['self-hosted', deeplyNested(200_000), { name: 'linux' }, 'linux'];
    expect(() =>
      twin.observeWebhook('workflow_job', workflowJobPayload('queued', { id: 502, labels })),
    ).not.toThrow();
    expect(twin.jobs()).toEqual([expect.objectContaining({ id: 502, labels: ['self-hosted', 'linux'] })]);
  });
});
