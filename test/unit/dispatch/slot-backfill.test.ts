import { describe, expect, it } from 'vitest';
import { JobLeasedError, type DispatchOutcome } from '../../../shared/dispatch/dispatch-job.ts';
import { createSlotBackfill } from '../../../shared/dispatch/slot-backfill.ts';
import type { PendingJob } from '../../../shared/ledger/pending-jobs.ts';
import { NOW, pendingJob } from '../../support/pending-job.ts';

const waiting = (jobId: number, pools: string[], extra: Partial<PendingJob> = {}) => ({
  pools,
  job: pendingJob(jobId, { updatedAt: new Date(NOW.getTime() - 60_000), ...extra }),
});

const backfill = (
  rows: ReturnType<typeof waiting>[],
  outcome: (jobId: number) => DispatchOutcome | never,
) => {
  const dispatched: number[] = [];
  const poolsOf = new Map(rows.map((r) => [r.job.detail.jobId, r.pools]));
  const run = createSlotBackfill(
    { oldest: async (limit) => rows.map((r) => r.job).slice(0, limit) },
    () => ({
      poolsFor: (job) => poolsOf.get(job.jobId) ?? [],
      async dispatch(job) {
        dispatched.push(job.jobId);
        return outcome(job.jobId);
      },
    }),
    { info() {} },
    () => NOW,
  );
  return { run, dispatched };
};

const launched = (): DispatchOutcome => ({ outcome: 'launched', pool: 'p', resourceId: 'r' });

describe('a freed slot', () => {
  it('goes to the oldest job waiting for that pool, or for a pool whose fallbacks reach it', async () => {
    const { run, dispatched } = backfill(
      [waiting(1, ['arm64']), waiting(2, ['linux', 'linux-codebuild']), waiting(3, ['linux-codebuild'])],
      launched,
    );
    await run('linux-codebuild');
    expect(dispatched).toEqual([2]);
  });

  it('skips jobs with no reason (their own event is on the way) and jobs a dispatcher holds', async () => {
    const { run, dispatched } = backfill(
      [
        waiting(1, ['linux'], { reason: null }),
        waiting(2, ['linux'], { dispatchLeaseUntil: NOW.getTime() / 1000 + 30 }),
        waiting(3, ['linux'], { status: 'unmatched' }),
        waiting(4, ['linux']),
      ],
      launched,
    );
    await run('linux');
    expect(dispatched).toEqual([4]);
  });

  it('tries the next waiting job when one launches nothing, at most three', async () => {
    const { run, dispatched } = backfill(
      [1, 2, 3, 4, 5].map((id) => waiting(id, ['linux'])),
      (jobId) => {
        if (jobId === 1) throw new JobLeasedError('another dispatcher holds the job');
        return { outcome: 'no-capacity', reason: 'linux: all 2 slots in use' };
      },
    );
    await run('linux');
    expect(dispatched).toEqual([1, 2, 3]);
  });
});
