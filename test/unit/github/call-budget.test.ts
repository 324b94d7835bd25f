import { request as octokitRequest } from '@octokit/request';
import { describe, expect, it } from 'vitest';
import {
  createGithubCallBudget,
  GithubBudgetExhaustedError,
  GithubRateLimitedError,
} from '../../../shared/github/call-budget.ts';

/** Octokit's own request with the budget's hook and a scripted fetch: no network. */
const setup = (answers: (() => Response)[], limits = { budget: 50, deadlineInMs: 30_000 }) => {
  let clock = 1_000_000_000_000;
  const sleeps: number[] = [];
  const fetched: string[] = [];
  const budget = createGithubCallBudget({
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
  });
  budget.startRun({ budget: limits.budget, deadline: clock + limits.deadlineInMs });
  const request = octokitRequest.defaults({
    baseUrl: 'https://ghes.example/api/v3',
    request: {
      hook: budget.hook,
      fetch: async (url: string) => {
        fetched.push(url);
        const next = answers.shift();
        if (!next) throw new Error('no scripted answer left');
        return next();
      },
    },
  });
  const advance = (ms: number) => {
    clock += ms;
  };
  return { budget, request, sleeps, fetched, now: () => clock, advance };
};

const ok =
  (headers: Record<string, string> = {}) =>
  () =>
    new Response('{}', { status: 200, headers: { 'content-type': 'application/json', ...headers } });
const limited = (headers: Record<string, string>) => () =>
  new Response('{"message":"You have exceeded a secondary rate limit"}', {
    status: 403,
    headers: { 'content-type': 'application/json', ...headers },
  });

