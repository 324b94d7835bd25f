import { generateKeyPairSync, sign } from 'node:crypto';
import { verify } from '@octokit/webhooks-methods';
import { afterEach, describe, expect, it } from 'vitest';
import { workflowJobPayload } from '../../support/github-deliveries.ts';
import { createTwinClock, type TwinClock } from '../../twin/clock.ts';
import { startGithubTwin } from '../../twin/github-api.ts';

/** What the GHES twin enforces that the GitHub App adapter tests never run into. */
const APP_ID = 4242;
const SECRET = 'twin-webhook-secret';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

const start = async () => {
  const base = createTwinClock(0.001);
  let offsetMs = 0;
  const clock: TwinClock = { ...base, now: () => new Date(Date.now() + offsetMs) };
  const deliveries: { headers: Record<string, string>; body: string }[] = [];
  const twin = await startGithubTwin({
    clock,
    appId: APP_ID,
    webhookSecret: SECRET,
    deliverWebhook: async (headers, body) => {
      deliveries.push({ headers, body });
      return 202;
    },
  });
  cleanups.push(
    () => base.close(),
    () => twin.close(),
  );
  const api = async (method: string, path: string, authorization?: string, body?: unknown) => {
    const response = await fetch(`${twin.apiUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const installationToken = async (installationId: number) => {
    const { body } = await api('POST', `/app/installations/${installationId}/access_tokens`, appJwt(twin));
    return `token ${body.token as string}`;
  };
  const passTime = (ms: number) => void (offsetMs += ms);
  return { twin, api, installationToken, deliveries, passTime };
};

/** An App JWT as @octokit/auth-app makes one, with every part under the test's control. */
const appJwt = (
  twin: { privateKeyPem: string },
  { key = twin.privateKeyPem, iss = APP_ID, nowSeconds = Math.floor(Date.now() / 1000) } = {},
) => {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iat: nowSeconds - 30, exp: nowSeconds + 540, iss })}`;
  return `Bearer ${unsigned}.${sign('sha256', Buffer.from(unsigned), key).toString('base64url')}`;
};

const queued = (
  id: number,
  repository: string,
  installationId: number,
  labels = ['self-hosted', 'linux'],
) => {
  const [owner, name] = repository.split('/');
  return workflowJobPayload(
    'queued',
    { id, run_id: id * 10, run_attempt: 1, labels, status: 'queued', runner_id: null, runner_name: null },
    {
      repository: { id: 1, name, full_name: repository, owner: { login: owner, type: 'Organization' } },
      installation: { id: installationId },
    },
  );
};

const waitFor = async (what: string, check: () => boolean, timeoutMs = 3_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('GHES twin: App authentication', () => {
  it('accepts a JWT signed with the App key and refuses one signed with another key, another issuer or expired', async () => {
    // Prepare
    const { twin, api, passTime } = await start();
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();

    // Act
    const valid = await api('GET', '/app', appJwt(twin));
    const otherKeyAnswer = await api('GET', '/app', appJwt(twin, { key: otherKey }));
    const otherIssuer = await api('GET', '/app', appJwt(twin, { iss: APP_ID + 1 }));
    const stale = appJwt(twin);
    passTime(11 * 60_000);
    const expired = await api('GET', '/app', stale);

    // Assess
    expect(valid).toMatchObject({ status: 200, body: { id: APP_ID } });
    expect(otherKeyAnswer).toMatchObject({
      status: 401,
      body: { message: 'A JSON web token could not be decoded' },
    });
    expect(otherIssuer.status).toBe(401);
    expect(expired).toMatchObject({ status: 401, body: { message: expect.stringContaining("'exp'") } });
  });

  it('scopes an installation token to its owner and ends it after an hour', async () => {
    // Prepare
    const { twin, api, installationToken, passTime } = await start();
    twin.observeWebhook('workflow_job', queued(11, 'acme/app', 77));
    twin.observeWebhook('workflow_job', queued(12, 'globex/api', 88));
    const acme = await installationToken(77);

    // Act
    const own = await api('GET', '/repos/acme/app/actions/jobs/11', acme);
    const foreign = await api('GET', '/repos/globex/api/actions/jobs/12', acme);
    const anonymous = await api('GET', '/repos/acme/app/actions/jobs/11');
    passTime(60 * 60_000);
    const afterAnHour = await api('GET', '/repos/acme/app/actions/jobs/11', acme);

    // Assess
    expect(own).toMatchObject({ status: 200, body: { id: 11, status: 'queued' } });
    expect(foreign).toMatchObject({
      status: 403,
      body: { message: 'Resource not accessible by integration' },
    });
    expect(anonymous).toMatchObject({ status: 401, body: { message: 'Bad credentials' } });
    expect(afterAnHour.status).toBe(401);
  });
});

describe('GHES twin: JIT runners', () => {
  it('refuses a second JIT config for a runner name already registered in the organisation (409)', async () => {
    // Prepare
    const { twin, api, installationToken } = await start();
    twin.observeWebhook('workflow_job', queued(21, 'acme/app', 77));
    const token = await installationToken(77);
    const jitFor = (name: string) =>
      api('POST', '/orgs/acme/actions/runners/generate-jitconfig', token, {
        name,
        runner_group_id: 1,
        labels: ['self-hosted', 'linux'],
      });

    // Act
    const first = await jitFor('runner-21');
    const again = await jitFor('RUNNER-21');

    // Assess
    expect(first.status).toBe(201);
    expect(again).toMatchObject({
      status: 409,
      body: { message: 'Already exists - A runner with the name RUNNER-21 already exists.' },
    });
    expect(twin.runners()).toHaveLength(1);
  });

  it('starts a runner from its JIT config that takes the job and reports in_progress then completed, signed', async () => {
    // Prepare
    const { twin, api, installationToken, deliveries } = await start();
    twin.observeWebhook('workflow_job', queued(31, 'acme/app', 77));
    const { body } = await api(
      'POST',
      '/orgs/acme/actions/runners/generate-jitconfig',
      await installationToken(77),
      { name: 'ghes-cp-31-1-abcdef', runner_group_id: 1, labels: ['self-hosted', 'linux'] },
    );
    const config = body.encoded_jit_config as string;

    // Act
    twin.startRunner({ encodedJitConfig: config, resourceId: 'i-031' });
    twin.startRunner({ encodedJitConfig: config, resourceId: 'i-032' }); // the same config, twice
    await waitFor('two deliveries', () => deliveries.length === 2);

    // Assess
    const sent = await Promise.all(
      deliveries.map(async ({ headers, body: raw }) => ({
        event: headers['x-github-event'],
        signed: await verify(SECRET, raw, headers['x-hub-signature-256'] ?? ''),
        payload: JSON.parse(raw),
      })),
    );
    expect(sent.map((d) => [d.event, d.signed, d.payload.action])).toEqual([
      ['workflow_job', true, 'in_progress'],
      ['workflow_job', true, 'completed'],
    ]);
    expect(sent[1]?.payload.workflow_job).toMatchObject({
      id: 31,
      status: 'completed',
      conclusion: 'success',
      runner_name: 'ghes-cp-31-1-abcdef',
      runner_id: body.runner.id,
    });
    expect(twin.jobs()).toEqual([expect.objectContaining({ id: 31, status: 'completed' })]);
    expect(twin.runners()).toEqual([
      expect.objectContaining({ name: 'ghes-cp-31-1-abcdef', resourceId: 'i-031', state: 'deregistered' }),
      expect.objectContaining({ resourceId: 'i-032', state: 'failed', failure: 'JIT config already used' }),
    ]);
  });
});
