import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '@octokit/webhooks-methods';
import { startSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { loadSandboxConfig } from '../sandbox/sandbox-config.ts';
import { postDelivery, signedDelivery, workflowJobPayload } from '../support/github-deliveries.ts';

/**
 * Logs go to CloudWatch, readable by many: never the body, the secret, or the signature. What the
 * functions wrote to stdout and stderr is read from `sandbox.logs`, the twin's log groups.
 */
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ config: loadSandboxConfig(undefined, {}), logLevel: 'DEBUG' });
});
afterAll(async () => {
  await sandbox?.close();
});

describe('webhook logs', () => {
  it('carry the delivery and job ids but never the body, the secret or the signature', async () => {
    const secret = sandbox.config.sandbox.secrets.webhook;
    const marker = 'repo-name-that-only-the-body-holds';
    const payload = workflowJobPayload('queued', { id: 777_001, workflow_name: marker });
    const accepted = await signedDelivery(payload, { secret, deliveryId: 'log-delivery-1' });
    expect((await postDelivery(sandbox.url, accepted)).status).toBe(202);
    const refused = await signedDelivery(payload, { secret, deliveryId: 'log-delivery-2' });
    refused.headers['x-hub-signature-256'] = await sign('wrong', refused.body);
    expect((await postDelivery(sandbox.url, refused)).status).toBe(401);

    const logs = sandbox.logs
      .lines()
      .map((line) => line.text)
      .join('');
    expect(logs).toContain('log-delivery-1');
    expect(logs).toContain('777001');
    expect(logs).toContain('request refused');
    expect(logs).not.toContain(marker);
    expect(logs).not.toContain(secret);
    expect(logs).not.toContain(accepted.headers['x-hub-signature-256']!.slice(7));
  });
});
