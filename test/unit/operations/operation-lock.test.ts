import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoOperationLocks } from '../../../shared/operations/operation-lock.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

const at = (iso: string) => new Date(iso);
const request = (owner: string, now: Date, ttlSeconds = 600) => ({
  name: 'ghes',
  owner,
  operation: 'failover',
  requestedBy: 'U0OPS0001',
  ttlSeconds,
  now,
});

describe('operation locks on DynamoDB', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  beforeEach(async () => {
    db = await startDynamoForTest();
  });
  afterEach(async () => db.close());

  it('gives the lock to exactly one of 25 executions asking at once; the others learn who holds it', async () => {
    // Prepare
    const locks = createDynamoOperationLocks(db.call, 'OperationsTable');
    const now = at('2026-11-30T02:00:00.000Z');
    // Act
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, (_, i) => locks.acquire(request(`failover-${i}`, now))),
    );
    // Assess
    const winners = outcomes.flatMap((o, i) => (o.acquired ? [`failover-${i}`] : []));
    expect(winners).toHaveLength(1);
    for (const outcome of outcomes.filter((o) => !o.acquired))
      expect(outcome).toEqual({
        acquired: false,
        holder: {
          name: 'ghes',
          owner: winners[0],
          operation: 'failover',
          requestedBy: 'U0OPS0001',
          acquiredAt: '2026-11-30T02:00:00.000Z',
          expiresAt: '2026-11-30T02:10:00.000Z',
        },
      });
    expect((await locks.holder('ghes', now))?.owner).toBe(winners[0]);
  });

  it('lets the same owner take it again and extends it, keeping when it was first taken', async () => {
    const locks = createDynamoOperationLocks(db.call, 'OperationsTable');
    expect(await locks.acquire(request('failover-a', at('2026-11-30T02:00:00Z'), 60))).toEqual({
      acquired: true,
    });
    expect(await locks.acquire(request('failover-a', at('2026-11-30T02:00:30Z'), 3600))).toEqual({
      acquired: true,
    });
    // Past the first expiry, the extension still holds it against others.
    const later = at('2026-11-30T02:30:00Z');
    expect(await locks.acquire(request('failover-b', later))).toMatchObject({ acquired: false });
    expect(await locks.holder('ghes', later)).toMatchObject({
      owner: 'failover-a',
      acquiredAt: '2026-11-30T02:00:00.000Z',
      expiresAt: '2026-11-30T03:00:30.000Z',
    });
  });

  it('treats a lock past its expiry as free even while its row is still there (TTL deletes late)', async () => {
    const locks = createDynamoOperationLocks(db.call, 'OperationsTable');
    await locks.acquire(request('failover-dead', at('2026-11-30T02:00:00Z'), 60));
    const after = at('2026-11-30T02:01:01Z');
    expect(await locks.holder('ghes', after)).toBeNull();
    expect((await db.dynamo.scan('OperationsTable')).map((row) => row.pk)).toEqual(['lock#ghes']);
    expect(await locks.acquire(request('failover-next', after))).toEqual({ acquired: true });
    expect(await locks.holder('ghes', after)).toMatchObject({
      owner: 'failover-next',
      acquiredAt: '2026-11-30T02:01:01.000Z',
    });
    // The old owner's late release must not free the new owner's lock.
    expect(await locks.release('ghes', 'failover-dead')).toBe(false);
    expect((await locks.holder('ghes', after))?.owner).toBe('failover-next');
  });

  it('releases only for its owner, once; the row leaves the table', async () => {
    const locks = createDynamoOperationLocks(db.call, 'OperationsTable');
    const now = at('2026-11-30T02:00:00Z');
    await locks.acquire(request('failover-a', now));
    expect(await locks.release('ghes', 'failover-b')).toBe(false);
    expect(await locks.release('ghes', 'failover-a')).toBe(true);
    expect(await locks.release('ghes', 'failover-a')).toBe(false);
    expect(await locks.holder('ghes', now)).toBeNull();
    expect(await db.dynamo.scan('OperationsTable')).toEqual([]);
    expect(await locks.acquire(request('failover-b', now))).toEqual({ acquired: true });
  });

  it('keeps a TTL attribute a day past the expiry, so rows of dead locks are cleaned up', async () => {
    const locks = createDynamoOperationLocks(db.call, 'OperationsTable');
    await locks.acquire(request('failover-a', at('2026-11-30T02:00:00Z'), 600));
    const [row] = await db.dynamo.scan('OperationsTable');
    expect(row!.expiresAtEpoch).toBe(Date.parse('2026-11-30T02:10:00Z') / 1000 + 24 * 3600);
  });

  it('refuses a lock with no lifetime rather than holding it forever', async () => {
    const locks = createDynamoOperationLocks(db.call, 'OperationsTable');
    await expect(locks.acquire(request('failover-a', new Date(), 0))).rejects.toThrow(/ttlSeconds/);
    expect(await db.dynamo.scan('OperationsTable')).toEqual([]);
  });
});
