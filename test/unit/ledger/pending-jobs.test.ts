import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDispatchRecords } from '../../../shared/ledger/dispatch-records.ts';
import { createDynamoJobLedger } from '../../../shared/ledger/job-ledger.ts';
import { createDynamoPendingJobs } from '../../../shared/ledger/pending-jobs.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';
import { workflowJobEvent } from '../../support/workflow-job-event.ts';

/** The reconciler's read of jobs still waiting for a runner, on the twin's DynamoDB (dynalite). */
let db: Awaited<ReturnType<typeof startDynamoForTest>>;
beforeAll(async () => {
  db = await startDynamoForTest();
});
afterAll(async () => db?.close());

describe('pending jobs, oldest first', () => {
  it('finds a waiting job behind more old unmatched and failed jobs than it reads in one run', async () => {
    // Prepare: 30 old jobs no pool takes (or GitHub no longer has), then one that waits for capacity.
    const ledger = createDynamoJobLedger(db.call, 'JobsTable');
    const records = createDynamoDispatchRecords(db.call, 'JobsTable');
    const pending = createDynamoPendingJobs(db.call, 'JobsTable');
    const queue = async (jobId: number, minute: number) => {
      const receivedAt = new Date(Date.UTC(2026, 10, 29, 10, minute));
      await ledger.recordWebhook(workflowJobEvent({ action: 'queued', jobId }), {
        deliveryId: `d-${jobId}`,
        bodyHash: `h-${jobId}`,
        receivedAt,
      });
      return { key: `${jobId}#1`, receivedAt };
    };
    for (let i = 0; i < 30; i++) {
      const { key, receivedAt } = await queue(9_000 + i, i);
      expect(await records.claim(key, 'owner', receivedAt, 60)).toEqual({ claimed: true });
      const status = i % 2 ? 'unmatched' : 'failed';
      await records.notLaunched(key, 'owner', status, 'no pool', receivedAt);
    }
    const waiting = await queue(9_999, 45);
    expect(await records.claim(waiting.key, 'owner', waiting.receivedAt, 60)).toEqual({ claimed: true });
    await records.notLaunched(waiting.key, 'owner', 'queued', 'no capacity: linux', waiting.receivedAt);

    // Act: the reconciler reads 25 rows a run.
    const oldest = await pending.oldest(25);

    // Assess: the job that can still get a runner is there; the closed-out ones are not.
    expect(oldest.map((job) => job.detail.jobId)).toEqual([9_999]);
    expect(oldest[0]).toMatchObject({ status: 'queued', reason: 'no capacity: linux' });
  });
});

describe('running jobs to re-check', () => {
  it('lists a job in progress since before the cutoff, and skips it for a while once re-checked', async () => {
    // Prepare: a job launched and taken by its runner at 10:00; its completed never arrives.
    const ledger = createDynamoJobLedger(db.call, 'JobsTable');
    const records = createDynamoDispatchRecords(db.call, 'JobsTable');
    const pending = createDynamoPendingJobs(db.call, 'JobsTable');
    const at = (minute: number) => new Date(Date.UTC(2026, 10, 29, 10, minute));
    const jobId = 8_888;
    const by = (n: number) => ({ deliveryId: `d-${n}`, bodyHash: `h-${n}`, receivedAt: at(0) });
    await ledger.recordWebhook(workflowJobEvent({ action: 'queued', jobId }), by(1));
    expect(await records.claim(`${jobId}#1`, 'owner', at(0), 60)).toEqual({ claimed: true });
    await records.dispatched(`${jobId}#1`, 'owner', {
      pool: 'linux',
      provider: 'ec2-wake',
      resourceId: 'i-1',
      at: at(0),
    });
    await ledger.recordWebhook(workflowJobEvent({ action: 'in_progress', jobId, runnerName: 'r' }), by(2));
    const listed = async (before: Date) =>
      (await pending.runningSince(before, 10)).map((job) => [job.detail.jobId, job.launch.resourceId]);

    // Act + assess: not yet at 10:00 itself; at 10:10 it is; re-checked at 10:10, it waits until a
    // cutoff past that.
    expect(await listed(at(0))).toEqual([]);
    expect(await listed(at(10))).toEqual([[jobId, 'i-1']]);
    await pending.noteChecked(`${jobId}#1`, at(10));
    expect(await listed(at(10))).toEqual([]);
    expect(await listed(at(11))).toEqual([[jobId, 'i-1']]);
  });
});
