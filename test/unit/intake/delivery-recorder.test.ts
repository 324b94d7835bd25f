import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoDeliveryRecorder } from '../../../shared/intake/delivery-recorder.ts';
import type { WorkflowJobEvent } from '../../../shared/intake/workflow-job.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';
import { workflowJobEvent } from '../../support/workflow-job-event.ts';

/** The intake's one write per delivery: claims and ledger change together, on the twin's DynamoDB. */
describe('delivery recorder on DynamoDB', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  beforeEach(async () => {
    db = await startDynamoForTest();
  });
  afterEach(async () => db.close());

  const tables = { deliveries: 'DeliveriesTable', jobs: 'JobsTable' };
  const t0 = new Date('2026-11-23T10:00:00Z');
  const later = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
  const job = (action: WorkflowJobEvent['action'], jobId = 7, extra: Partial<WorkflowJobEvent> = {}) =>
    workflowJobEvent({ action, jobId, ...extra });
  const by = (deliveryId: string, bodyHash: string, receivedAt = t0) => ({
    deliveryId,
    bodyHash,
    receivedAt,
  });
  const writes = () =>
    db.endpoint.calls.filter((call) => !call.target.endsWith('Scan')).map((call) => call.target);
  const jobRow = async (jobId: number) =>
    (await db.dynamo.scan('JobsTable')).find((row) => row.pk === `${jobId}#1`);

  it('claims the delivery and changes the ledger in one call; the same id or body is then a duplicate', async () => {
    const recorder = createDynamoDeliveryRecorder(db.call, tables);
    const first = await recorder.record(job('queued'), by('d1', 'hash-a'));
    expect(first).toMatchObject({ outcome: 'recorded', changed: true });
    expect(writes()).toEqual(['dynamodb:TransactWriteItems']);
    expect(await jobRow(7)).toMatchObject({ status: 'queued', lastDeliveryId: 'd1' });

    expect(await recorder.record(job('queued'), by('d1', 'hash-b', later(1)))).toEqual({
      outcome: 'duplicate',
    });
    // The body replayed under a new id, even for another job id inside it.
    expect(await recorder.record(job('in_progress', 8), by('d2', 'hash-a', later(1)))).toEqual({
      outcome: 'duplicate',
    });
    // A refused record writes nothing: job 8 has no row, and d2 / hash-b stay free.
    expect(await jobRow(8)).toBeUndefined();
    expect(await recorder.record(job('queued', 9), by('d2', 'hash-b', later(2)))).toMatchObject({
      outcome: 'recorded',
    });
  });

  it('lets exactly one of many concurrent records of one delivery win', async () => {
    const recorder = createDynamoDeliveryRecorder(db.call, tables);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => recorder.record(job('queued'), by('d1', 'hash-a'))),
    );
    expect(results.filter((r) => r.outcome === 'recorded')).toHaveLength(1);
  });

  it('claims a delivery the ledger is already past, in a second call, without changing the row', async () => {
    const recorder = createDynamoDeliveryRecorder(db.call, tables);
    await recorder.record(job('in_progress', 7, { runnerName: 'r-1' }), by('d1', 'hash-a'));
    const late = await recorder.record(job('queued'), by('d2', 'hash-b', later(1)));
    expect(late).toMatchObject({ outcome: 'recorded', changed: false });
    expect(await jobRow(7)).toMatchObject({ status: 'in_progress', lastDeliveryId: 'd1' });
    expect(writes()).toEqual([
      'dynamodb:TransactWriteItems',
      'dynamodb:TransactWriteItems',
      'dynamodb:TransactWriteItems',
    ]);
    // Claimed all the same: its redelivery is a duplicate.
    expect(await recorder.record(job('queued'), by('d2', 'hash-b', later(2)))).toEqual({
      outcome: 'duplicate',
    });
  });

  it('frees a released claim, and the redelivery of the same body changes the row and is published again', async () => {
    const recorder = createDynamoDeliveryRecorder(db.call, tables);
    const first = await recorder.record(job('queued'), by('d1', 'hash-a'));
    if (first.outcome !== 'recorded') throw new Error('expected the first record to win');
    await recorder.release(first.claim);
    expect(await recorder.record(job('queued'), by('d1', 'hash-a', later(5)))).toMatchObject({
      outcome: 'recorded',
      changed: true,
    });
  });

  it('hands a pending claim an earlier version left behind to a redelivery once its lease ran out', async () => {
    const recorder = createDynamoDeliveryRecorder(db.call, tables);
    const pending = (pk: string) => ({
      pk: { S: pk },
      claimState: { S: 'pending' },
      claimOwner: { S: 'old-version' },
      leaseUntil: { N: String(t0.getTime() / 1000 + 60) },
    });
    for (const pk of ['delivery#crashed', 'body#hash-c'])
      await db.call('PutItem', { TableName: 'DeliveriesTable', Item: pending(pk) });
    expect(await recorder.record(job('queued'), by('crashed', 'hash-c', later(30)))).toEqual({
      outcome: 'duplicate',
    });
    expect(await recorder.record(job('queued'), by('crashed', 'hash-c', later(61)))).toMatchObject({
      outcome: 'recorded',
    });
  });

  it('stores both claims done, with a TTL of three days', async () => {
    const recorder = createDynamoDeliveryRecorder(db.call, tables);
    await recorder.record(job('queued'), by('d1', 'hash-a'));
    const rows = await db.dynamo.scan('DeliveriesTable');
    expect(rows.map((r) => r.pk).sort()).toEqual(['body#hash-a', 'delivery#d1']);
    for (const row of rows) {
      expect(row).toMatchObject({ claimState: 'done', expiresAt: t0.getTime() / 1000 + 3 * 24 * 3600 });
      expect(row.leaseUntil).toBeUndefined();
    }
  });

  it('writes nothing when the transaction fails for another reason, and says so', async () => {
    const recorder = createDynamoDeliveryRecorder(db.call, tables);
    db.faults.arm({ target: 'dynamodb:TransactWriteItems', error: 'ValidationException', count: 1 });
    await expect(recorder.record(job('queued'), by('d1', 'hash-a'))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    expect(await db.dynamo.scan('DeliveriesTable')).toEqual([]);
    expect(await jobRow(7)).toBeUndefined();
  });
});
