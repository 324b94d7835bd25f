import type { Answer, JobView, RouteTable } from './github-api.ts';

/**
 * Workflow runs as GHES derives them from their jobs: every job the twin knows belongs to the run
 * of its `run_id`. A run is `queued` while all its jobs are queued or waiting, `in_progress` while
 * any job runs or some are done and some still queued, `completed` when all are.
 * https://docs.github.com/enterprise-server@3.14/rest/actions/workflow-runs
 * https://docs.github.com/enterprise-server@3.14/rest/actions/workflow-jobs
 */
export type RunStatus = 'queued' | 'in_progress' | 'completed';

export const runStatusOf = (jobs: readonly Pick<JobView, 'status'>[]): RunStatus => {
  if (jobs.every((j) => j.status === 'completed')) return 'completed';
  if (jobs.every((j) => j.status === 'queued' || j.status === 'waiting')) return 'queued';
  return 'in_progress';
};

const RUN_STATUSES = ['queued', 'in_progress', 'completed'];
const DOCS = 'https://docs.github.com/enterprise-server/rest';

/** GitHub's `page`/`per_page`: per_page 1–100 (default 30), pages from 1. */
export const paged = <T>(items: readonly T[], query: URLSearchParams) => {
  const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 30) || 30));
  const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
  return items.slice((page - 1) * perPage, page * perPage);
};

const latestOf = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);

const restRun = (jobs: readonly JobView[]) => {
  const first = jobs[0]!;
  const created =
    jobs
      .map((j) => j.createdAt)
      .filter((t): t is string => t !== null)
      .sort()[0] ?? null;
  const updated = jobs
    .flatMap((j) => [j.createdAt, j.startedAt, j.completedAt])
    .reduce<string | null>(latestOf, null);
  const status = runStatusOf(jobs);
  const conclusions = jobs.map((j) => j.conclusion);
  return {
    id: first.runId,
    run_attempt: Math.max(...jobs.map((j) => j.runAttempt)),
    name: first.workflowName,
    status,
    conclusion:
      status !== 'completed'
        ? null
        : (conclusions.find((c) => c !== 'success' && c !== 'skipped') ?? 'success'),
    head_branch: first.headBranch,
    head_sha: first.headSha,
    created_at: created,
    updated_at: updated,
    repository: { id: first.repositoryId, full_name: first.repository },
  };
};

const restJob = (j: JobView) => ({
  id: j.id,
  run_id: j.runId,
  run_attempt: j.runAttempt,
  status: j.status,
  conclusion: j.conclusion,
  labels: [...j.labels],
  workflow_name: j.workflowName,
  head_branch: j.headBranch,
  head_sha: j.headSha,
  runner_id: j.runnerId,
  runner_name: j.runnerName,
  runner_group_id: j.runnerGroupId,
  created_at: j.createdAt,
  started_at: j.startedAt,
  completed_at: j.completedAt,
  name: j.name,
});

export const registerRunRoutes = (route: RouteTable, jobs: () => readonly JobView[]) => {
  const jobsOf = (owner: string, repo: string) => {
    const fullName = `${owner}/${repo}`.toLowerCase();
    return jobs().filter((j) => j.repository.toLowerCase() === fullName);
  };

  route('GET /repos/{owner}/{repo}/actions/runs', 'token', (p, _s, _b, query): Answer => {
    const status = query.get('status');
    if (status !== null && !RUN_STATUSES.includes(status))
      return [422, { message: `Invalid status: ${status}`, documentation_url: DOCS }];
    const byRun = new Map<number, JobView[]>();
    for (const job of jobsOf(p.owner ?? '', p.repo ?? ''))
      byRun.set(job.runId, [...(byRun.get(job.runId) ?? []), job]);
    const runs = [...byRun.values()]
      .map(restRun)
      .filter((run) => status === null || run.status === status)
      // Newest first, as GitHub lists them; run ids grow with time, so they break ties.
      .sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)) || b.id - a.id);
    return [200, { total_count: runs.length, workflow_runs: paged(runs, query) }];
  });

  route('GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs', 'token', (p, _s, _b, query): Answer => {
    const ofRun = jobsOf(p.owner ?? '', p.repo ?? '').filter((j) => j.runId === Number(p.run_id));
    if (!ofRun.length) return [404, { message: 'Not Found', documentation_url: DOCS }];
    const latest = Math.max(...ofRun.map((j) => j.runAttempt));
    const listed = query.get('filter') === 'all' ? ofRun : ofRun.filter((j) => j.runAttempt === latest);
    const sorted = [...listed].sort((a, b) => a.id - b.id);
    return [200, { total_count: sorted.length, jobs: paged(sorted, query).map(restJob) }];
  });
};
