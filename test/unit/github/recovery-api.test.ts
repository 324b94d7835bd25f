import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createAppSession } from '../../../shared/github/app-session.ts';
import { createGithubCallBudget, GithubRateLimitedError } from '../../../shared/github/call-budget.ts';
import {
  createGithubRecoveryApi,
  nextCursor,
  type HookDeliverySource,
} from '../../../shared/github/recovery-api.ts';

/**
 * The recovery client against a small loopback stub that answers as the contract (and GHES) does:
 * real HTTP, real App JWT and installation-token exchange, Link headers, 202/204/404.
 */
const { privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

type Route = (
  req: IncomingMessage,
  url: URL,
) => { status: number; body?: unknown; headers?: Record<string, string> };

let closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers) close();
  closers = [];
});

const startStub = async (routes: Record<string, Route>) => {
  const seen: { method: string; path: string; auth: string | undefined }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://stub');
    const path = url.pathname.replace(/^\/api\/v3/, '');
    seen.push({ method: req.method!, path: `${path}${url.search}`, auth: req.headers.authorization });
    if (req.method === 'POST' && /^\/app\/installations\/\d+\/access_tokens$/.test(path)) {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ token: 'inst-token', expires_at: new Date(Date.now() + 3600_000).toISOString() }),
      );
      return;
    }
    if (req.method === 'GET' && /^\/orgs\/[^/]+\/installation$/.test(path)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 77 }));
      return;
    }
    const route = routes[`${req.method} ${path}`];
    const answer = route ? route(req, url) : { status: 404, body: { message: 'Not Found' } };
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v3`;
  return { apiUrl, seen };
};

const delivery = (id: number, extra: Record<string, unknown> = {}) => ({
  id,
  guid: `guid-${id}`,
  delivered_at: '2026-11-24T10:00:00Z',
  redelivery: false,
  duration: 0.1,
  status: 'OK',
  status_code: 202,
  event: 'workflow_job',
  action: 'queued',
  installation_id: 77,
  repository_id: 1,
  throttled_at: null,
  ...extra,
});

const api = (apiUrl: string, source: HookDeliverySource, budget = createGithubCallBudget()) =>
  createGithubRecoveryApi(
    createAppSession({ apiUrl, appId: 4242, privateKey, requestHook: budget.hook }),
    source,
  );

describe('GitHub recovery client', () => {
  it("reads the App's delivery log with the App JWT and follows the Link header's cursor", async () => {
    // Prepare
    const { apiUrl, seen } = await startStub({
      'GET /app/hook/deliveries': (_req, url) =>
        url.searchParams.get('cursor') === 'v1|7'
          ? { status: 200, body: [delivery(6)] }
          : {
              status: 200,
              body: [delivery(9), delivery(8, { status_code: 500, status: 'Invalid HTTP Response: 500' })],
              headers: { link: `<${apiUrl}/app/hook/deliveries?per_page=2&cursor=v1%7C7>; rel="next"` },
            },
    });
    const client = api(apiUrl, { source: 'app' });
    // Act
    const first = await client.deliveries(null, 2);
    const second = await client.deliveries(first.next, 2);
    // Assess
    expect(first.deliveries.map((d) => [d.id, d.statusCode])).toEqual([
      [9, 202],
      [8, 500],
    ]);
    expect(first.next).toBe('v1|7');
    expect(second).toEqual({ deliveries: [expect.objectContaining({ id: 6, guid: 'guid-6' })], next: null });
    expect(seen.map((s) => s.path)).toEqual([
      '/app/hook/deliveries?per_page=2',
      '/app/hook/deliveries?per_page=2&cursor=v1%7C7',
    ]);
    expect(seen.every((s) => s.auth?.startsWith('bearer '))).toBe(true);
  });

  it("redelivers through the org hook with the org's installation token", async () => {
    const { apiUrl, seen } = await startStub({
      'POST /orgs/acme/hooks/12/deliveries/8/attempts': () => ({ status: 202, body: {} }),
    });
    await api(apiUrl, { source: 'org', org: 'acme', hookId: 12 }).redeliver(8);
    const attempt = seen.find((s) => s.path.endsWith('/attempts'));
    expect(attempt).toEqual({
      method: 'POST',
      path: '/orgs/acme/hooks/12/deliveries/8/attempts',
      auth: 'token inst-token',
    });
  });

  it('lists queued and in-progress runs, then the latest jobs of a run', async () => {
    const { apiUrl, seen } = await startStub({
      'GET /repos/acme/app/actions/runs': (_req, url) => ({
        status: 200,
        body: {
          total_count: 1,
          workflow_runs:
            url.searchParams.get('status') === 'queued'
              ? [{ id: 500, run_attempt: 2, name: 'ci', head_branch: 'main' }]
              : [],
        },
      }),
      'GET /repos/acme/app/actions/runs/500/jobs': () => ({
        status: 200,
        body: {
          total_count: 1,
          jobs: [
            {
              id: 5001,
              run_id: 500,
              run_attempt: 2,
              status: 'queued',
              labels: ['self-hosted', 'linux'],
              workflow_name: 'ci',
              head_branch: 'main',
              name: 'build',
              created_at: '2026-11-24T10:00:00Z',
            },
          ],
        },
      }),
    });
    const client = api(apiUrl, { source: 'app' });
    const runs = await client.activeRuns('acme/app', 77, 20);
    const jobs = await client.runJobs('acme/app', 77, 500, 50);
    expect(runs).toEqual([{ id: 500, runAttempt: 2, name: 'ci', headBranch: 'main' }]);
    expect(jobs).toEqual([
      {
        id: 5001,
        runId: 500,
        runAttempt: 2,
        status: 'queued',
        labels: ['self-hosted', 'linux'],
        workflowName: 'ci',
        headBranch: 'main',
        name: 'build',
        createdAt: new Date('2026-11-24T10:00:00Z'),
      },
    ]);
    expect(seen.filter((s) => s.path.includes('/actions/')).map((s) => s.path)).toEqual([
      '/repos/acme/app/actions/runs?status=queued&per_page=20',
      '/repos/acme/app/actions/runs?status=in_progress&per_page=20',
      '/repos/acme/app/actions/runs/500/jobs?filter=latest&per_page=50',
    ]);
  });

  it("pages an org's runners and treats a runner already deleted as removed", async () => {
    const { apiUrl, seen } = await startStub({
      'GET /orgs/acme/actions/runners': () => ({
        status: 200,
        body: {
          total_count: 3,
          runners: [{ id: 1, name: 'ghes-cp-5-1-abcdef', status: 'offline', busy: false }],
        },
      }),
      'DELETE /orgs/acme/actions/runners/1': () => ({ status: 204 }),
    });
    const client = api(apiUrl, { source: 'app' });
    const scope = { kind: 'org' as const, org: 'acme', installationId: 77 };
    const page = await client.runners(scope, 1, 1);
    await client.removeRunner(scope, 1);
    await client.removeRunner(scope, 2); // the stub answers 404
    expect(page).toEqual({
      runners: [{ id: 1, name: 'ghes-cp-5-1-abcdef', status: 'offline', busy: false }],
      more: true,
    });
    expect(seen.filter((s) => s.method === 'DELETE').map((s) => s.path)).toEqual([
      '/orgs/acme/actions/runners/1',
      '/orgs/acme/actions/runners/2',
    ]);
  });

  it("stops on the stub's secondary rate limit when its retry-after outlasts the run", async () => {
    const { apiUrl } = await startStub({
      'GET /app/hook/deliveries': () => ({
        status: 403,
        body: { message: 'You have exceeded a secondary rate limit' },
        headers: { 'retry-after': '120' },
      }),
    });
    const budget = createGithubCallBudget();
    budget.startRun({ budget: 10, deadline: Date.now() + 20_000 });
    await expect(api(apiUrl, { source: 'app' }, budget).deliveries(null, 100)).rejects.toBeInstanceOf(
      GithubRateLimitedError,
    );
    expect(budget.usage().rateLimited).toMatch(/GET .*\/app\/hook\/deliveries/);
  });

  it('reads the next cursor only from a rel="next" link', () => {
    expect(nextCursor(undefined)).toBeNull();
    expect(nextCursor('<https://g/api/v3/app/hook/deliveries?cursor=a>; rel="prev"')).toBeNull();
    expect(
      nextCursor(
        '<https://g/api/v3/app/hook/deliveries?cursor=a>; rel="prev", <https://g/api/v3/app/hook/deliveries?per_page=30&cursor=b%3D>; rel="next"',
      ),
    ).toBe('b=');
  });
});
