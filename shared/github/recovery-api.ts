import type { AppSession } from './app-session.ts';

/**
 * The GitHub calls of the reconciler's recovery work, as GHES's REST API has them
 * (docs.github.com/enterprise-server@3.14/rest): the hook delivery log and redelivery, the queued
 * runs and jobs of a repository, and the runners of a scope. Data in, data out; the caller decides.
 */
export type HookDeliverySource =
  { readonly source: 'app' } | { readonly source: 'org'; readonly org: string; readonly hookId: number };

export interface HookDelivery {
  /** Grows with every attempt; a redelivery gets a new id and keeps the guid. */
  readonly id: number;
  /** The `X-GitHub-Delivery` of the original delivery. */
  readonly guid: string;
  readonly deliveredAt: Date;
  readonly redelivery: boolean;
  /** 0 when there was no HTTP answer at all. */
  readonly statusCode: number;
  readonly event: string;
  readonly action: string | null;
}

export interface DeliveryPage {
  /** Newest first. */
  readonly deliveries: readonly HookDelivery[];
  /** The opaque cursor of the next (older) page, from the `Link` header; null on the last page. */
  readonly next: string | null;
}

export interface GithubRun {
  readonly id: number;
  readonly runAttempt: number;
  readonly name: string | null;
  readonly headBranch: string | null;
}

export interface GithubJob {
  readonly id: number;
  readonly runId: number;
  readonly runAttempt: number;
  readonly status: string;
  readonly labels: readonly string[];
  readonly workflowName: string | null;
  readonly headBranch: string | null;
  readonly name: string;
  readonly createdAt: Date;
}

export interface GithubRunner {
  readonly id: number;
  readonly name: string;
  readonly status: string;
  readonly busy: boolean;
}

/** Where runners are registered: the organisation, or one repository (config `github.runnerScope`). */
export type RunnerScope =
  | { readonly kind: 'org'; readonly org: string; readonly installationId: number | null }
  | { readonly kind: 'repo'; readonly repository: string; readonly installationId: number | null };

export interface GithubRecoveryApi {
  deliveries(cursor: string | null, perPage: number): Promise<DeliveryPage>;
  /** Asks GitHub to send the delivery again (same guid, `redelivery: true`). */
  redeliver(deliveryId: number): Promise<void>;
  /** Runs `queued` and `in_progress`, newest first, up to `perPage` of each. */
  activeRuns(repository: string, installationId: number | null, perPage: number): Promise<GithubRun[]>;
  /** The latest attempt's jobs of a run, up to `perPage`. */
  runJobs(
    repository: string,
    installationId: number | null,
    runId: number,
    perPage: number,
  ): Promise<GithubJob[]>;
  /** One page of the scope's runners; `more` when another page follows. */
  runners(
    scope: RunnerScope,
    page: number,
    perPage: number,
  ): Promise<{ runners: GithubRunner[]; more: boolean }>;
  /** Deletes a runner registration; one already gone is fine. */
  removeRunner(scope: RunnerScope, runnerId: number): Promise<void>;
}

/** `<…?per_page=100&cursor=v1|123>; rel="next"` → `v1|123`. */
export const nextCursor = (link: string | undefined): string | null => {
  const next = link
    ?.split(',')
    .map((part) => /<([^>]+)>\s*;\s*rel="next"/.exec(part)?.[1])
    .find(Boolean);
  if (!next) return null;
  return new URL(next, 'https://ghes.invalid').searchParams.get('cursor');
};

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

const toDelivery = (raw: Record<string, unknown>): HookDelivery => ({
  id: Number(raw.id),
  guid: String(raw.guid),
  deliveredAt: new Date(String(raw.delivered_at)),
  redelivery: raw.redelivery === true,
  statusCode: Number(raw.status_code ?? 0),
  event: String(raw.event),
  action: text(raw.action),
});

const toJob = (raw: Record<string, unknown>): GithubJob => ({
  id: Number(raw.id),
  runId: Number(raw.run_id),
  runAttempt: Number(raw.run_attempt ?? 1),
  status: String(raw.status),
  labels: Array.isArray(raw.labels) ? raw.labels.map(String) : [],
  workflowName: text(raw.workflow_name),
  headBranch: text(raw.head_branch),
  name: String(raw.name ?? ''),
  createdAt: new Date(String(raw.created_at ?? raw.started_at ?? 0)),
});

