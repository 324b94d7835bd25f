import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditWriteError, createDynamoAuditLog } from '../../../shared/operations/audit-log.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

/** The audit table as serverless.yml deploys it (infra/dynamodb-tables.json), on the twin's DynamoDB. */
describe('the audit log on DynamoDB', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  beforeEach(async () => {
    db = await startDynamoForTest();
  });
  afterEach(async () => db.close());

  const at = new Date('2026-11-30T23:59:59.123Z');

  it('keeps who, what, when and the result, under the day and time it happened', async () => {
    const audit = createDynamoAuditLog(db.call, 'AuditTable', { random: () => 'a1b2c3d4' });
    await audit.record({
      at,
      actor: 'U0OPS0001',
      action: 'start',
      operation: 'failover',
      executionName: 'failover-20261130T235959-abcdef',
      result: 'started',
      channelId: 'C0OPS0001',
    });
    expect(await db.dynamo.scan('AuditTable')).toEqual([
      {
        pk: 'audit#2026-11-30',
        sk: '2026-11-30T23:59:59.123Z#a1b2c3d4',
        at: '2026-11-30T23:59:59.123Z',
        actor: 'U0OPS0001',
        action: 'start',
        operation: 'failover',
        executionName: 'failover-20261130T235959-abcdef',
        result: 'started',
        channelId: 'C0OPS0001',
      },
    ]);
  });

  it('keeps every row of events in the same millisecond, and leaves out fields not given', async () => {
    const audit = createDynamoAuditLog(db.call, 'AuditTable');
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        audit.record({
          at,
          actor: `U0OPS000${i}`,
          action: 'request',
          operation: 'status',
          result: 'answered',
        }),
      ),
    );
    const rows = await db.dynamo.scan('AuditTable');
    expect(rows).toHaveLength(10);
    expect(new Set(rows.map((r) => r.sk)).size).toBe(10);
    expect(rows[0]).not.toHaveProperty('executionName');
    expect(rows[0]).not.toHaveProperty('channelId');
  });

  it('never overwrites a row, even if the random part repeats: the second write fails loudly', async () => {
    const audit = createDynamoAuditLog(db.call, 'AuditTable', { random: () => 'same' });
    await audit.record({
      at,
      actor: 'U0OPS0001',
      action: 'approve',
      operation: 'failover',
      result: 'approved',
    });
    await expect(
      audit.record({ at, actor: 'U0OPS0002', action: 'abort', operation: 'failover', result: 'aborted' }),
    ).rejects.toThrow(AuditWriteError);
    expect((await db.dynamo.scan('AuditTable')).map((r) => r.actor)).toEqual(['U0OPS0001']);
  });

  it('cuts a very long result short instead of failing the write', async () => {
    const audit = createDynamoAuditLog(db.call, 'AuditTable');
    await audit.record({
      at,
      actor: 'state-machine',
      action: 'result',
      operation: 'failover',
      result: 'x'.repeat(5000),
    });
    const [row] = await db.dynamo.scan('AuditTable');
    expect(String(row!.result)).toHaveLength(1001);
  });

  it('throws AuditWriteError naming the entry when DynamoDB refuses the write', async () => {
    db.faults.arm({ target: 'dynamodb:PutItem', error: 'ResourceNotFoundException', count: 3 });
    const audit = createDynamoAuditLog(db.call, 'AuditTable');
    const error = await audit
      .record({ at, actor: 'U0OPS0001', action: 'request', operation: 'failover', result: 'received' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuditWriteError);
    expect((error as Error).message).toMatch(/request failover by U0OPS0001/);
  });
});
