import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoJobLedger, JOB_RETENTION_SECONDS } from '../../../shared/ledger/job-ledger.ts';
import type { WorkflowJobEvent } from '../../../shared/intake/workflow-job.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';
import { workflowJobEvent } from '../../support/workflow-job-event.ts';

const job = (action: WorkflowJobEvent['action'], extra: Partial<WorkflowJobEvent> = {}) =>
  workflowJobEvent({ action, ...extra });

describe('job ledger on DynamoDB', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  beforeEach(async () => {
    db = await startDynamoForTest();
  });
  afterEach(async () => db.close());

  let n = 0;
  const by = (at = new Date()) => ({ deliveryId: `d${++n}`, bodyHash: `h${n}`, receivedAt: at });
  const row = async () => (await db.dynamo.scan('JobsTable'))[0]!;

  it('moves status forward only: a late queued after in_progress changes nothing', async () => {
    const ledger = createDynamoJobLedger(db.call, 'JobsTable');
    expect(await ledger.recordWebhook(job('queued'), by())).toEqual({ changed: true });
    expect(await ledger.recordWebhook(job('in_progress', { runnerName: 'r-42' }), by())).toEqual({
      changed: true,
    });
    expect(await ledger.recordWebhook(job('queued'), by())).toEqual({ changed: false });
    expect(await row()).toMatchObject({ status: 'in_progress', runnerName: 'r-42' });
    expect(await ledger.recordWebhook(job('completed', { conclusion: 'success' }), by())).toEqual({
      changed: true,
    });
    expect(await ledger.recordWebhook(job('in_progress'), by())).toEqual({ changed: false });
    expect(await row()).toMatchObject({ status: 'completed', conclusion: 'success' });
  });

  it('follows queued → waiting → queued (environment approval) and ignores a repeated queued', async () => {
    const ledger = createDynamoJobLedger(db.call, 'JobsTable');
    expect((await ledger.recordWebhook(job('queued'), by())).changed).toBe(true);
    expect((await ledger.recordWebhook(job('waiting'), by())).changed).toBe(true);
    expect((await ledger.recordWebhook(job('queued'), by())).changed).toBe(true);
    expect((await ledger.recordWebhook(job('queued'), by())).changed).toBe(false);
    expect((await row()).status).toBe('queued');
  });

  it('applies the same body again, so a retried delivery whose publish failed is published', async () => {
    const ledger = createDynamoJobLedger(db.call, 'JobsTable');
    const first = by();
    await ledger.recordWebhook(job('queued'), first);
    expect(await ledger.recordWebhook(job('queued'), { ...first, receivedAt: new Date() })).toEqual({
      changed: true,
    });
  });

  it('keys rows by job id and run attempt and keeps the first time a state was seen', async () => {
    const ledger = createDynamoJobLedger(db.call, 'JobsTable');
    const t1 = new Date('2026-11-23T10:00:00Z');
    await ledger.recordWebhook(job('queued'), by(t1));
    await ledger.recordWebhook(job('waiting'), by(new Date('2026-11-23T10:01:00Z')));
    await ledger.recordWebhook(job('queued', { runAttempt: 2 }), by());
    const rows = await db.dynamo.scan('JobsTable');
    expect(rows.map((r) => r.pk).sort()).toEqual(['42#1', '42#2']);
    expect(rows.find((r) => r.pk === '42#1')!.queuedAt).toBe(t1.toISOString());
  });
  it("writes a TTL past GitHub's 35-day run limit, pushed back by every webhook about the job", async () => {
    const ledger = createDynamoJobLedger(db.call, 'JobsTable');
    const queuedAt = new Date('2026-11-23T10:00:00Z');
    await ledger.recordWebhook(job('queued'), by(queuedAt));
    const epoch = (date: Date) => Math.floor(date.getTime() / 1000);
    expect((await row()).expiresAt).toBe(epoch(queuedAt) + JOB_RETENTION_SECONDS);
    expect(JOB_RETENTION_SECONDS).toBeGreaterThan(35 * 24 * 3600);
    const completedAt = new Date('2026-12-20T10:00:00Z');
    await ledger.recordWebhook(job('completed', { conclusion: 'success' }), by(completedAt));
    expect((await row()).expiresAt).toBe(epoch(completedAt) + JOB_RETENTION_SECONDS);
  });
});
