import { describe, expect, it } from 'vitest';
import { JobLeasedError, type DispatchOutcome } from '../../../shared/dispatch/dispatch-job.ts';
import type { PendingJob } from '../../../shared/ledger/pending-jobs.ts';
import { NOW, pendingJob, secondsAgo } from '../../support/pending-job.ts';
import { reconcilePendingJobs } from '../../../shared/reconcile/reconcile-jobs.ts';

const pending = pendingJob;

const run = async (
  jobs: PendingJob[],
  dispatch: (jobId: number) => Promise<DispatchOutcome> | never,
  max = 25,
) => {
  const calls: { jobId: number; redelivered?: boolean }[] = [];
  const warnings: unknown[] = [];
  const report = await reconcilePendingJobs(
    {
      oldest: async (limit) => jobs.slice(0, limit),
      oldestDispatched: async () => [],
      runningSince: async () => [],
      noteChecked: async () => {},
      statusOf: async () => 'queued',
    },
    {
      async dispatch(job, options) {
        calls.push({ jobId: job.jobId, redelivered: options?.redelivered });
        return dispatch(job.jobId);
      },
      release: async () => {},
      recheck: async () => 'left' as const,
    },
    { heldSlots: async () => [] },
    { warn: (message: string) => void warnings.push(message) },
    { now: () => NOW, quietSeconds: 120, maxDispatches: max },
  );
  return { report, calls, warnings };
};

const launched = async (): Promise<DispatchOutcome> => ({
  outcome: 'launched',
  pool: 'linux',
  resourceId: 'i-1',
});

describe('runner reconciler', () => {
  it('dispatches jobs left queued with a reason, oldest first, as redeliveries', async () => {
    const { report, calls } = await run(
      [pending(1, { queuedAt: secondsAgo(90) }), pending(2, { queuedAt: secondsAgo(45) })],
      launched,
    );
    expect(calls).toEqual([
      { jobId: 1, redelivered: true },
      { jobId: 2, redelivered: true },
    ]);
    expect(report).toEqual({
      released: [],
      closed: [],
      relaunched: [],
      examined: 2,
      dispatched: [
        { jobId: 1, outcome: 'launched' },
        { jobId: 2, outcome: 'launched' },
      ],
      failed: 0,
      // Read from the rows the run looked at: the oldest had waited 90 s.
      oldestQueuedAgeSeconds: 90,
    });
  });

  it('leaves a row with no reason alone until it has been quiet long enough for its own event', async () => {
    const fresh = pending(1, { reason: null, updatedAt: secondsAgo(60) });
    const lost = pending(2, { reason: null, updatedAt: secondsAgo(121) });
    expect((await run([fresh, lost], launched)).calls.map((c) => c.jobId)).toEqual([2]);
  });

  it('skips jobs a dispatcher holds, and unmatched or failed ones, which wait for a config change', async () => {
    const held = pending(1, { dispatchLeaseUntil: NOW.getTime() / 1000 + 5 });
    const expired = pending(2, { dispatchLeaseUntil: NOW.getTime() / 1000 - 5 });
    const unmatched = pending(3, { status: 'unmatched' });
    const failed = pending(4, { status: 'failed' });
    const waiting = pending(5, { status: 'waiting' });
    const { calls } = await run([held, expired, unmatched, failed, waiting], launched);
    expect(calls.map((c) => c.jobId)).toEqual([2, 5]);
  });

  it('starts no dispatch past its share of the run, leaving the rest for the next', async () => {
    let clock = NOW.getTime();
    const jobs = [1, 2, 3].map((jobId) => pending(jobId));
    const dispatched: number[] = [];
    const report = await reconcilePendingJobs(
      {
        oldest: async () => jobs,
        oldestDispatched: async () => [],
        runningSince: async () => [],
        noteChecked: async () => {},
        statusOf: async () => 'queued',
      },
      {
        async dispatch(job) {
          dispatched.push(job.jobId);
          clock += 1_000; // each dispatch takes a second
          return launched();
        },
        release: async () => {},
        recheck: async () => 'left' as const,
      },
      { heldSlots: async () => [] },
      { warn: () => {} },
      { now: () => new Date(clock), stopAt: new Date(NOW.getTime() + 1_500) },
    );
    expect(dispatched).toEqual([1, 2]);
    expect(report.dispatched).toHaveLength(2);
  });

  it('stops at its budget per run and counts failures without stopping for them', async () => {
    const jobs = [1, 2, 3, 4, 5].map((id) => pending(id));
    const { report, calls, warnings } = await run(
      jobs,
      async (jobId) => {
        if (jobId === 1) throw new JobLeasedError('another dispatcher holds the job');
        if (jobId === 2) throw Object.assign(new Error('down'), { name: 'InternalServerError' });
        return launched();
      },
      3,
    );
    // The leased one does not count against the budget; the failure does.
    expect(calls.map((c) => c.jobId)).toEqual([1, 2, 3, 4]);
    expect(report.failed).toBe(1);
    expect(report.dispatched.map((d) => d.jobId)).toEqual([3, 4]);
    expect(warnings).toHaveLength(1);
  });

  it('gives back the slot of a job the ledger says completed, whose completed event never reached the dispatcher', async () => {
    const statuses: Record<string, string | undefined> = {
      '7#1': 'completed',
      '8#1': 'in_progress',
      '9#1': 'dispatched',
    };
    const released: string[] = [];
    const report = await reconcilePendingJobs(
      {
        oldest: async () => [],
        oldestDispatched: async () => [],
        runningSince: async () => [],
        noteChecked: async () => {},
        statusOf: async (jobKey) => statuses[jobKey],
      },
      {
        dispatch: async () => launched(),
        release: async (job) => void released.push(`${job.jobId}#${job.runAttempt}`),
        recheck: async () => 'left' as const,
      },
      {
        heldSlots: async () => [
          { jobKey: '7#1', pool: 'linux' },
          { jobKey: '8#1', pool: 'linux' },
          { jobKey: '9#1', pool: 'linux-codebuild' },
        ],
      },
      { warn: () => {} },
      { now: () => NOW },
    );
    // A running or just-dispatched job keeps its slot.
    expect(released).toEqual(['7#1']);
    expect(report.released).toEqual(['7#1']);
  });
});

describe('the reconciler, with a job whose completed was lost for good', () => {
  it('re-checks a long-running job against GitHub: closed there is closed here; otherwise noted and left', async () => {
    const launch = { pool: 'linux', provider: 'ec2-wake', resourceId: 'i-1' };
    const running = [7, 8].map((jobId) => ({
      ...pendingJob(jobId, { status: 'in_progress' }),
      launch,
      dispatchedAt: secondsAgo(3600),
    }));
    const noted: string[] = [];
    const report = await reconcilePendingJobs(
      {
        oldest: async () => [],
        oldestDispatched: async () => [],
        runningSince: async (before) => (before < NOW ? running : []),
        noteChecked: async (jobKey) => void noted.push(jobKey),
        statusOf: async () => 'in_progress',
      },
      {
        dispatch: async () => launched(),
        release: async () => {},
        // GitHub finished 7 long ago; 8 still runs.
        recheck: async (job) => (job.jobId === 7 ? ('closed' as const) : ('left' as const)),
      },
      { heldSlots: async () => [] },
      { warn: () => {} },
      { now: () => NOW, staleSeconds: 600 },
    );
    expect(report.closed).toEqual([7]);
    expect(noted).toEqual(['8#1']);
  });
});
