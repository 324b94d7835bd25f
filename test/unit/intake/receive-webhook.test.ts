import { describe, expect, it } from 'vitest';
import { sign } from '@octokit/webhooks-methods';
import { createWebhookIntake, MAX_BODY_BYTES } from '../../../shared/intake/receive-webhook.ts';
import type { DeliveryClaim, DeliveryClaims } from '../../../shared/intake/delivery-claims.ts';
import type { WorkflowJobEvent } from '../../../shared/intake/workflow-job.ts';
import { workflowJobPayload } from '../../support/github-deliveries.ts';

const SECRET = 'unit-secret';

/** In-memory fakes that record every side effect, so a test can assert that none happened. */
const fakes = (options: { failPublish?: boolean; ledgerChanged?: boolean } = {}) => {
  const effects: string[] = [];
  const claimed = new Set<string>();
  const claims: DeliveryClaims = {
    async claim(deliveryId, bodyHash) {
      effects.push(`claim ${deliveryId}`);
      if (claimed.has(deliveryId) || claimed.has(bodyHash)) return 'duplicate';
      claimed.add(deliveryId).add(bodyHash);
      return { deliveryId, bodyHash, owner: 'me' };
    },
    async complete(claim: DeliveryClaim) {
      effects.push(`complete ${claim.deliveryId}`);
    },
    async release(claim: DeliveryClaim) {
      effects.push(`release ${claim.deliveryId}`);
      claimed.delete(claim.deliveryId);
      claimed.delete(claim.bodyHash);
    },
  };
  const published: WorkflowJobEvent[] = [];
  const intake = createWebhookIntake({
    secrets: { current: async () => [SECRET] },
    claims,
    ledger: {
      async recordWebhook(event) {
        effects.push(`ledger ${event.jobId} ${event.action}`);
        return { changed: options.ledgerChanged ?? true };
      },
    },
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
    expect(effects).toEqual(['claim delivery-1', 'ledger 7 queued', 'publish 7', 'complete delivery-1']);
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
    expect(effects).toEqual(['claim delivery-1']);
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
    expect(effects).toContain('release delivery-1');
    expect(effects).not.toContain('complete delivery-1');
  });
});
