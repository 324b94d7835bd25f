import { describe, expect, it } from 'vitest';
import { sign } from '@octokit/webhooks-methods';
import { createWebhookIntake } from '../../../shared/intake/receive-webhook.ts';
import { createSourceAllowList } from '../../../shared/http/source-address.ts';
import { workflowJobPayload } from '../../support/github-deliveries.ts';

const SECRET = 'unit-secret';

/** An intake with an allow-list whose every dependency records that it was used. */
const intakeWithAllowList = () => {
  const used: string[] = [];
  const intake = createWebhookIntake({
    secrets: {
      current: async () => {
        used.push('secret read');
        return [SECRET];
      },
    },
    recorder: {
      record: async () => {
        used.push('recorded');
        return { outcome: 'recorded', changed: true, claim: { deliveryId: 'd', bodyHash: 'h', owner: 'o' } };
      },
      release: async () => void used.push('released'),
    },
    publisher: { publishWorkflowJob: async () => void used.push('published') },
    logger: { info() {}, warn() {}, error() {}, appendKeys() {} },
    allowedSources: createSourceAllowList(['10.20.0.0/16'], 'TEST'),
  });
  return { intake, used };
};

const delivery = async (sourceIp: string | undefined) => {
  const body = JSON.stringify(workflowJobPayload('queued', { id: 7 }));
  return {
    headers: {
      'x-github-event': 'workflow_job',
      'x-github-delivery': 'delivery-7',
      'x-hub-signature-256': await sign(SECRET, body),
      'content-type': 'application/json',
    },
    body: Buffer.from(body),
    ...(sourceIp ? { sourceIp } : {}),
  };
};

describe('webhook intake with an allow-list', () => {
  it('answers 403 to a correctly signed delivery from outside the list, reading no secret and storing nothing', async () => {
    const { intake, used } = intakeWithAllowList();
    const answer = await intake.receive(await delivery('198.51.100.7'));
    expect(answer).toEqual({
      status: 403,
      body: { error: 'source address 198.51.100.7 may not deliver webhooks' },
    });
    expect(used).toEqual([]);
  });

  it('answers 403 when the front door gave no source address', async () => {
    const { intake, used } = intakeWithAllowList();
    expect((await intake.receive(await delivery(undefined))).status).toBe(403);
    expect(used).toEqual([]);
  });

  it('handles a delivery from inside the list as any other', async () => {
    const { intake, used } = intakeWithAllowList();
    expect((await intake.receive(await delivery('10.20.3.4'))).status).toBe(202);
    expect(used).toEqual(['secret read', 'recorded', 'published']);
  });
});
