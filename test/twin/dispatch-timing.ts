import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * The three durations the dispatcher's correctness rests on, read from what is deployed and scaled
 * for the twin in one place:
 * - the Lambda timeout bounds an invocation: Lambda resets a timed-out environment, so nothing it
 *   started acts afterwards;
 * - the dispatch lease must outlive it, or a live dispatcher could lose its job to a second one;
 * - the queue's visibility timeout must outlive both (AWS refuses an event source mapping whose
 *   visibility timeout is below the function timeout), so a message is never handled twice at once
 *   and a redelivery after a crash finds the dead dispatcher's lease expired.
 */
export interface DeployedTiming {
  /** serverless.yml `functions.runner-dispatcher.timeout`. */
  readonly dispatcherTimeoutSeconds: number;
  /** serverless.yml `functions.runner-dispatcher.environment.DISPATCH_LEASE_SECONDS`. */
  readonly dispatchLeaseSeconds: number;
  /** infra/resources.yml `DispatchQueue.Properties.VisibilityTimeout`. */
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
  /** The event source mapping's `batchSize` and `maximumConcurrency`. */
  readonly batchSize: number;
  readonly maximumConcurrency: number;
  /** serverless.yml `functions.github-webhook.timeout`. */
  readonly webhookTimeoutSeconds: number;
}

export interface TwinTiming {
  readonly dispatcher: { readonly timeoutMs: number; readonly leaseSeconds: number };
  readonly dispatchQueue: {
    readonly visibilityTimeoutMs: number;
    readonly maxReceiveCount: number;
    readonly batchSize: number;
    readonly concurrency: number;
  };
  readonly webhook: { readonly timeoutMs: number };
}

/**
 * Handler work is never scaled (SDK backoff, HMAC, JSON, loopback calls run in real time), so the
 * Lambda timeout is never scaled below this. Measured 2026-11-29 on this 2-core machine, both e2e
 * files side by side: dispatcher invocations p50 89 ms, p99 609 ms, max 667 ms (47 invocations).
 * A 1 s floor was too tight for the whole suite on 2 cores: in 2 of 2 fresh-clone runs one
 * dispatch overran it after StartBuild and never recorded its build. 3 s is 4.5× that maximum.
 */
export const MIN_LAMBDA_TIMEOUT_MS = 3_000;

const root = new URL('../../', import.meta.url);
const readYaml = (path: string): unknown =>
  // `!Ref`, `!GetAtt`, `!Sub` are CloudFormation's: left as plain values, none of them is read here.
  parse(readFileSync(new URL(path, root), 'utf8'), { logLevel: 'silent' });

const at = (document: unknown, path: readonly (string | number)[]): unknown => {
  let node = document;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
};

const positive = (document: unknown, source: string, path: readonly (string | number)[]): number => {
  const value = Number(at(document, path));
  if (!(value > 0)) {
    throw new Error(`${source}: ${path.join('.')} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
};

/** Reads the deployed values from serverless.yml and infra/resources.yml, the files `osls` packages. */
export const readDeployedTiming = (): DeployedTiming => {
  const serverless = readYaml('serverless.yml');
  const resources = readYaml('infra/resources.yml');
  const dispatcher = ['functions', 'runner-dispatcher'];
  const mapping = [...dispatcher, 'events', 0, 'sqs'];
  const queue = ['Resources', 'DispatchQueue', 'Properties'];
  return {
    dispatcherTimeoutSeconds: positive(serverless, 'serverless.yml', [...dispatcher, 'timeout']),
    dispatchLeaseSeconds: positive(serverless, 'serverless.yml', [
      ...dispatcher,
      'environment',
      'DISPATCH_LEASE_SECONDS',
    ]),
    batchSize: positive(serverless, 'serverless.yml', [...mapping, 'batchSize']),
    maximumConcurrency: positive(serverless, 'serverless.yml', [...mapping, 'maximumConcurrency']),
    webhookTimeoutSeconds: positive(serverless, 'serverless.yml', ['functions', 'github-webhook', 'timeout']),
    visibilityTimeoutSeconds: positive(resources, 'infra/resources.yml', [...queue, 'VisibilityTimeout']),
    maxReceiveCount: positive(resources, 'infra/resources.yml', [
      ...queue,
      'RedrivePolicy',
      'maxReceiveCount',
    ]),
  };
};

/** The order the dispatcher relies on: Lambda timeout < lease < visibility timeout. */
export const timingProblems = (t: {
  timeoutSeconds: number;
  leaseSeconds: number;
  visibilitySeconds: number;
}): string[] => [
  ...(t.leaseSeconds > t.timeoutSeconds
    ? []
    : [
        `the dispatch lease (${t.leaseSeconds} s) must exceed the dispatcher's timeout (${t.timeoutSeconds} s)`,
      ]),
  ...(t.visibilitySeconds > t.leaseSeconds
    ? []
    : [
        `the dispatch queue's visibility timeout (${t.visibilitySeconds} s) must exceed the dispatch lease (${t.leaseSeconds} s)`,
      ]),
];

/**
 * Scales the deployed values by `timeScale`. Below the floor, the Lambda timeout is held at
 * MIN_LAMBDA_TIMEOUT_MS and the lease and the visibility timeout keep their deployed margins
 * (scaled) above it, so the order timeout < lease < visibility holds at every scale; without the
 * floor this is plain `value × timeScale`.
 */
export const scaleTiming = (
  deployed: DeployedTiming,
  timeScale: number,
  /** A test that needs its dispatches to overrun the timeout may lower it. */
  minLambdaTimeoutMs = MIN_LAMBDA_TIMEOUT_MS,
): TwinTiming => {
  if (!(timeScale > 0)) throw new Error(`timeScale must be a positive number, got ${timeScale}`);
  const problems = timingProblems({
    timeoutSeconds: deployed.dispatcherTimeoutSeconds,
    leaseSeconds: deployed.dispatchLeaseSeconds,
    visibilitySeconds: deployed.visibilityTimeoutSeconds,
  });
  if (problems.length) throw new Error(`deployed dispatch timing: ${problems.join('; ')}`);
  // Whole milliseconds: the lease travels as a decimal string of seconds in the Lambda's env.
  const ms = (seconds: number) => Math.round(seconds * 1000 * timeScale);
  const timeoutMs = Math.max(minLambdaTimeoutMs, ms(deployed.dispatcherTimeoutSeconds));
  const leaseMs = timeoutMs + ms(deployed.dispatchLeaseSeconds - deployed.dispatcherTimeoutSeconds);
  const visibilityTimeoutMs = leaseMs + ms(deployed.visibilityTimeoutSeconds - deployed.dispatchLeaseSeconds);
  return {
    dispatcher: { timeoutMs, leaseSeconds: leaseMs / 1000 },
    dispatchQueue: {
      visibilityTimeoutMs,
      maxReceiveCount: deployed.maxReceiveCount,
      batchSize: deployed.batchSize,
      concurrency: deployed.maximumConcurrency,
    },
    // Not scaled: what the intake races is real time too (GitHub gives up on a delivery after
    // 10 s; its delivery claim's 60 s lease is not scaled by the twin either).
    webhook: { timeoutMs: deployed.webhookTimeoutSeconds * 1000 },
  };
};
