import { afterEach, describe, expect, it } from 'vitest';
import { createJsonClient, dynamoDbSpec, type JsonCall } from '../../../shared/aws/json-client.ts';
import { startTwinAwsEndpoint, faultTargetsOf } from '../../twin/aws-endpoint.ts';
import { createTwinClock } from '../../twin/clock.ts';
import { startDynamoTwin, tableDefinitions, type DynamoTwinOptions } from '../../twin/dynamodb.ts';
import { FaultInjector } from '../../twin/faults.ts';

/** The twin's DynamoDB TTL: what dynalite lacks, at the sandbox's timeScale. */
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

const start = async (options: DynamoTwinOptions) => {
  const dynamo = await startDynamoTwin(options);
  const faults = new FaultInjector(() => ({ targets: faultTargetsOf([dynamo]) }));
  const endpoint = await startTwinAwsEndpoint([dynamo], faults);
  cleanups.push(
    () => dynamo.close(),
    () => endpoint.close(),
  );
  const call: JsonCall = createJsonClient(dynamoDbSpec, {
    region: 'eu-west-1',
    endpoint: endpoint.url,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const exists = async (table: string, pk: string) =>
    (
      await call<{ Item?: unknown }>('GetItem', {
        TableName: table,
        Key: { pk: { S: pk } },
        ConsistentRead: true,
      })
    ).Item !== undefined;
  return { call, exists };
};

const nowSeconds = () => Math.floor(Date.now() / 1000);
const put = (call: JsonCall, table: string, pk: string, expiresAt: { N: string } | { S: string }) =>
  call('PutItem', { TableName: table, Item: { pk: { S: pk }, expiresAt } });

/** Polls until `check` holds; returns the real ms it took. */
const within = async (ms: number, check: () => Promise<boolean>) => {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - started;
};

describe('DynamoDB twin: TTL', () => {
  it('deletes an item N simulated seconds after it was written, about N × timeScale real seconds later', async () => {
    // Prepare: 60 simulated seconds are 0.6 real seconds at timeScale 0.01
    const { call, exists } = await start({ clock: createTwinClock(0.01), ttlSweepMs: 50 });

    // Act
    await put(call, 'DeliveriesTable', 'soon', { N: String(nowSeconds() + 60) });
    await put(call, 'DeliveriesTable', 'later', { N: String(nowSeconds() + 3600) }); // 36 real s

    // Assess: still there well before its time, gone shortly after it
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await exists('DeliveriesTable', 'soon')).toBe(true);
    const gone = await within(2_000, async () => !(await exists('DeliveriesTable', 'soon')));
    expect(300 + gone).toBeGreaterThanOrEqual(500); // not before ~0.6 s (whole seconds are floored)
    expect(await exists('DeliveriesTable', 'later')).toBe(true);
  });

  it('keeps an item whose expiry an update pushed back, and one whose update removed it', async () => {
    const { call, exists } = await start({ clock: createTwinClock(0.01), ttlSweepMs: 50 });
    for (const pk of ['extended', 'removed', 'untouched']) {
      await put(call, 'LeasesTable', pk, { N: String(nowSeconds() + 30) });
    }

    // Act: as the leases and the ledger do, by alias and by name
    await call('UpdateItem', {
      TableName: 'LeasesTable',
      Key: { pk: { S: 'extended' } },
      UpdateExpression: 'SET #ttl = :later',
      ExpressionAttributeNames: { '#ttl': 'expiresAt' },
      ExpressionAttributeValues: { ':later': { N: String(nowSeconds() + 3600) } },
    });
    await call('UpdateItem', {
      TableName: 'LeasesTable',
      Key: { pk: { S: 'removed' } },
      UpdateExpression: 'REMOVE expiresAt',
    });
    await call('UpdateItem', {
      TableName: 'LeasesTable',
      Key: { pk: { S: 'untouched' } },
      UpdateExpression: 'SET note = :n',
      ExpressionAttributeValues: { ':n': { S: 'an update that leaves the expiry alone' } },
    });

    // Assess
    await within(2_000, async () => !(await exists('LeasesTable', 'untouched')));
    expect(await exists('LeasesTable', 'extended')).toBe(true);
    expect(await exists('LeasesTable', 'removed')).toBe(true);
  });

  it('expires items written in a transaction, and ignores a non-Number attribute', async () => {
    const { call, exists } = await start({ clock: createTwinClock(0.01), ttlSweepMs: 50 });
    await call('TransactWriteItems', {
      TransactItems: ['a', 'b'].map((pk) => ({
        Put: {
          TableName: 'DeliveriesTable',
          Item: { pk: { S: pk }, expiresAt: { N: String(nowSeconds() + 10) } },
        },
      })),
    });
    await put(call, 'DeliveriesTable', 'text', { S: String(nowSeconds() - 10) });

    await within(
      2_000,
      async () => !(await exists('DeliveriesTable', 'a')) && !(await exists('DeliveriesTable', 'b')),
    );
    expect(await exists('DeliveriesTable', 'text')).toBe(true);
  });

  it('leaves tables without TTL in their definition alone', async () => {
    // Prepare: the deployed definitions, with TTL switched off on the jobs table
    const tables = tableDefinitions();
    delete tables.JobsTable!.Properties.TimeToLiveSpecification;
    const { call, exists } = await start({ clock: createTwinClock(0.01), ttlSweepMs: 50, tables });

    // Act
    await put(call, 'JobsTable', 'kept', { N: String(nowSeconds() - 1) });
    await put(call, 'DeliveriesTable', 'expired', { N: String(nowSeconds() - 1) });

    // Assess
    await within(2_000, async () => !(await exists('DeliveriesTable', 'expired')));
    expect(await exists('JobsTable', 'kept')).toBe(true);
  });

  it('still reads an expired item until the sweep deletes it, as DynamoDB does', async () => {
    const { call, exists } = await start({ clock: createTwinClock(1), ttlSweepMs: 60_000 });
    await put(call, 'DeliveriesTable', 'expired', { N: String(nowSeconds() - 60) });
    expect(await exists('DeliveriesTable', 'expired')).toBe(true);
  });
});
