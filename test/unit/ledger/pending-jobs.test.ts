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
