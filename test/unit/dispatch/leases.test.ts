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
});
