import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolConfig } from '../../../shared/config/deployment-config.ts';
import { createDispatcher, JobLeasedError } from '../../../shared/dispatch/dispatch-job.ts';
import { createDynamoLeases } from '../../../shared/dispatch/leases.ts';
import { createDynamoDispatchRecords } from '../../../shared/ledger/dispatch-records.ts';
import type { RunnerProvider } from '../../../shared/providers/runner-provider.ts';
import { createRouter } from '../../../shared/routing/route-job.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';
import { workflowJobEvent } from '../../support/workflow-job-event.ts';

/**
 * The fence before a launch, on the twin's DynamoDB: a dispatcher whose lease ran out while it was
 * busy (a slow call, a frozen container) and went to another dispatcher launches nothing.
 */
let db: Awaited<ReturnType<typeof startDynamoForTest>>;
beforeAll(async () => {
  db = await startDynamoForTest();
});
afterAll(async () => db?.close());

const pool: PoolConfig = {
  name: 'linux',
  provider: 'ec2-wake',
  labels: ['self-hosted', 'linux'],
  priority: 0,
  maxConcurrent: 2,
  idleMinutes: 10,
};

let nextJob = 900;
const setup = async (whileGettingCredentials: (jobKey: string) => Promise<void>) => {
  const jobId = ++nextJob;
  const jobKey = `${jobId}#1`;
  await db.call('PutItem', {
    TableName: 'JobsTable',
    Item: { pk: { S: jobKey }, status: { S: 'queued' }, statusRank: { N: '0' } },
  });
  const records = createDynamoDispatchRecords(db.call, 'JobsTable');
  const leases = createDynamoLeases(db.call, 'LeasesTable');
  const launches: string[] = [];
  const provider: RunnerProvider<unknown> = {
    async launch(request) {
      launches.push(request.jobKey);
      return { resourceId: 'i-0123456789abcdef0' };
    },
    isAlive: async () => false,
  };
  const dispatcher = createDispatcher({
    router: createRouter([pool]),
    github: {
      jobStatus: async () => 'queued',
      async runnerCredentials(request) {
        // The last step before the launch: where a slow dispatcher loses its lease.
        await whileGettingCredentials(jobKey);
        return { kind: 'jit', runnerName: request.runnerName, encodedJitConfig: 'e30=', runnerId: 7 };
      },
      removeRunnerById: async () => {},
      removeRunner: async () => {},
    },
    providers: () => ({ codebuild: provider, ec2Wake: provider }),
    leases,
    records,
    alerts: { raise: async () => {} },
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    dispatchLeaseSeconds: 120,
  });
  const job = { ...workflowJobEvent({ jobId, runId: 5, installationId: 3 }), deliveryId: 'd' };
  return { dispatcher, job, jobKey, leases, launches };
};

describe('lease fence before a launch', () => {
  it('launches nothing when its lease ran out and another dispatcher took the job', async () => {
    // Prepare: while this dispatcher waits on GitHub, its lease runs out and dispatcher B, in
    // another container, takes the job (B's clock is past this one's lease).
    const dispatcherB = createDynamoDispatchRecords(db.call, 'JobsTable');
    const s = await setup(async (jobKey) => {
      await dispatcherB.claim(jobKey, 'dispatcher-b', new Date(Date.now() + 121_000), 120);
    });

    // Act
    const failure = await s.dispatcher.dispatch(s.job).catch((error: unknown) => error);

    // Assess
    expect(s.launches).toEqual([]);
    // SQS redelivers the record; by then the job is B's (launched, or leased).
    expect(failure).toBeInstanceOf(JobLeasedError);
    // The job's slot is left to the dispatcher that holds the job now.
    expect(await s.leases.slotOf(s.jobKey)).toBe('linux');
  });

  it('launches, and records the launch, when it still holds its lease', async () => {
    // Prepare
    const s = await setup(async () => {});

    // Act
    const outcome = await s.dispatcher.dispatch(s.job);

    // Assess
    expect(outcome).toMatchObject({ outcome: 'launched', resourceId: 'i-0123456789abcdef0' });
    expect(s.launches).toEqual([s.jobKey]);
  });
});
