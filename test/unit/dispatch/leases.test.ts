import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoLeases } from '../../../shared/dispatch/leases.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

describe('leases on DynamoDB', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  beforeEach(async () => {
    db = await startDynamoForTest();
  });
  afterEach(async () => db.close());

  it('hands out at most maxConcurrent slots to 30 jobs claiming at once, and frees them on release', async () => {
    const leases = createDynamoLeases(db.call, 'LeasesTable');
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => leases.claimSlot('linux', `${i}#1`, 4)),
    );
    const winners = results.flatMap((won, i) => (won ? [`${i}#1`] : []));
    expect(winners).toHaveLength(4);
    expect(await leases.slotsInUse('linux')).toBe(4);
    await leases.releaseSlot('linux', winners[0]!);
    await leases.releaseSlot('linux', winners[0]!); // a second release must not free another slot
    expect(await leases.slotsInUse('linux')).toBe(3);
    expect(await leases.claimSlot('linux', 'late#1', 4)).toBe(true);
    expect(await leases.claimSlot('linux', 'later#1', 4)).toBe(false);
  });

  it('lists the jobs holding slots, and only slots (not pool counters or instance leases)', async () => {
    const leases = createDynamoLeases(db.call, 'LeasesTable');
    await leases.claimSlot('linux', '7#1', 5);
    await leases.claimSlot('linux-codebuild', '8#2', 5);
    await leases.claimInstance('i-0abc', '7#1', 100, 200);
    const held = await leases.heldSlots(10);
    expect(held.sort((a, b) => a.jobKey.localeCompare(b.jobKey))).toEqual([
      { jobKey: '7#1', pool: 'linux' },
      { jobKey: '8#2', pool: 'linux-codebuild' },
    ]);
    await leases.releaseSlot('linux', '7#1');
    expect(await leases.heldSlots(10)).toEqual([{ jobKey: '8#2', pool: 'linux-codebuild' }]);
  });

  it('gives a retried dispatch of the same job its slot back instead of a second one', async () => {
    const leases = createDynamoLeases(db.call, 'LeasesTable');
    expect(await leases.claimSlot('linux', '7#1', 1)).toBe(true);
    expect(await leases.claimSlot('linux', '7#1', 1)).toBe(true);
    expect(await leases.slotsInUse('linux')).toBe(1);
  });

  it("keeps one slot per job: a crashed attempt's slot in another pool is given back on the next claim", async () => {
    const leases = createDynamoLeases(db.call, 'LeasesTable');
    expect(await leases.claimSlot('linux', '8#1', 2)).toBe(true);
    expect(await leases.slotOf('8#1')).toBe('linux');
    // The retry lands on the fallback pool: the job moves its slot, it does not hold two.
    expect(await leases.claimSlot('linux-codebuild', '8#1', 2)).toBe(true);
    expect(await leases.slotOf('8#1')).toBe('linux-codebuild');
    expect(await leases.slotsInUse('linux')).toBe(0);
    expect(await leases.slotsInUse('linux-codebuild')).toBe(1);
    await leases.releaseSlot('linux', '8#1'); // not the pool it holds: nothing changes
    expect(await leases.slotsInUse('linux-codebuild')).toBe(1);
    await leases.releaseSlot('linux-codebuild', '8#1');
    expect(await leases.slotOf('8#1')).toBeUndefined();
    expect(await leases.slotsInUse('linux-codebuild')).toBe(0);
  });

  it('lets one job hold an instance until its lease runs out, and finds the instance by job', async () => {
    const leases = createDynamoLeases(db.call, 'LeasesTable');
    expect(await leases.claimInstance('i-1', 'a#1', 1000, 2000)).toBe(true);
    expect(await leases.claimInstance('i-1', 'b#1', 1500, 2500)).toBe(false);
    expect(await leases.instanceOf('a#1')).toBe('i-1');
    expect(await leases.claimInstance('i-1', 'b#1', 2001, 3000)).toBe(true); // a's lease ran out
    await leases.releaseInstance('i-1', 'a#1'); // a no longer holds it: nothing changes
    expect(await leases.claimInstance('i-1', 'c#1', 2002, 3000)).toBe(false);
    await leases.releaseInstance('i-1', 'b#1');
    expect(await leases.instanceOf('b#1')).toBeUndefined();
    expect(await leases.claimInstance('i-1', 'c#1', 2002, 3000)).toBe(true);
  });
  it('gives instance leases a TTL a day after leaseUntil, and slots and pool counters none', async () => {
    const leases = createDynamoLeases(db.call, 'LeasesTable');
    expect(await leases.claimInstance('i-9', 'j#1', 1_000, 7_000)).toBe(true);
    expect(await leases.claimSlot('linux', 'j#1', 2)).toBe(true);
    const rows = Object.fromEntries((await db.dynamo.scan('LeasesTable')).map((r) => [r.pk, r]));
    expect(rows['instance#i-9']).toMatchObject({ leaseUntil: 7_000, expiresAt: 7_000 + 24 * 3600 });
    expect(rows['joblease#j#1']).toMatchObject({ instanceId: 'i-9', expiresAt: 7_000 + 24 * 3600 });
    // A slot deleted by TTL would leave the pool's counter counting it forever.
    expect(rows['slot#j#1']).not.toHaveProperty('expiresAt');
    expect(rows['pool#linux']).not.toHaveProperty('expiresAt');
    // A renewed lease moves its expiry with it.
    expect(await leases.claimInstance('i-9', 'j#1', 6_000, 9_000)).toBe(true);
    const renewed = await db.dynamo.scan('LeasesTable');
    expect(renewed.filter((r) => r.expiresAt !== undefined).map((r) => r.expiresAt)).toEqual([
      9_000 + 24 * 3600,
      9_000 + 24 * 3600,
    ]);
  });
});
