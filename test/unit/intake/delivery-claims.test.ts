import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoDeliveryClaims } from '../../../shared/intake/delivery-claims.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

describe('delivery claims on DynamoDB', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  beforeEach(async () => {
    db = await startDynamoForTest();
  });
  afterEach(async () => db.close());

  const t0 = new Date('2026-11-23T10:00:00Z');
  const later = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

  it('claims a new delivery once; the same id or the same body is then a duplicate', async () => {
    const claims = createDynamoDeliveryClaims(db.call, 'DeliveriesTable');
    const claim = await claims.claim('d1', 'hash-a', t0);
    expect(claim).toMatchObject({ deliveryId: 'd1', bodyHash: 'hash-a' });
    await claims.complete(claim as Exclude<typeof claim, 'duplicate'>, t0);
    expect(await claims.claim('d1', 'hash-b', later(1))).toBe('duplicate');
    expect(await claims.claim('d2', 'hash-a', later(1))).toBe('duplicate'); // replay under a new id
    // A refused claim writes nothing: d2 and hash-b stay free.
    expect(await claims.claim('d2', 'hash-b', later(2))).not.toBe('duplicate');
  });

  it('lets exactly one of many concurrent claims of one delivery win', async () => {
    const claims = createDynamoDeliveryClaims(db.call, 'DeliveriesTable');
    const results = await Promise.all(Array.from({ length: 20 }, () => claims.claim('d1', 'hash-a', t0)));
    expect(results.filter((r) => r !== 'duplicate')).toHaveLength(1);
  });

  it('frees a released claim for the redelivery', async () => {
    const claims = createDynamoDeliveryClaims(db.call, 'DeliveriesTable');
    const claim = await claims.claim('d1', 'hash-a', t0);
    await claims.release(claim as Exclude<typeof claim, 'duplicate'>);
    expect(await claims.claim('d1', 'hash-a', later(1))).not.toBe('duplicate');
  });

  it('hands a pending claim whose lease ran out to a redelivery, but not a completed one', async () => {
    const claims = createDynamoDeliveryClaims(db.call, 'DeliveriesTable', { leaseSeconds: 60 });
    await claims.claim('crashed', 'hash-c', t0); // the invocation died before completing
    expect(await claims.claim('crashed', 'hash-c', later(30))).toBe('duplicate'); // still leased
    expect(await claims.claim('crashed', 'hash-c', later(61))).not.toBe('duplicate');

    const done = await claims.claim('done', 'hash-d', t0);
    await claims.complete(done as Exclude<typeof done, 'duplicate'>, t0);
    expect(await claims.claim('done', 'hash-d', later(3600))).toBe('duplicate');
  });

  it('stores a TTL of three days on both records', async () => {
    const claims = createDynamoDeliveryClaims(db.call, 'DeliveriesTable');
    await claims.claim('d1', 'hash-a', t0);
    const rows = await db.dynamo.scan('DeliveriesTable');
    expect(rows.map((r) => r.pk).sort()).toEqual(['body#hash-a', 'delivery#d1']);
    for (const row of rows) expect(row.expiresAt).toBe(t0.getTime() / 1000 + 3 * 24 * 3600);
  });
});
