import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDynamoDispatchRecords,
  type DispatchRecords,
} from '../../../shared/ledger/dispatch-records.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

/** The dispatch lease on the twin's DynamoDB (dynalite): conditional writes, as on AWS. */
let db: Awaited<ReturnType<typeof startDynamoForTest>>;
let records: DispatchRecords;
beforeAll(async () => {
  db = await startDynamoForTest();
  records = createDynamoDispatchRecords(db.call, 'JobsTable');
});
afterAll(async () => db?.close());

let nextJob = 500;
const queuedJob = async () => {
  const jobKey = `${++nextJob}#1`;
  await db.call('PutItem', {
    TableName: 'JobsTable',
    Item: { pk: { S: jobKey }, status: { S: 'queued' }, statusRank: { N: '0' } },
  });
  return jobKey;
};
const at = (seconds: number) => new Date(seconds * 1000);

describe('dispatch lease', () => {
  it('holds for its full length when taken late in a second: a 1.5 s lease still holds 1.3 s later', async () => {
    // Prepare: taken at …0.9 s; whole seconds would have ended it at …1.5 s, 0.6 s early.
    const jobKey = await queuedJob();
    expect(await records.claim(jobKey, 'first', at(1_800_000_000.9), 1.5)).toEqual({ claimed: true });

    // Act
    const second = await records.claim(jobKey, 'second', at(1_800_000_002.2), 1.5);

    // Assess
    expect(second).toMatchObject({ claimed: false, retry: true });
  });

  it('goes to another dispatcher once it has run out', async () => {
    // Prepare
    const jobKey = await queuedJob();
    await records.claim(jobKey, 'first', at(1_800_000_000.9), 1.5);

    // Act
    const second = await records.claim(jobKey, 'second', at(1_800_000_002.5), 1.5);

    // Assess
    expect(second).toEqual({ claimed: true });
  });

  it('is renewed by its owner claiming again, and then refused to the dispatcher it went to meanwhile', async () => {
    // Prepare: "first" lost the job to "second" after its lease ran out.
    const jobKey = await queuedJob();
    await records.claim(jobKey, 'first', at(1_800_000_000), 2);
    await records.claim(jobKey, 'second', at(1_800_000_003), 2);

    // Act
    const renewedBySecond = await records.claim(jobKey, 'second', at(1_800_000_004), 2);
    const renewedByFirst = await records.claim(jobKey, 'first', at(1_800_000_004.5), 2);

    // Assess
    expect(renewedBySecond).toEqual({ claimed: true });
    expect(renewedByFirst).toMatchObject({ claimed: false, retry: true });
  });
});

describe('a launch recorded with its credentials parameter', () => {
  it('keeps the parameter name for the reconciler, and drops it when the launch is set aside', async () => {
    // Prepare
    const { createDynamoPendingJobs } = await import('../../../shared/ledger/pending-jobs.ts');
    const jobKey = await queuedJob();
    const [jobId] = jobKey.split('#').map(Number) as [number];
    await db.call('UpdateItem', {
      TableName: 'JobsTable',
      Key: { pk: { S: jobKey } },
      UpdateExpression:
        'SET jobId = :id, runId = :id, runAttempt = :one, repository = :r, #owner = :o, labels = :l, queuedAt = :q',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: {
        ':id': { N: String(jobId) },
        ':one': { N: '1' },
        ':r': { S: 'acme/app' },
        ':o': { S: 'acme' },
        ':l': { L: [{ S: 'linux' }] },
        ':q': { S: '2026-11-24T11:00:00Z' },
      },
    });
    await records.claim(jobKey, 'me', at(1000), 60);
    // Act
    await records.dispatched(jobKey, 'me', {
      pool: 'cb',
      provider: 'codebuild',
      resourceId: 'r:b1',
      at: at(1001),
      credentialsParameter: '/ghes-cp/dev/runners/builds/ab12',
    });
    const pending = createDynamoPendingJobs(db.call, 'JobsTable');
    const dispatched = (await pending.oldestDispatched(100)).find((job) => job.detail.jobId === jobId);
    // Assess
    expect(dispatched?.launch).toEqual({
      pool: 'cb',
      provider: 'codebuild',
      resourceId: 'r:b1',
      credentialsParameter: '/ghes-cp/dev/runners/builds/ab12',
    });
    expect(await records.reopen(jobKey, 'r:b1', 'gone', at(1700))).toBe(true);
    const { Item } = await db.call<{ Item: Record<string, unknown> }>('GetItem', {
      TableName: 'JobsTable',
      Key: { pk: { S: jobKey } },
    });
    expect(Item).not.toHaveProperty('credentialsParameter');
  });
});