const notFound = (error: unknown) => (error as { status?: number }).status === 404;

export const createGithubRecoveryApi = (
  session: AppSession,
  source: HookDeliverySource,
): GithubRecoveryApi => {
  /** The App's own hook log takes the App JWT; an org hook's, that org's installation token. */
  const hookRequest = () =>
    source.source === 'app'
      ? session.appRequest()
      : session.installationRequest(source.org, `${source.org}/`, null);
  const hookPath = source.source === 'app' ? '/app/hook' : '/orgs/{org}/hooks/{hook_id}';
  const hookParams = source.source === 'app' ? {} : { org: source.org, hook_id: source.hookId };

  const repoRequest = (repository: string, installationId: number | null) =>
    session.installationRequest(repository.split('/')[0]!, repository, installationId);
  /** Path parameters, so octokit encodes them (a repository name comes from a webhook payload). */
  const repoParams = (repository: string) => {
    const [owner, repo] = repository.split('/') as [string, string];
    return { owner, repo };
  };
  const scopeRequest = (scope: RunnerScope) =>
    scope.kind === 'org'
      ? session.installationRequest(scope.org, `${scope.org}/`, scope.installationId)
      : repoRequest(scope.repository, scope.installationId);
  const scopePath = (scope: RunnerScope) => (scope.kind === 'org' ? '/orgs/{org}' : '/repos/{owner}/{repo}');
  const scopeParams = (scope: RunnerScope) =>
    scope.kind === 'org' ? { org: scope.org } : repoParams(scope.repository);

  return {
    async deliveries(cursor, perPage) {
      const api = await hookRequest();
      const { data, headers } = await api(`GET ${hookPath}/deliveries`, {
        ...hookParams,
        per_page: perPage,
        ...(cursor ? { cursor } : {}),
      });
      return {
        deliveries: (data as Record<string, unknown>[]).map(toDelivery),
        next: nextCursor(headers.link),
      };
    },

    async redeliver(deliveryId) {
      const api = await hookRequest();
      await api(`POST ${hookPath}/deliveries/{delivery_id}/attempts`, {
        ...hookParams,
        delivery_id: deliveryId,
      });
    },

    async activeRuns(repository, installationId, perPage) {
      const api = await repoRequest(repository, installationId);
      const runs: GithubRun[] = [];
      for (const status of ['queued', 'in_progress'] as const) {
        const { data } = await api('GET /repos/{owner}/{repo}/actions/runs', {
          ...repoParams(repository),
          status,
          per_page: perPage,
        });
        for (const run of (data as { workflow_runs?: Record<string, unknown>[] }).workflow_runs ?? []) {
          runs.push({
            id: Number(run.id),
            runAttempt: Number(run.run_attempt ?? 1),
            name: text(run.name),
            headBranch: text(run.head_branch),
          });
        }
      }
      return runs;
    },

    async runJobs(repository, installationId, runId, perPage) {
      const api = await repoRequest(repository, installationId);
      const { data } = await api('GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs', {
        ...repoParams(repository),
        run_id: runId,
        filter: 'latest',
        per_page: perPage,
      });
      return ((data as { jobs?: Record<string, unknown>[] }).jobs ?? []).map(toJob);
    },

    async runners(scope, page, perPage) {
      const api = await scopeRequest(scope);
      const { data } = await api(`GET ${scopePath(scope)}/actions/runners`, {
        ...scopeParams(scope),
        per_page: perPage,
        page,
      });
      const { total_count: total = 0, runners = [] } = data as {
        total_count?: number;
        runners?: Record<string, unknown>[];
      };
      return {
        runners: runners.map((runner) => ({
          id: Number(runner.id),
          name: String(runner.name),
          status: String(runner.status),
          busy: runner.busy === true,
        })),
        more: page * perPage < total,
      };
    },

    async removeRunner(scope, runnerId) {
      const api = await scopeRequest(scope);
      try {
        await api(`DELETE ${scopePath(scope)}/actions/runners/{runner_id}`, {
          ...scopeParams(scope),
          runner_id: runnerId,
        });
      } catch (error) {
        if (!notFound(error)) throw error; // already gone
      }
    },
  };
};
