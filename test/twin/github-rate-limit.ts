import type { FaultTargetDefinition, InjectedError } from './faults.ts';

/**
 * GitHub's rate-limit headers, counted per caller (the App, each installation, anonymous) in
 * one-hour windows, and the `github:Api` faults that stand for GitHub refusing a call: a secondary
 * rate limit (403 + `retry-after`), the primary limit used up (403, `x-ratelimit-remaining: 0`,
 * `x-ratelimit-reset` in the future) or a 502 from GHES's front end.
 * https://docs.github.com/enterprise-server@3.14/rest/using-the-rest-api/rate-limits-for-the-rest-api
 */
export const githubApiFault = (routes: readonly string[]): FaultTargetDefinition => ({
  errors: { SecondaryRateLimit: 403, RateLimited: 403, ServerError: 502 },
  filters: { route: routes },
  /** Seconds until the caller may try again (`retry-after`, or the reset). @default 60 */
  settings: ['retryAfter'],
});

const LIMITS: Record<string, number> = { app: 5000, installation: 5000, anonymous: 60 };
const WINDOW_MS = 3_600_000;

export const createRateLimits = (now: () => number) => {
  const windows = new Map<string, { resetAt: number; used: number }>();
  const windowOf = (caller: string) => {
    let window = windows.get(caller);
    if (!window || window.resetAt <= now()) {
      window = { resetAt: now() + WINDOW_MS, used: 0 };
      windows.set(caller, window);
    }
    return window;
  };
  const headers = (limit: number, used: number, resetAt: number) => ({
    'x-ratelimit-limit': String(limit),
    'x-ratelimit-remaining': String(Math.max(0, limit - used)),
    'x-ratelimit-reset': String(Math.ceil(resetAt / 1000)),
    'x-ratelimit-used': String(used),
    'x-ratelimit-resource': 'core',
  });

  return {
    /** Counts one call by `caller` (`app`, `installation:<owner>`, `anonymous`); its headers. */
    count(caller: string): Record<string, string> {
      const window = windowOf(caller);
      window.used++;
      return headers(LIMITS[caller.split(':')[0]!] ?? 5000, window.used, window.resetAt);
    },
    /** The answer GitHub gives instead when a `github:Api` fault fires. */
    refusal(caller: string, injected: InjectedError) {
      const limit = LIMITS[caller.split(':')[0]!] ?? 5000;
      const window = windowOf(caller);
      const wait = injected.settings.retryAfter ?? 60;
      const docs = 'https://docs.github.com/enterprise-server/rest/overview/rate-limits-for-the-rest-api';
      if (injected.code === 'SecondaryRateLimit')
        return {
          status: 403,
          headers: { ...headers(limit, window.used, window.resetAt), 'retry-after': String(wait) },
          body: {
            message:
              'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
            documentation_url: docs,
          },
        };
      if (injected.code === 'RateLimited')
        return {
          status: 403,
          headers: headers(limit, limit, now() + wait * 1000),
          body: { message: `API rate limit exceeded for ${caller}.`, documentation_url: docs },
        };
      return {
        status: 502,
        headers: headers(limit, window.used, window.resetAt),
        body: { message: 'Server Error' },
      };
    },
  };
};
