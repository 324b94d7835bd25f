import { describe, expect, it } from 'vitest';
import type { WorkflowJobDetail } from '../../../shared/events/control-plane-events.ts';
import type { GithubJob, GithubRun } from '../../../shared/github/recovery-api.ts';
import type { JobLedger } from '../../../shared/ledger/job-ledger.ts';
import { discoverUnseenJobs } from '../../../shared/reconcile/discover-unseen-jobs.ts';
import { createRouter } from '../../../shared/routing/route-job.ts';

const NOW = new Date('2026-11-24T12:00:00Z');
const router = createRouter([
  {
    name: 'linux',
    provider: 'codebuild',
    labels: ['self-hosted', 'linux'],
    priority: 0,
    maxConcurrent: 5,
    idleMinutes: 10,
    codebuild: { project: 'runners' },
  },
]);
const REPO = { repository: 'acme/app', owner: 'acme', installationId: 77 };
const RUN: GithubRun = { id: 500, runAttempt: 1, name: 'ci', headBranch: 'main' };
const job = (id: number, extra: Partial<GithubJob> = {}): GithubJob => ({
  id,
  runId: 500,
  runAttempt: 1,
  status: 'queued',
  labels: ['self-hosted', 'linux'],
  workflowName: 'ci',
  headBranch: 'main',
  name: `job ${id}`,
  createdAt: new Date(NOW.getTime() - 300_000),
  ...extra,
});

/** A ledger with the intake's rule: a row is written once; a second write of the same status changes nothing. */
const setup = (jobs: GithubJob[], known: string[] = []) => {
  const rows = new Map<string, string>(known.map((key) => [key, 'queued']));
  const dispatched: WorkflowJobDetail[] = [];
  const ledger: JobLedger = {
    async recordWebhook(event) {
      const key = `${event.jobId}#${event.runAttempt}`;
      if (rows.has(key)) return { changed: false };
      rows.set(key, event.action);
      return { changed: true };
    },
  };
  const deps = {
    api: { activeRuns: async () => [RUN], runJobs: async () => jobs },
    pending: { statusOf: async (key: string) => rows.get(key) },
    ledger,
    router,
    dispatcher: {
      dispatch: async (detail: WorkflowJobDetail) => {
        dispatched.push(detail);
        return { outcome: 'launched' as const, pool: 'linux', resourceId: 'build-1' };
      },
    },
    logger: { info: () => {}, warn: () => {} },
  };
  const discover = () =>
    discoverUnseenJobs([REPO], deps, { callsLeft: () => 20, now: NOW, quietSeconds: 120 });
  return { discover, rows, dispatched };
};

describe('queued jobs the ledger never saw', () => {
  it('writes the row and dispatches a queued, routable job that has been quiet long enough', async () => {
    // Prepare
    const { discover, rows, dispatched } = setup([
      job(1), // lost
      job(2, { createdAt: new Date(NOW.getTime() - 30_000) }), // its webhook may still be on its way
      job(3, { labels: ['windows'] }), // no pool of ours
      job(4, { status: 'in_progress' }), // a runner has it
      job(5), // the ledger has it
    ]);
    rows.set('5#1', 'queued');
    // Act
    const report = await discover();
    // Assess
    expect(report).toEqual({ discovered: [1], repositoriesChecked: 1, stopped: false });
    expect(rows.get('1#1')).toBe('queued');
    expect(dispatched).toEqual([
      expect.objectContaining({
        jobId: 1,
        runId: 500,
        repository: 'acme/app',
        installationId: 77,
        labels: ['self-hosted', 'linux'],
      }),
    ]);
  });

  it('dispatches a discovered job once when two runs find it at the same time', async () => {
    const { discover, dispatched } = setup([job(1)]);
    const [a, b] = await Promise.all([discover(), discover()]);
    expect([...a.discovered, ...b.discovered]).toEqual([1]);
    expect(dispatched).toHaveLength(1);
  });

  it('moves past a repository GitHub no longer knows to the next one', async () => {
    const { rows, dispatched } = setup([]);
    const gone = { repository: 'acme/deleted', owner: 'acme', installationId: 77 };
    const report = await discoverUnseenJobs(
      [gone, REPO],
      {
        api: {
          activeRuns: async (repository: string) => {
            if (repository === 'acme/deleted') throw Object.assign(new Error('Not Found'), { status: 404 });
            return [RUN];
          },
          runJobs: async () => [job(1)],
        },
        pending: { statusOf: async (key: string) => rows.get(key) },
        ledger: {
          recordWebhook: async (event) => {
            rows.set(`${event.jobId}#${event.runAttempt}`, 'queued');
            return { changed: true };
          },
        },
        router,
        dispatcher: {
          dispatch: async (detail: WorkflowJobDetail) => {
            dispatched.push(detail);
            return { outcome: 'skipped' as const, reason: '' };
          },
        },
        logger: { info: () => {}, warn: () => {} },
      },
      { callsLeft: () => 20, now: NOW },
    );
    expect(report).toEqual({ discovered: [1], repositoriesChecked: 2, stopped: false });
  });

  it('stops before a repository it has no calls left for, and says so', async () => {
    const { rows } = setup([job(1)]);
    const report = await discoverUnseenJobs(
      [REPO],
      {
        api: {
          activeRuns: async () => {
            throw new Error('must not be called');
          },
          runJobs: async () => [],
        },
        pending: { statusOf: async (key: string) => rows.get(key) },
        ledger: { recordWebhook: async () => ({ changed: true }) },
        router,
        dispatcher: { dispatch: async () => ({ outcome: 'skipped' as const, reason: '' }) },
        logger: { info: () => {}, warn: () => {} },
      },
      { callsLeft: () => 2, now: NOW },
    );
    expect(report).toEqual({ discovered: [], repositoriesChecked: 0, stopped: true });
  });
});
