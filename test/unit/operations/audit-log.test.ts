import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createJsonClient, dynamoDbSpec, type JsonCall } from '../../../shared/aws/json-client.ts';
import { AuditWriteError, createDynamoAuditLog } from '../../../shared/operations/audit-log.ts';
import { faultTargetsOf, startTwinAwsEndpoint, type TwinAwsEndpoint } from '../../twin/aws-endpoint.ts';
import { startDynamoTwin, type DynamoTwin } from '../../twin/dynamodb.ts';
import { FaultInjector } from '../../twin/faults.ts';

/** The audit table as the issue-14 contract lays it out: pk `audit#<day>`, sk `<ISO time>#<random>`. */
const auditTable = {
  AuditTable: {
    Type: 'AWS::DynamoDB::Table',
    Properties: {
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    },
  },
};

describe('the audit log on DynamoDB', () => {
  let dynamo: DynamoTwin;
  let endpoint: TwinAwsEndpoint;
  let faults: FaultInjector;
  let call: JsonCall;
  beforeEach(async () => {
    dynamo = await startDynamoTwin({ tables: auditTable });
    faults = new FaultInjector(() => ({ targets: faultTargetsOf([dynamo]) }));
    endpoint = await startTwinAwsEndpoint([dynamo], faults);
    call = createJsonClient(dynamoDbSpec, {
      region: 'eu-west-1',
      endpoint: endpoint.url,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  });
  afterEach(async () => {
    await endpoint.close();
    await dynamo.close();
  });

  const at = new Date('2026-11-30T23:59:59.123Z');

  it('keeps who, what, when and the result, under the day and time it happened', async () => {
    const audit = createDynamoAuditLog(call, 'AuditTable', { random: () => 'a1b2c3d4' });
    await audit.record({
      at,
      actor: 'U0OPS0001',
      action: 'start',
      operation: 'failover',
      executionName: 'failover-20261130T235959-abcdef',
      result: 'started',
      channelId: 'C0OPS0001',
    });
    expect(await dynamo.scan('AuditTable')).toEqual([
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
    const audit = createDynamoAuditLog(call, 'AuditTable');
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
    const rows = await dynamo.scan('AuditTable');
    expect(rows).toHaveLength(10);
    expect(new Set(rows.map((r) => r.sk)).size).toBe(10);
    expect(rows[0]).not.toHaveProperty('executionName');
    expect(rows[0]).not.toHaveProperty('channelId');
  });

  it('never overwrites a row, even if the random part repeats: the second write fails loudly', async () => {
    const audit = createDynamoAuditLog(call, 'AuditTable', { random: () => 'same' });
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
    expect((await dynamo.scan('AuditTable')).map((r) => r.actor)).toEqual(['U0OPS0001']);
  });

  it('cuts a very long result short instead of failing the write', async () => {
    const audit = createDynamoAuditLog(call, 'AuditTable');
    await audit.record({
      at,
      actor: 'state-machine',
      action: 'result',
      operation: 'failover',
      result: 'x'.repeat(5000),
    });
    const [row] = await dynamo.scan('AuditTable');
    expect(String(row!.result)).toHaveLength(1001);
  });

  it('throws AuditWriteError naming the entry when DynamoDB refuses the write', async () => {
    faults.arm({ target: 'dynamodb:PutItem', error: 'ResourceNotFoundException', count: 3 });
    const audit = createDynamoAuditLog(call, 'AuditTable');
    const error = await audit
      .record({ at, actor: 'U0OPS0001', action: 'request', operation: 'failover', result: 'received' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuditWriteError);
    expect((error as Error).message).toMatch(/request failover by U0OPS0001/);
  });
});
