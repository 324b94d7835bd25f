import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoLedgerReads } from '../../../shared/ledger/ledger-reads.ts';
import { createDynamoRecoveryStore, type RecoveryStore } from '../../../shared/reconcile/recovery-store.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

/** The reconciler's records and ledger reads on the twin's DynamoDB (dynalite): conditions as on AWS. */
let db: Awaited<ReturnType<typeof startDynamoForTest>>;
let store: RecoveryStore;
beforeAll(async () => {
  db = await startDynamoForTest();
  store = createDynamoRecoveryStore(db.call, 'LeasesTable');
});
afterAll(async () => db?.close());

const NOW = new Date('2026-11-24T12:00:00Z');

describe('recovery records in the leases table', () => {
  it('saves a cursor only over the version it read, so the slower of two runs does not overwrite', async () => {
    // Prepare
    const first = await store.load('hook-cursor#app');
    // Act
    const a = await store.save('hook-cursor#app', { watermark: 10 }, first.version);
    const b = await store.save('hook-cursor#app', { watermark: 9 }, first.version);
    // Assess
    expect([a, b]).toEqual([true, false]);
    expect(await store.load('hook-cursor#app')).toEqual({ value: { watermark: 10 }, version: 1 });
    expect(
      await db.call('GetItem', { TableName: 'LeasesTable', Key: { pk: { S: 'recovery#hook-cursor#app' } } }),
    ).toHaveProperty('Item');
  });

  it('lets a guid be claimed once until the claim expires or is given back', async () => {
    expect(await store.claim('redelivered#g1', 60, NOW)).toBe(true);
    expect(await store.claim('redelivered#g1', 60, NOW)).toBe(false);
    expect(await store.claim('redelivered#g1', 60, new Date(NOW.getTime() + 61_000))).toBe(true);
    await store.unclaim('redelivered#g1');
    expect(await store.claim('redelivered#g1', 60, NOW)).toBe(true);
  });
});

describe('ledger reads for the GitHub recovery', () => {
  const row = (
    pk: string,
    rank: number,
    queuedAt: string,
    repository: string,
    extra: Record<string, unknown> = {},
  ) =>
    db.call('PutItem', {
      TableName: 'JobsTable',
      Item: {
        pk: { S: pk },
        statusRank: { N: String(rank) },
        pendingRank: { N: String(rank) },
        queuedAt: { S: queuedAt },
        repository: { S: repository },
        owner: { S: repository.split('/')[0]! },
        status: { S: ['queued', 'dispatched', 'in_progress', 'completed'][rank]! },
        ...extra,
      },
    });

  it('lists the repositories of jobs queued since a time, whatever their status now, once each', async () => {
    await row('1#1', 0, '2026-11-24T11:59:00Z', 'acme/app', { installationId: { N: '77' } });
    await row('2#1', 3, '2026-11-24T11:58:00Z', 'acme/web');
    await row('3#1', 2, '2026-11-24T11:57:00Z', 'acme/app');
    await row('4#1', 1, '2026-11-24T09:00:00Z', 'acme/old');
    const reads = createDynamoLedgerReads(db.call, 'JobsTable');
    const repos = await reads.repositoriesQueuedSince('2026-11-24T11:00:00Z', 100);
    expect(repos.sort((x, y) => x.repository.localeCompare(y.repository))).toEqual([
      { repository: 'acme/app', owner: 'acme', installationId: 77 },
      { repository: 'acme/web', owner: 'acme', installationId: null },
    ]);
  });

  it("reads a job's status, recorded runner and dispatch lease, and nothing for a job it never saw", async () => {
    await row('9#2', 1, '2026-11-24T11:59:00Z', 'acme/app', {
      runnerId: { N: '41' },
      dispatchLeaseUntil: { N: '1764000000.5' },
    });
    const reads = createDynamoLedgerReads(db.call, 'JobsTable');
    expect(await reads.launchOf('9#2')).toEqual({
      status: 'dispatched',
      runnerId: 41,
      dispatchLeaseUntil: 1764000000.5,
    });
    expect(await reads.launchOf('404#1')).toBeUndefined();
  });
});
