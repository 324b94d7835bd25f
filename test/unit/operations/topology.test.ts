import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoTopology, TopologyChangedError } from '../../../shared/operations/topology.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';
import { operations } from './failover-harness.ts';

describe('the topology record', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  beforeEach(async () => {
    db = await startDynamoForTest();
  });
  afterEach(async () => db.close());

  it("starts from the config's initial roles, then follows each recorded failover both ways", async () => {
    const topology = createDynamoTopology(db.call, 'OperationsTable', operations.appliances);
    expect(await topology.current()).toEqual({
      primary: 'ghes-primary',
      replica: 'ghes-replica',
      updatedAt: null,
      changedBy: null,
    });
    const now = new Date('2026-11-30T03:00:00Z');
    await topology.record({
      primary: 'ghes-replica',
      replica: 'ghes-primary',
      expectedPrimary: 'ghes-primary',
      changedBy: 'failover-1',
      now,
    });
    expect(await topology.current()).toEqual({
      primary: 'ghes-replica',
      replica: 'ghes-primary',
      updatedAt: '2026-11-30T03:00:00.000Z',
      changedBy: 'failover-1',
    });
    await topology.record({
      primary: 'ghes-primary',
      replica: 'ghes-replica',
      expectedPrimary: 'ghes-replica',
      changedBy: 'failover-2',
      now,
    });
    expect((await topology.current()).primary).toBe('ghes-primary');
  });

  it('refuses a writer that started from a primary the record no longer names', async () => {
    const topology = createDynamoTopology(db.call, 'OperationsTable', operations.appliances);
    const now = new Date();
    await topology.record({
      primary: 'ghes-replica',
      replica: 'ghes-primary',
      expectedPrimary: 'ghes-primary',
      changedBy: 'failover-1',
      now,
    });
    // A second, stale run that also started from ghes-primary must not flip it back.
    await expect(
      topology.record({
        primary: 'ghes-replica',
        replica: 'ghes-primary',
        expectedPrimary: 'ghes-primary',
        changedBy: 'failover-2',
        now,
      }),
    ).rejects.toBeInstanceOf(TopologyChangedError);
    expect((await topology.current()).changedBy).toBe('failover-1');
  });

  it('ignores a record naming appliances the config no longer has', async () => {
    await db.call('PutItem', {
      TableName: 'OperationsTable',
      Item: { pk: { S: 'topology#ghes' }, primary: { S: 'old-node' }, replica: { S: 'ghes-primary' } },
    });
    const topology = createDynamoTopology(db.call, 'OperationsTable', operations.appliances);
    expect((await topology.current()).primary).toBe('ghes-primary');
  });
});
