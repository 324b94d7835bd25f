import type { RequestHook } from './app-session.ts';

/**
 * The reconciler's GitHub manners, per run: at most `budget` calls (token requests included), and
 * GitHub's rate limits honoured. A 403/429 carrying `retry-after`, or `x-ratelimit-remaining: 0` with
 * `x-ratelimit-reset` (https://docs.github.com/enterprise-server@3.14/rest/using-the-rest-api/rate-limits-for-the-rest-api),
 * is waited out once when the wait is short and ends before the run's deadline; otherwise the run's
 * GitHub work stops (every later call fails fast) and the report says so; the next runs of the same
 * container make no call before the wait ends either. Retrying early against a secondary limit is
 * what GitHub says gets an integration banned.
 */
export class GithubBudgetExhaustedError extends Error {
  override name = 'GithubBudgetExhaustedError';
}

export class GithubRateLimitedError extends Error {
  override name = 'GithubRateLimitedError';
}

/** Budget spent or rate limited: the rest of this run's GitHub work is skipped, not failed. */
export const isGithubStop = (error: unknown): boolean =>
  error instanceof GithubBudgetExhaustedError || error instanceof GithubRateLimitedError;

export interface GithubUsage {
  readonly used: number;
  readonly budget: number;
  /** Why the run's GitHub work stopped for a rate limit, or null. */
  readonly rateLimited: string | null;
}

export interface GithubCallBudget {
  /** For octokit's `request.hook` (AppSessionOptions.requestHook). */
  readonly hook: RequestHook;
  /** A fresh budget and deadline (epoch ms) for one run. Before the first, calls are not limited. */
  startRun(limits: { budget: number; deadline: number }): void;
  /**
   * Allows `calls` more calls from now on in this run. The reconciler's dispatches run unmetered
   * first (a dispatch cut off between its JIT registration and its launch would leave a runner
   * registered for nothing; `maxDispatches` bounds them); its recovery work is metered after them.
   */
  limit(calls: number): void;
  /**
   * Runs `work` with its calls counted but never refused for the budget (rate limits still apply):
   * a dispatch cut off between its JIT registration and its launch would leave a registration behind.
   */
  unmetered<T>(work: () => Promise<T>): Promise<T>;
  usage(): GithubUsage;
  /** Calls left in this run. */
  remaining(): number;
  /** The pause GitHub asked for that has not ended yet (epoch ms), to keep beyond this container. */
  pause(): { readonly until: number; readonly why: string } | null;
  /** A pause a run of another container was asked for: no call before it ends. */
  pauseUntil(until: number, why: string): void;
}

export interface CallBudgetOptions {
  /** The longest wait worth taking inside a run. @default 10_000 */
  readonly maxWaitMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

type Headers = Record<string, string | number | undefined>;

const header = (headers: Headers | undefined, name: string): number | undefined => {
  const value = headers?.[name];
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
};

/** Milliseconds GitHub asks us to wait before the next call, or undefined when it asks nothing. */
const askedWait = (headers: Headers | undefined, now: number): number | undefined => {
  const retryAfter = header(headers, 'retry-after');
  if (retryAfter !== undefined) return Math.max(0, retryAfter * 1000);
  if (header(headers, 'x-ratelimit-remaining') !== 0) return undefined;
  const reset = header(headers, 'x-ratelimit-reset');
  // Without a reset time there is nothing to wait for: treat it as a long wait.
  return reset === undefined ? Number.POSITIVE_INFINITY : Math.max(0, reset * 1000 - now);
};

export const createGithubCallBudget = (options: CallBudgetOptions = {}): GithubCallBudget => {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const maxWaitMs = options.maxWaitMs ?? 10_000;
  let run = {
    budget: Number.POSITIVE_INFINITY,
    deadline: Number.POSITIVE_INFINITY,
    used: 0,
    /** No call before this (epoch ms): GitHub's last word on waiting, kept from run to run. */
    blockedUntil: 0,
    blockedWhy: '',
    stopped: null as string | null,
  };
  let unmeteredDepth = 0;

  /** Waits `ms` if that fits the run, else stops its GitHub work with `why`. */
  const waitOrStop = async (ms: number, why: string) => {
    if (ms <= maxWaitMs && now() + ms < run.deadline) {
      await sleep(ms);
      return;
    }
    run.stopped = `${why}; waiting ${Number.isFinite(ms) ? `${Math.ceil(ms / 1000)} s` : 'until an unknown reset'} does not fit this run`;
    throw new GithubRateLimitedError(run.stopped);
  };

  const beforeCall = async () => {
    if (run.stopped) throw new GithubRateLimitedError(run.stopped);
    if (unmeteredDepth === 0 && run.used >= run.budget) {
      throw new GithubBudgetExhaustedError(`GitHub budget of ${run.budget} calls spent for this run`);
    }
    // Past the deadline no new recovery call starts: a run killed by its timeout saves no cursor.
    if (unmeteredDepth === 0 && now() >= run.deadline) {
      throw new GithubBudgetExhaustedError("the run's time for GitHub work is up");
    }
    const blocked = run.blockedUntil - now();
    if (blocked > 0) await waitOrStop(blocked, run.blockedWhy);
    run.used += 1;
  };

  const hook: RequestHook = async (request, endpoint) => {
    for (let attempt = 0; ; attempt++) {
      await beforeCall();
      try {
        const response = await request(endpoint);
        // The last call allowed: the next one waits for the reset (or the run stops) instead of a 403.
        const spent = askedWait(response.headers as Headers, now());
        if (spent !== undefined && header(response.headers as Headers, 'retry-after') === undefined) {
          run.blockedUntil = now() + spent;
          run.blockedWhy = 'GitHub rate limit spent until its reset';
        }
        return response;
      } catch (error) {
        const { status, response } = error as { status?: number; response?: { headers?: Headers } };
        const wait = status === 403 || status === 429 ? askedWait(response?.headers, now()) : undefined;
        if (wait === undefined) throw error; // not a rate limit: a 403 for a missing permission stays one
        const why = `GitHub answered ${status} (rate limit) to ${endpoint.method} ${endpoint.url}`;
        // The wait holds for every later call, the next runs' too (this budget lives as long as the
        // container): calling again before it ends is what gets an integration banned.
        if (Number.isFinite(wait) && now() + wait > run.blockedUntil) {
          run.blockedUntil = now() + wait;
          run.blockedWhy = `${why}, which asked for a pause`;
        }
        if (attempt > 0) {
          run.stopped = `${why} again after waiting`;
          throw new GithubRateLimitedError(run.stopped, { cause: error });
        }
        await waitOrStop(wait, why);
      }
    }
  };

  return {
    hook,
    startRun({ budget, deadline }) {
      run = { ...run, budget, deadline, used: 0, stopped: null };
    },
    limit(calls) {
      run.budget = run.used + calls;
    },
    async unmetered(work) {
      unmeteredDepth += 1;
      try {
        return await work();
      } finally {
        unmeteredDepth -= 1;
      }
    },
    usage: () => ({ used: run.used, budget: run.budget, rateLimited: run.stopped }),
    remaining: () => (run.stopped ? 0 : Math.max(0, run.budget - run.used)),
    pause: () => (run.blockedUntil > now() ? { until: run.blockedUntil, why: run.blockedWhy } : null),
    pauseUntil(until, why) {
      if (until <= run.blockedUntil) return;
      run.blockedUntil = until;
      run.blockedWhy = why;
    },
  };
};