describe('GitHub call budget', () => {
  it('refuses the call after the run has spent its budget, without reaching GitHub', async () => {
    // Prepare
    const { request, fetched, budget } = setup([ok(), ok(), ok()], { budget: 2, deadlineInMs: 30_000 });
    // Act
    await request('GET /app/hook/deliveries');
    await request('GET /app/hook/deliveries');
    // Assess
    await expect(request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubBudgetExhaustedError);
    expect(fetched).toHaveLength(2);
    expect(budget.usage()).toEqual({ used: 2, budget: 2, rateLimited: null });
    expect(budget.remaining()).toBe(0);
  });

  it('lets a dispatch finish past the budget, counting its calls, and refuses what comes after', async () => {
    const { request, budget } = setup([ok(), ok(), ok(), ok()], { budget: 1, deadlineInMs: 30_000 });
    await budget.unmetered(async () => {
      await request('GET /repos/acme/app/actions/jobs/1');
      await request('POST /orgs/acme/actions/runners/generate-jitconfig');
    });
    expect(budget.usage().used).toBe(2);
    await expect(request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubBudgetExhaustedError);
  });

  it('starts no recovery call past the run’s deadline, yet lets a dispatch finish', async () => {
    const { request, fetched, budget, advance } = setup([ok(), ok(), ok()], {
      budget: 50,
      deadlineInMs: 1_000,
    });
    await request('GET /app/hook/deliveries');
    advance(1_000);
    await expect(request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubBudgetExhaustedError);
    await budget.unmetered(() => request('POST /orgs/acme/actions/runners/generate-jitconfig'));
    expect(fetched).toHaveLength(2);
  });

  it('reports the pause GitHub asked for, and honours one carried over from another container', async () => {
    const first = setup([limited({ 'retry-after': '600' })]);
    await expect(first.request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubRateLimitedError);
    const asked = first.budget.pause()!;
    expect(asked.until).toBe(first.now() + 600_000);
    // A fresh container's budget, given the kept pause: no call before it ends.
    const fresh = setup([ok()]);
    fresh.budget.pauseUntil(asked.until, asked.why);
    await expect(fresh.request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubRateLimitedError);
    expect(fresh.fetched).toHaveLength(0);
  });

  it('waits out a short retry-after once and then gets its answer', async () => {
    const { request, sleeps, budget } = setup([limited({ 'retry-after': '3' }), ok()]);
    const response = await request('GET /orgs/{org}/hooks/{hook_id}/deliveries', { org: 'acme', hook_id: 1 });
    expect(response.status).toBe(200);
    expect(sleeps).toEqual([3000]);
    expect(budget.usage()).toEqual({ used: 2, budget: 50, rateLimited: null });
  });

  it('stops the run at once when retry-after reaches past the deadline, and every later call fails fast', async () => {
    const { request, sleeps, fetched, budget } = setup([limited({ 'retry-after': '60' }), ok()], {
      budget: 50,
      deadlineInMs: 25_000,
    });
    await expect(request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubRateLimitedError);
    await expect(request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubRateLimitedError);
    expect(sleeps).toEqual([]);
    expect(fetched).toHaveLength(1);
    expect(budget.usage().rateLimited).toMatch(/403 \(rate limit\).*60 s does not fit this run/);
    expect(budget.remaining()).toBe(0);
  });

  it('keeps a retry-after that did not fit the run for the next runs: no call before it ends', async () => {
    // Prepare: a run refused with a 10-minute wait.
    const { request, fetched, budget, advance, now } = setup([limited({ 'retry-after': '600' }), ok()], {
      budget: 50,
      deadlineInMs: 25_000,
    });
    await expect(request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubRateLimitedError);

    // Act: the next run, a minute later.
    advance(60_000);
    budget.startRun({ budget: 50, deadline: now() + 25_000 });

    // Assess: it stops without asking GitHub again, and says why.
    await expect(request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubRateLimitedError);
    expect(fetched).toHaveLength(1);
    expect(budget.usage().rateLimited).toMatch(
      /^GitHub answered 403 \(rate limit\) to GET .*\/app\/hook\/deliveries, which asked for a pause; waiting 540 s does not fit this run$/,
    );

    // Act: a run after the wait.
    advance(540_000);
    budget.startRun({ budget: 50, deadline: Number.POSITIVE_INFINITY });

    // Assess
    expect((await request('GET /app/hook/deliveries')).status).toBe(200);
    expect(fetched).toHaveLength(2);
  });

  it('stops when GitHub is still limiting after the one wait', async () => {
    const { request, sleeps } = setup([limited({ 'retry-after': '1' }), limited({ 'retry-after': '1' })]);
    await expect(request('GET /app/hook/deliveries')).rejects.toBeInstanceOf(GithubRateLimitedError);
    expect(sleeps).toEqual([1000]);
  });

  it('waits for x-ratelimit-reset before the next call once a response says none remain', async () => {
    const reset = Math.floor(1_000_000_000_000 / 1000) + 4;
    const { request, sleeps } = setup([
      ok({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }),
      ok({ 'x-ratelimit-remaining': '4999' }),
      ok({ 'x-ratelimit-remaining': '4998' }),
    ]);
    await request('GET /app/hook/deliveries');
    await request('GET /app/hook/deliveries');
    await request('GET /app/hook/deliveries');
    // One wait, until the reset; calls with some remaining never wait.
    expect(sleeps).toEqual([4000]);
  });

  it('stops rather than wait when the primary limit is spent with its reset far off', async () => {
    const reset = Math.floor(1_000_000_000_000 / 1000) + 1800;
    const { request, sleeps } = setup([
      limited({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }),
    ]);
    await expect(request('GET /app/hook/deliveries')).rejects.toThrow(/1800 s does not fit/);
    expect(sleeps).toEqual([]);
  });

  it('lets a 403 that is no rate limit (a missing permission) through unchanged, and keeps going', async () => {
    const { request, budget } = setup([
      () => new Response('{"message":"Resource not accessible by integration"}', { status: 403 }),
      ok(),
    ]);
    await expect(request('GET /app/hook/deliveries')).rejects.toMatchObject({ status: 403 });
    await expect(request('GET /app/hook/deliveries')).resolves.toMatchObject({ status: 200 });
    expect(budget.usage().rateLimited).toBeNull();
  });
});
