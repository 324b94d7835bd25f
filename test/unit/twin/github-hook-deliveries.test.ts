import { verify } from '@octokit/webhooks-methods';
import { afterEach, describe, expect, it } from 'vitest';
import { appJwt } from '../../support/github-app-jwt.ts';
import { createTwinClock } from '../../twin/clock.ts';
import { FaultInjector, FaultSpecError } from '../../twin/faults.ts';
import { startGithubTwin, type GithubTwin } from '../../twin/github-api.ts';
import { createQueuedJobs, parseQueuedJobsRequest } from '../../twin/github-queued-jobs.ts';

/** The twin's hook delivery log and the deliveries API of the GitHub recovery contract. */
const APP_ID = 4242;
const SECRET = 'twin-webhook-secret';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

type Sent = { headers: Record<string, string>; body: string };

const start = async (answer = 202) => {
  const clock = createTwinClock(0.001);
  const faults = new FaultInjector(() => ({ targets: new Map() }));
  const sent: Sent[] = [];
  const twin = await startGithubTwin({
    clock,
    appId: APP_ID,
    webhookSecret: SECRET,
    faults,
    deliverWebhook: async (headers, body) => {
      sent.push({ headers, body });
      return {
        status: answer,
        headers: { 'content-type': 'application/json' },
        body: '{"outcome":"accepted"}',
      };
    },
  });
  cleanups.push(
    () => clock.close(),
    () => twin.close(),
  );
  const api = async (method: string, path: string, authorization: string) => {
    const response = await fetch(path.startsWith('http') ? path : `${twin.apiUrl}${path}`, {
      method,
      headers: { authorization },
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };
  const jwt = () => appJwt({ privateKeyPem: twin.privateKeyPem, appId: APP_ID });
  const tokenFor = async (owner: string) => {
    const { body } = await api(
      'POST',
      `/app/installations/${twin.installationIdOf(owner)}/access_tokens`,
      jwt(),
    );
    return `token ${body.token as string}`;
  };
  return { twin, faults, sent, api, jwt, tokenFor };
};

const queue = async (twin: GithubTwin, count: number, repository = 'acme/app') => {
  const created = createQueuedJobs(
    twin,
    parseQueuedJobsRequest({ repository, labels: ['self-hosted', 'linux'], workflowName: 'CI', count }),
  );
  await created.delivered;
  return created;
};

describe('GHES twin: hook delivery log', () => {
  it('queues jobs that GitHub knows at once, and logs one signed queued delivery for each', async () => {
    // Prepare
    const { twin, sent, api, jwt } = await start();

    // Act
    const { runId, jobIds } = await queue(twin, 3);

    // Assess
    expect(twin.jobs().filter((j) => jobIds.includes(j.id))).toEqual(
      jobIds.map((id) => expect.objectContaining({ id, runId, status: 'queued', repository: 'acme/app' })),
    );
    expect(sent).toHaveLength(3);
    for (const { headers, body } of sent)
      expect(await verify(SECRET, body, headers['x-hub-signature-256']!)).toBe(true);
    const { status, body, headers } = await api('GET', '/app/hook/deliveries', jwt());
    expect(status).toBe(200);
    expect(headers.get('link')).toBeNull();
    expect(body).toHaveLength(3);
    expect(body[0]).toEqual({
      id: expect.any(Number),
      guid: sent[2]!.headers['x-github-delivery'],
      delivered_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      redelivery: false,
      duration: expect.any(Number),
      status: 'OK',
      status_code: 202,
      event: 'workflow_job',
      action: 'queued',
      installation_id: twin.installationIdOf('acme'),
      repository_id: expect.any(Number),
      throttled_at: null,
    });
    expect(body.map((d: { id: number }) => d.id)).toEqual(
      [...body.map((d: { id: number }) => d.id)].sort((a, b) => b - a),
    );
  });

  it('pages newest first through the Link next cursor, each delivery once', async () => {
    // Prepare
    const { twin, api, jwt } = await start();
    await queue(twin, 5);

    // Act
    const pages: number[][] = [];
    let next: string | undefined = '/app/hook/deliveries?per_page=2';
    while (next) {
      const { body, headers } = await api('GET', next, jwt());
      pages.push(body.map((d: { id: number }) => d.id));
      next = /<([^>]+)>; rel="next"/.exec(headers.get('link') ?? '')?.[1];
    }

    // Assess
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    const ids = pages.flat();
    expect(ids).toEqual([...new Set(ids)].sort((a, b) => b - a));
    expect(await api('GET', '/app/hook/deliveries?cursor=bogus', jwt())).toMatchObject({ status: 422 });
  });

  it('answers one delivery with its request, and redelivers it with the same body and guid', async () => {
    // Prepare
    const { twin, sent, api, jwt } = await start();
    const { jobIds } = await queue(twin, 1);
    const [original] = (await api('GET', '/app/hook/deliveries', jwt())).body;

    // Act
    const detail = await api('GET', `/app/hook/deliveries/${original.id}`, jwt());
    const attempt = await api('POST', `/app/hook/deliveries/${original.id}/attempts`, jwt());
    await expect.poll(() => sent.length).toBe(2);
    await expect.poll(async () => (await api('GET', '/app/hook/deliveries', jwt())).body.length).toBe(2);
    const [latest] = (await api('GET', '/app/hook/deliveries', jwt())).body;

    // Assess
    expect(detail.body.request.payload.workflow_job.id).toBe(jobIds[0]);
    expect(detail.body.response.payload).toBe('{"outcome":"accepted"}');
    expect(attempt).toMatchObject({ status: 202, body: {} });
    expect(sent[1]!.body).toBe(sent[0]!.body);
    expect(sent[1]!.headers['x-github-delivery']).toBe(original.guid);
    expect(latest).toMatchObject({ guid: original.guid, redelivery: true, status: 'OK' });
    expect(latest.id).toBeGreaterThan(original.id);
    expect(await api('POST', '/app/hook/deliveries/999999/attempts', jwt())).toMatchObject({ status: 404 });
    expect(await api('GET', '/app/hook/deliveries', 'Bearer not.a.jwt')).toMatchObject({ status: 401 });
  });

  it('logs a delivery the intake refused with its status, and GitHub does not retry it', async () => {
    // Prepare
    const { twin, sent, api, jwt } = await start(500);

    // Act
    await queue(twin, 1);

    // Assess
    expect(sent).toHaveLength(1);
    const [delivery] = (await api('GET', '/app/hook/deliveries', jwt())).body;
    expect(delivery).toMatchObject({ status_code: 500, status: 'Invalid HTTP Response: 500' });
  });

  it('shows an org hook only its own org, to that org only', async () => {
    // Prepare
    const { twin, api, tokenFor } = await start();
    await queue(twin, 2, 'acme/app');
    await queue(twin, 1, 'globex/site');
    const acme = await tokenFor('acme');

    // Act
    const own = await api('GET', '/orgs/acme/hooks/1/deliveries', acme);

    // Assess
    expect(own.status).toBe(200);
    expect(own.body).toHaveLength(2);
    expect(await api('GET', `/orgs/acme/hooks/1/deliveries/${own.body[0].id}`, acme)).toMatchObject({
      status: 200,
    });
    const globexId = (await api('GET', '/orgs/globex/hooks/1/deliveries', await tokenFor('globex'))).body[0]
      .id;
    expect(await api('GET', `/orgs/acme/hooks/1/deliveries/${globexId}`, acme)).toMatchObject({
      status: 404,
    });
    expect(await api('GET', '/orgs/globex/hooks/1/deliveries', acme)).toMatchObject({ status: 403 });
    expect(await api('GET', '/orgs/acme/hooks/7/deliveries', acme)).toMatchObject({ status: 404 });
  });
});

describe('GHES twin: github:DeliverWebhook faults', () => {
  it('loses the delivery of the action it names, logged as failed and never sent', async () => {
    // Prepare
    const { twin, faults, sent, api, jwt } = await start();
    faults.arm({ target: 'github:DeliverWebhook', action: 'completed', count: 1 });
    faults.arm({ target: 'github:DeliverWebhook', action: 'queued', count: 1 });

    // Act
    await queue(twin, 2);

    // Assess
    expect(sent).toHaveLength(1);
    const deliveries = (await api('GET', '/app/hook/deliveries', jwt())).body;
    expect(deliveries.map((d: { status_code: number; status: string }) => [d.status_code, d.status])).toEqual(
      [
        [202, 'OK'],
        [0, 'failed to connect to host'],
      ],
    );
    // The `completed` fault is still armed: a queued delivery did not use it up.
    expect(faults.list()).toEqual([
      expect.objectContaining({ extra: { action: 'completed' }, remaining: 1 }),
    ]);
  });

  it('logs a 502 for BadGateway and a timeout that still reached the intake', async () => {
    // Prepare
    const { twin, faults, sent, api, jwt } = await start();
    faults.arm({ target: 'github:DeliverWebhook', error: 'BadGateway', count: 1 });
    faults.arm({ target: 'github:DeliverWebhook', error: 'Timeout', count: 1 });

    // Act
    await queue(twin, 2);

    // Assess
    const deliveries = (await api('GET', '/app/hook/deliveries', jwt())).body;
    expect(
      deliveries.map((d: { status_code: number; status: string }) => [d.status_code, d.status]).sort(),
    ).toEqual([
      [0, 'timed out'],
      [502, 'Invalid HTTP Response: 502'],
    ]);
    expect(sent).toHaveLength(1); // the timed-out one
  });

  it('refuses a fault spec it cannot apply, naming the field', () => {
    const faults = new FaultInjector(() => ({ targets: new Map() }));
    faults.define('github:DeliverWebhook', {
      errors: { FailedToConnect: 0 },
      defaultError: 'FailedToConnect',
      filters: { action: ['queued', 'completed'] },
    });
    expect(() => faults.arm({ target: 'github:DeliverWebhook', action: 'started', count: 1 })).toThrow(
      new FaultSpecError('action: expected one of "queued", "completed"'),
    );
    expect(() =>
      faults.arm({ target: 'github:DeliverWebhook', error: 'ThrottlingException', count: 1 }),
    ).toThrow(
      /error: "ThrottlingException" is not an error github:DeliverWebhook answers with; known: FailedToConnect/,
    );
    expect(() => faults.arm({ target: 'github:DeliverWebhook', route: 'GET /app', count: 1 })).toThrow(
      'unknown field(s): route',
    );
    expect(() => faults.arm({ target: 'github:Deliver', count: 1 })).toThrow(
      /target: "github:Deliver" is not a twin operation/,
    );
    expect(faults.list()).toEqual([]);
  });
});

describe('GHES twin: rate limits and github:Api faults', () => {
  it('puts the caller rate limit on every answer', async () => {
    const { api, jwt } = await start();
    const first = await api('GET', '/app/hook/deliveries', jwt());
    const second = await api('GET', '/app', jwt());
    expect(first.headers.get('x-ratelimit-limit')).toBe('5000');
    expect(Number(second.headers.get('x-ratelimit-used'))).toBe(
      Number(first.headers.get('x-ratelimit-used')) + 1,
    );
    expect(Number(second.headers.get('x-ratelimit-remaining'))).toBe(
      5000 - Number(second.headers.get('x-ratelimit-used')),
    );
    expect(Number(second.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
  });

  it('answers a secondary rate limit with retry-after, only on the route it names', async () => {
    // Prepare
    const { faults, api, jwt } = await start();
    faults.arm({
      target: 'github:Api',
      error: 'SecondaryRateLimit',
      route: 'GET /app/hook/deliveries',
      retryAfter: 2,
      count: 1,
    });

    // Act
    const other = await api('GET', '/app', jwt());
    const limited = await api('GET', '/app/hook/deliveries', jwt());
    const after = await api('GET', '/app/hook/deliveries', jwt());

    // Assess
    expect(other.status).toBe(200);
    expect(limited.status).toBe(403);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(limited.body.message).toMatch(/secondary rate limit/);
    expect(after.status).toBe(200);
  });

  it('answers an exhausted rate limit with remaining 0 and a reset, and a server error with 502', async () => {
    const { faults, api, jwt } = await start();
    faults.arm({ target: 'github:Api', error: 'RateLimited', retryAfter: 30, count: 1 });
    const limited = await api('GET', '/app', jwt());
    expect(limited.status).toBe(403);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(limited.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(
      Math.floor(Date.now() / 1000) + 29,
    );
    faults.arm({ target: 'github:Api', error: 'ServerError', count: 1 });
    expect((await api('GET', '/app', jwt())).status).toBe(502);
    expect(() =>
      faults.arm({ target: 'github:Api', error: 'ServerError', route: 'GET /nope', count: 1 }),
    ).toThrow(/^route: expected one of "GET \/app", /);
  });
});

describe('GHES twin: runs and jobs', () => {
  it('lists a run queued until a job starts, and its jobs', async () => {
    // Prepare
    const { twin, api, tokenFor } = await start();
    const { runId, jobIds } = await queue(twin, 3);
    const token = await tokenFor('acme');

    // Act
    const queued = await api('GET', '/repos/acme/app/actions/runs?status=queued', token);
    const running = await api('GET', '/repos/acme/app/actions/runs?status=in_progress', token);
    const jobs = await api(
      'GET',
      `/repos/acme/app/actions/runs/${runId}/jobs?filter=latest&per_page=2`,
      token,
    );

    // Assess
    expect(queued.body).toMatchObject({
      total_count: 1,
      workflow_runs: [
        {
          id: runId,
          status: 'queued',
          name: 'CI',
          head_branch: 'main',
          repository: { full_name: 'acme/app' },
        },
      ],
    });
    expect(queued.body.workflow_runs[0].head_sha).toMatch(/^[0-9a-f]{40}$/);
    expect(running.body).toEqual({ total_count: 0, workflow_runs: [] });
    expect(jobs.body.total_count).toBe(3);
    expect(jobs.body.jobs.map((j: { id: number }) => j.id)).toEqual(jobIds.slice(0, 2));
    expect(jobs.body.jobs[0]).toMatchObject({
      run_id: runId,
      status: 'queued',
      labels: ['self-hosted', 'linux'],
      workflow_name: 'CI',
    });
    expect(await api('GET', '/repos/acme/app/actions/runs?status=bogus', token)).toMatchObject({
      status: 422,
    });
  });
});

describe('POST /sandbox/github/jobs body', () => {
  it.each([
    [
      { repository: 'acme', labels: ['x'], workflowName: 'CI', count: 1 },
      'repository: expected "owner/name"',
    ],
    [{ repository: 'acme/app', labels: 'x', workflowName: 'CI', count: 1 }, 'labels: expected 1 to 64'],
    [{ repository: 'acme/app', labels: [1], workflowName: 'CI', count: 1 }, 'labels: expected 1 to 64'],
    [{ repository: 'acme/app', labels: ['x'], workflowName: '', count: 1 }, 'workflowName: expected'],
    [
      { repository: 'acme/app', labels: ['x'], workflowName: 'CI', count: 1001 },
      'count: expected a whole number from 1 to 1000',
    ],
    [{ repository: 'acme/app', labels: ['x'], workflowName: 'CI', count: 0 }, 'count: expected'],
    [{ repository: 'acme/app', labels: ['x'], workflowName: 'CI', count: 1, runId: -1 }, 'runId: expected'],
    [
      { repository: 'acme/app', labels: ['x'], workflowName: 'CI', count: 1, repo: 'x' },
      'unknown field(s): repo',
    ],
  ])('refuses %j naming the field', (body, message) => {
    expect(() => parseQueuedJobsRequest(body)).toThrow(message);
  });
});

describe('GHES twin: runners list', () => {
  it('pages the runners of an org with per_page and page, counting them all', async () => {
    // Prepare
    const { twin, api, tokenFor } = await start();
    await queue(twin, 1); // the org's installation
    const token = await tokenFor('acme');
    for (const name of ['r1', 'r2', 'r3']) {
      const response = await fetch(`${twin.apiUrl}/orgs/acme/actions/runners/generate-jitconfig`, {
        method: 'POST',
        headers: { authorization: token },
        body: JSON.stringify({ name, runner_group_id: 1, labels: ['self-hosted'] }),
      });
      expect(response.status).toBe(201);
    }

    // Act
    const second = await api('GET', '/orgs/acme/actions/runners?per_page=2&page=2', token);

    // Assess
    expect(second.body.total_count).toBe(3);
    expect(second.body.runners.map((r: { name: string }) => r.name)).toEqual(['r3']);
  });
});
