import { describe, expect, it } from 'vitest';
import { sign } from '@octokit/webhooks-methods';
import { createWebhookIntake, MAX_BODY_BYTES } from '../../../shared/intake/receive-webhook.ts';
import type { DeliveryClaim } from '../../../shared/intake/delivery-claims.ts';
import type { DeliveryRecorder } from '../../../shared/intake/delivery-recorder.ts';
import type { WorkflowJobDetail } from '../../../shared/events/control-plane-events.ts';
import { workflowJobPayload } from '../../support/github-deliveries.ts';

const SECRET = 'unit-secret';

/** In-memory fakes that record every side effect, so a test can assert that none happened. */
const fakes = (options: { failPublish?: boolean; ledgerChanged?: boolean } = {}) => {
  const effects: string[] = [];
  const claimed = new Set<string>();
  const recorder: DeliveryRecorder = {
    async record(event, by) {
      effects.push(`record ${by.deliveryId} ${event.jobId} ${event.action}`);
      if (claimed.has(by.deliveryId) || claimed.has(by.bodyHash)) return { outcome: 'duplicate' };
      claimed.add(by.deliveryId).add(by.bodyHash);
      const claim = { deliveryId: by.deliveryId, bodyHash: by.bodyHash, owner: 'me' };
      return { outcome: 'recorded', changed: options.ledgerChanged ?? true, claim };
    },
    async release(claim: DeliveryClaim) {
      effects.push(`release ${claim.deliveryId}`);
      claimed.delete(claim.deliveryId);
      claimed.delete(claim.bodyHash);
    },
  };
  const published: WorkflowJobDetail[] = [];
  const intake = createWebhookIntake({
    secrets: { current: async () => [SECRET] },
    recorder,
    publisher: {
      async publishWorkflowJob(detail) {
        effects.push(`publish ${detail.jobId}`);
        if (options.failPublish) throw new Error('PutEvents down');
        published.push(detail);
      },
    },
    logger: { info() {}, warn() {}, error() {}, appendKeys() {} },
  });
  return { intake, effects, published };
};

const request = async (payload: unknown, headers: Record<string, string | undefined> = {}, body?: string) => {
  const text = body ?? JSON.stringify(payload);
  return signedRequest(text, headers);
};

/** A request signed over `text`, the exact body bytes, as GitHub signs them. */
const signedRequest = async (text: string, headers: Record<string, string | undefined> = {}) => {
  return {
    headers: {
      'x-github-event': 'workflow_job',
      'x-github-delivery': 'delivery-1',
      'x-hub-signature-256': await sign(SECRET, text),
      ...headers,
    },
    body: Buffer.from(text),
  };
};

