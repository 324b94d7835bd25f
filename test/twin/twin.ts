import type { SandboxConfig } from '../sandbox/sandbox-config.ts';
import {
  startTwinAwsEndpoint,
  faultTargetsOf,
  type TwinAwsEndpoint,
  type TwinAwsService,
} from './aws-endpoint.ts';
import { createTwinClock, type TwinClock } from './clock.ts';
import { startDynamoTwin, type DynamoTwin } from './dynamodb.ts';
import { createEventBridgeTwin, type EventBridgeTwin } from './eventbridge.ts';
import { FaultInjector } from './faults.ts';
import { createSecretsManagerTwin, type SecretsManagerTwin } from './secrets-manager.ts';
import { TwinQueue } from './sqs.ts';

/**
 * Everything the Lambdas talk to, simulated: AWS services behind one loopback endpoint, with real
 * state, scaled delays and injectable faults.
 */
export interface Twin {
  readonly clock: TwinClock;
  readonly faults: FaultInjector;
  readonly endpoint: TwinAwsEndpoint;
  readonly dynamo: DynamoTwin;
  readonly events: EventBridgeTwin;
  readonly secrets: SecretsManagerTwin;
  readonly queues: ReadonlyMap<string, TwinQueue>;
  /** Environment every twin Lambda gets: credentials, region, the endpoint, resource names. */
  readonly lambdaEnv: Readonly<Record<string, string>>;
  state(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export const TABLES = { deliveries: 'DeliveriesTable', jobs: 'JobsTable' } as const;
export const EVENT_BUS_NAME = 'ghes-control-plane';

/** The SQS settings serverless.yml deploys for the dispatch queue (visibility ≥ 6 × Lambda timeout). */
const dispatchQueueOptions = {
  visibilityTimeoutMs: 180_000,
  maxReceiveCount: 5,
  batchSize: 10,
  concurrency: 5,
};

export const startTwin = async (config: SandboxConfig): Promise<Twin> => {
  const clock = createTwinClock(config.sandbox.timeScale);
  const services: TwinAwsService[] = [];
  const faults = new FaultInjector(() => ({ targets: faultTargetsOf(services) }));

  const dynamo = await startDynamoTwin();
  const secrets = createSecretsManagerTwin();
  secrets.put(config.github.webhookSecretArn, config.sandbox.secrets.webhook);
  const dispatchQueue = new TwinQueue('DispatchQueue', dispatchQueueOptions, clock);
  const queues = new Map([[dispatchQueue.name, dispatchQueue]]);
  const events = createEventBridgeTwin({
    busName: EVENT_BUS_NAME,
    region: config.region,
    accountId: config.sandbox.accountId,
    queues,
  });
  services.push(dynamo, secrets, events);
  const endpoint = await startTwinAwsEndpoint(services, faults);

  const jobs = async () =>
    (await dynamo.scan(TABLES.jobs))
      .map((row) => ({
        id: row.jobId,
        runId: row.runId,
        runAttempt: row.runAttempt,
        repository: row.repository,
        labels: row.labels,
        workflowName: row.workflowName ?? null,
        headBranch: row.headBranch ?? null,
        status: row.status,
        pool: row.pool ?? null,
        provider: row.provider ?? null,
        resourceId: row.resourceId ?? null,
        reason: row.reason ?? null,
        runnerName: row.runnerName ?? null,
        conclusion: row.conclusion ?? null,
        queuedAt: row.queuedAt ?? null,
        dispatchedAt: row.dispatchedAt ?? null,
        startedAt: row.startedAt ?? null,
        completedAt: row.completedAt ?? null,
        updatedAt: row.updatedAt ?? null,
      }))
      .sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)));

  return {
    clock,
    faults,
    endpoint,
    dynamo,
    events,
    secrets,
    queues,
    lambdaEnv: {
      AWS_REGION: config.region,
      AWS_ACCESS_KEY_ID: 'twin-access-key',
      AWS_SECRET_ACCESS_KEY: 'twin-secret-key',
      AWS_ENDPOINT_URL: endpoint.url,
      DELIVERIES_TABLE: TABLES.deliveries,
      JOBS_TABLE: TABLES.jobs,
      EVENT_BUS_NAME,
      WEBHOOK_SECRET_ARN: config.github.webhookSecretArn,
    },
    async state() {
      return {
        jobs: await jobs(),
        pools: config.pools,
        instances: [],
        builds: [],
        executions: [],
        locks: [],
        appliances: [],
        slack: [],
        faults: faults.list(),
        queues: [...queues.values()].map((q) => ({
          name: q.name,
          depth: q.depth,
          deadLetters: q.deadLetters.length,
        })),
        events: { archived: events.archive.length },
      };
    },
    async close() {
      clock.close();
      for (const queue of queues.values()) queue.close();
      await endpoint.close();
      await dynamo.close();
    },
  };
};