describe('webhook intake', () => {
  it('records and publishes a queued job, answering 202', async () => {
    const { intake, effects, published } = fakes();
    const response = await intake.receive(await request(workflowJobPayload('queued', { id: 7 })));
    expect(response).toMatchObject({ status: 202, body: { outcome: 'accepted', jobId: 7 } });
    expect(effects).toEqual(['record delivery-1 7 queued', 'publish 7']);
    expect(published[0]).toMatchObject({ jobId: 7, action: 'queued', deliveryId: 'delivery-1' });
  });

  it('answers 401 and touches nothing when the body was signed with another secret', async () => {
    const { intake, effects } = fakes();
    const payload = workflowJobPayload('queued');
    const response = await intake.receive(
      await request(payload, { 'x-hub-signature-256': await sign('other', JSON.stringify(payload)) }),
    );
    expect(response.status).toBe(401);
    expect(effects).toEqual([]);
  });

  it('checks the signature before the other headers', async () => {
    const { intake } = fakes();
    const response = await intake.receive(
      await request(
        {},
        { 'x-github-delivery': undefined, 'x-hub-signature-256': 'sha256=' + '0'.repeat(64) },
      ),
    );
    expect(response.status).toBe(401);
  });

  it.each([
    ['x-github-delivery', /X-GitHub-Delivery/],
    ['x-github-event', /X-GitHub-Event/],
  ])('answers 400 naming %s when it is absent', async (header, message) => {
    const { intake, effects } = fakes();
    const response = await intake.receive(
      await request(workflowJobPayload('queued'), { [header]: undefined }),
    );
    expect(response.status).toBe(400);
    expect(String(response.body.error)).toMatch(message);
    expect(effects).toEqual([]);
  });

  it('answers 400 on a signed body that is not JSON', async () => {
    const { intake, effects } = fakes();
    const response = await intake.receive(await request(undefined, {}, '{"action": "queued",'));
    expect(response).toMatchObject({ status: 400, body: { error: 'body is not valid JSON' } });
    expect(effects).toEqual([]);
  });

  it('answers 400 naming the field when a workflow_job payload lacks one', async () => {
    const { intake, effects } = fakes();
    const payload = workflowJobPayload('queued', { labels: 'self-hosted' });
    const response = await intake.receive(await request(payload));
    expect(response).toMatchObject({
      status: 400,
      body: { error: 'workflow_job payload: workflow_job.labels: expected an array' },
    });
    expect(effects).toEqual([]);
  });

  it('answers 413 for a body over 25 MB before computing anything', async () => {
    const { intake, effects } = fakes();
    const response = await intake.receive({ headers: {}, body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20) });
    expect(response.status).toBe(413);
    expect(effects).toEqual([]);
  });

  it('answers ping with 200 and ignores other events with 202, storing nothing', async () => {
    const { intake, effects } = fakes();
    expect(
      (await intake.receive(await request({ zen: 'Keep it simple.' }, { 'x-github-event': 'ping' }))).status,
    ).toBe(200);
    const push = await intake.receive(
      await request({ ref: 'refs/heads/main' }, { 'x-github-event': 'push' }),
    );
    expect(push).toMatchObject({ status: 202, body: { outcome: 'ignored' } });
    const other = await intake.receive(
      await request(workflowJobPayload('queued', {}, { action: 'requested' })),
    );
    expect(other).toMatchObject({ status: 202, body: { outcome: 'ignored' } });
    expect(effects).toEqual([]);
  });

  it('answers 200 duplicate for a redelivery and changes nothing', async () => {
    const { intake, effects } = fakes();
    const delivery = await request(workflowJobPayload('queued'));
    await intake.receive(delivery);
    effects.length = 0;
    expect(await intake.receive(delivery)).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
    expect(effects).toEqual(['record delivery-1 289782451 queued']);
  });

  it('does not publish when the ledger is already at or past the status', async () => {
    const { intake, effects } = fakes({ ledgerChanged: false });
    const response = await intake.receive(await request(workflowJobPayload('queued', { id: 9 })));
    expect(response).toMatchObject({ status: 202, body: { ledger: 'unchanged' } });
    expect(effects).not.toContain('publish 9');
  });

  it('releases the claim and answers 500 when publishing fails, so a redelivery is handled', async () => {
    const { intake, effects } = fakes({ failPublish: true });
    const response = await intake.receive(await request(workflowJobPayload('queued', { id: 3 })));
    expect(response).toEqual({ status: 500, body: { error: 'internal error' } });
    expect(effects).toEqual(['record delivery-1 3 queued', 'publish 3', 'release delivery-1']);
  });
  it.each([
    ['more than 64 labels', { labels: Array.from({ length: 65 }, (_, i) => `l${i}`) }, 'workflow_job.labels'],
    ['a label over 256 characters', { labels: ['self-hosted', 'x'.repeat(257)] }, 'workflow_job.labels[1]'],
    ['a job id of 0', { id: 0 }, 'workflow_job.id'],
    ['a negative run id', { run_id: -5 }, 'workflow_job.run_id'],
    ['a run attempt of 0', { run_attempt: 0 }, 'workflow_job.run_attempt'],
    [
      'a workflow name over 1,024 characters',
      { workflow_name: 'w'.repeat(1025) },
      'workflow_job.workflow_name',
    ],
    ['a head branch over 1,024 characters', { head_branch: 'b'.repeat(1025) }, 'workflow_job.head_branch'],
    ['a job name over 1,024 characters', { name: 'n'.repeat(1025) }, 'workflow_job.name'],
  ])('answers 400 naming the field and stores nothing for %s', async (_case, job, field) => {
    const { intake, effects } = fakes();
    const response = await intake.receive(await request(workflowJobPayload('queued', job)));
    expect(response.status).toBe(400);
    expect(String(response.body.error)).toContain(`${field}: expected`);
    expect(effects).toEqual([]);
  });

  it('answers 400 naming the field for an owner or repository name past its bound', async () => {
    const { intake, effects } = fakes();
    const long = (owner: string, name: string) =>
      workflowJobPayload(
        'queued',
        {},
        { repository: { full_name: `${owner}/${name}`, owner: { login: owner } } },
      );
    const owner = await intake.receive(await request(long('o'.repeat(256), 'app')));
    expect(String(owner.body.error)).toContain('repository.owner.login: expected');
    const repository = await intake.receive(await request(long('acme', 'r'.repeat(600))));
    expect(String(repository.body.error)).toContain('repository.full_name: expected');
    expect([owner.status, repository.status]).toEqual([400, 400]);
    expect(effects).toEqual([]);
  });

  it('accepts 64 labels of 256 characters, counting a character outside the BMP once', async () => {
    const { intake } = fakes();
    const labels = Array.from({ length: 64 }, (_, i) => `${i}`.padEnd(128, '-') + '😀'.repeat(128));
    const response = await intake.receive(await request(workflowJobPayload('queued', { id: 5, labels })));
    expect(response).toMatchObject({ status: 202, body: { outcome: 'accepted', jobId: 5 } });
  });

  it('answers 400 for an X-GitHub-Delivery longer than 256 characters, storing nothing', async () => {
    const { intake, effects } = fakes();
    const response = await intake.receive(
      await request(workflowJobPayload('queued'), { 'x-github-delivery': 'd'.repeat(257) }),
    );
    expect(response).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/X-GitHub-Delivery/) },
    });
    expect(effects).toEqual([]);
  });

  it('publishes only what the dispatcher and the deploy notifier read: no stale runner name or start time', async () => {
    const { intake, published } = fakes();
    const payload = workflowJobPayload('queued', {
      id: 8,
      name: 'build',
      runner_name: 'stale-runner',
      started_at: '2021-09-13T02:21:13Z',
    });
    expect((await intake.receive(await request(payload))).status).toBe(202);
    expect(published[0]).toEqual({
      action: 'queued',
      jobId: 8,
      runId: payload.workflow_job.run_id,
      runAttempt: payload.workflow_job.run_attempt,
      repository: 'Codertocat/Hello-World',
      owner: (payload.repository as { owner: { login: string } }).owner.login,
      labels: payload.workflow_job.labels,
      workflowName: payload.workflow_job.workflow_name,
      headBranch: payload.workflow_job.head_branch,
      installationId: (payload.installation as { id: number }).id,
      deliveryId: 'delivery-1',
      runnerName: null,
      conclusion: null,
      jobName: 'build',
      headSha: payload.workflow_job.head_sha,
      sender: (payload.sender as { login: string }).login,
      createdAt: payload.workflow_job.created_at,
      startedAt: null,
      completedAt: null,
    });
  });

  it('keeps the runner name and conclusion on a completed job', async () => {
    const { intake, published } = fakes();
    const payload = workflowJobPayload('completed', {
      id: 9,
      runner_name: 'ghes-cp-9',
      conclusion: 'failure',
    });
    expect((await intake.receive(await request(payload))).status).toBe(202);
    expect(published[0]).toMatchObject({
      action: 'completed',
      runnerName: 'ghes-cp-9',
      conclusion: 'failure',
    });
  });

  it('accepts a form-encoded delivery (payload=…) signed over the encoded bytes', async () => {
    const { intake, effects, published } = fakes();
    const payload = workflowJobPayload('queued', { id: 12, workflow_name: 'CI + deploy & more' });
    const form = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const response = await intake.receive(
      await signedRequest(form, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }),
    );
    expect(response).toMatchObject({ status: 202, body: { outcome: 'accepted', jobId: 12 } });
    expect(published[0]).toMatchObject({ jobId: 12, workflowName: 'CI + deploy & more' });
    expect(effects).toEqual(['record delivery-1 12 queued', 'publish 12']);
  });

  it('answers 401 for a form body whose signature covers the decoded JSON instead of the raw bytes', async () => {
    const { intake, effects } = fakes();
    const json = JSON.stringify(workflowJobPayload('queued'));
    const response = await intake.receive({
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-github-event': 'workflow_job',
        'x-github-delivery': 'delivery-1',
        'x-hub-signature-256': await sign(SECRET, json),
      },
      body: Buffer.from(new URLSearchParams({ payload: json }).toString()),
    });
    expect(response.status).toBe(401);
    expect(effects).toEqual([]);
  });

  it('answers 400 naming the field for a signed form body without payload', async () => {
    const { intake, effects } = fakes();
    const response = await intake.receive(
      await signedRequest('zen=Design+for+failure', { 'content-type': 'application/x-www-form-urlencoded' }),
    );
    expect(response).toMatchObject({ status: 400, body: { error: expect.stringContaining('"payload"') } });
    expect(effects).toEqual([]);
  });

  it('accepts a job whose unread fields nest 200,000 deep, publishing only the job', async () => {
    const { intake, published } = fakes();
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    const text = JSON.stringify(workflowJobPayload('queued', { id: 13, steps: '@' })).replace('"@"', deep);
    expect(await intake.receive(await signedRequest(text))).toMatchObject({ status: 202 });
    expect(JSON.stringify(published[0]).length).toBeLessThan(1_000);
  });
});
