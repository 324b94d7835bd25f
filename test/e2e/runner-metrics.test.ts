import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import type { EmfPoint } from '../twin/cloudwatch-metrics.ts';
import { postDelivery, signedDelivery } from '../support/github-deliveries.ts';
import {
  armFault,
  clearFaults,
  completedJob,
  jobPayload,
  newJobId,
  sendJob,
  settledJob,
  startTestSandbox,
  state,
  waitFor,
} from '../support/sandbox-driver.ts';
import { METRIC, METRICS_NAMESPACE } from '../../shared/observability/metrics.ts';

/**
 * The metrics the deployed handlers write (EMF), through the sandbox's routes: the twin takes the
 * EMF lines off stdout as CloudWatch takes them out of the logs, and keeps them in `sandbox.metrics`.
 */
let sandbox: Sandbox;
/** Everything written to stdout beneath the twin's EMF capture: what an operator's console shows. */
const console: string[] = [];
let restoreStdout: () => void;
beforeAll(async () => {
  const write = process.stdout.write;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    console.push(String(chunk));
    return (write as (...args: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  restoreStdout = () => void (process.stdout.write = write);
  sandbox = await startTestSandbox((config) => {
    config.sandbox.schedules = true;
  });
});
afterAll(async () => {
  await sandbox?.close();
  restoreStdout?.();
});
afterEach(async () => clearFaults(sandbox));

const pointsNamed = (name: string) =>
  sandbox.metrics.points().filter((point) => point.name === name && point.namespace === METRICS_NAMESPACE);
const waitForPoint = (name: string, match: (point: EmfPoint) => boolean) =>
  waitFor(`a ${name} point`, async () => pointsNamed(name).find(match));

/** A queued delivery whose job GitHub created `createdAt` (the twin's runner stamps `started_at`). */
const sendQueuedAt = async (jobId: number, labels: string[], createdAt: Date) => {
  const payload = jobPayload({ jobId, labels });
  payload.workflow_job.created_at = createdAt.toISOString();
  return postDelivery(
    sandbox.url,
    await signedDelivery(payload, { secret: sandbox.config.sandbox.secrets.webhook }),
  );
};

describe('runner metrics', () => {
  it('counts a launch by provider and pool, its dispatch latency and, once it ran, its queue time', async () => {
    // Prepare
    const jobId = newJobId();
    const createdAt = new Date(Date.now() - 10_000);

    // Act
    expect((await sendQueuedAt(jobId, ['self-hosted', 'linux', 'x64'], createdAt)).status).toBe(202);
    const job = await completedJob(sandbox, jobId);

    // Assess
    expect(job).toMatchObject({ pool: 'linux', provider: 'ec2-wake' });
    const launch = await waitForPoint(METRIC.runnerLaunches, (p) => p.dimensions.pool === 'linux');
    expect(launch).toMatchObject({
      unit: 'Count',
      values: [1],
      dimensions: { service: 'runner-pools', provider: 'ec2-wake', pool: 'linux' },
    });
    // One series per provider for the dashboard, one per pool to drill into.
    expect(launch.dimensionSets).toEqual([
      ['service', 'provider'],
      ['service', 'pool'],
    ]);
    const latency = await waitForPoint(METRIC.dispatchLatency, () => true);
    expect(latency.unit).toBe('Seconds');
    expect(latency.values[0]).toBeGreaterThanOrEqual(0);
    expect(latency.values[0]).toBeLessThan(5);
    // GitHub's created_at → started_at: the 10 s the job was created before it was sent, and the
    // moments to launch it (GitHub's timestamps have whole seconds, hence 9).
    const queueTime = await waitForPoint(METRIC.queueTime, () => true);
    expect(queueTime.values[0]).toBeGreaterThanOrEqual(9);
    expect(queueTime.unit).toBe('Seconds');
    expect(queueTime.values[0]).toBeLessThan(60);
    // Stamped at the minute the job started, not the one it completed in.
    const started = Date.parse((await state(sandbox)).jobs!.find((j) => j.id === jobId)!.startedAt);
    expect(Math.abs(queueTime.timestamp - started)).toBeLessThan(1_000);
  });

  it('counts a fallback against the pool the job was meant for', async () => {
    // Prepare
    await armFault(sandbox, {
      target: 'ec2:StartInstances',
      error: 'InsufficientInstanceCapacity',
      probability: 1,
    });
    const jobId = newJobId();

    // Act
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'x64'] });
    const job = await settledJob(sandbox, jobId);

    // Assess
    expect(job).toMatchObject({ pool: 'linux-codebuild', provider: 'codebuild' });
    await waitForPoint(
      METRIC.runnerLaunches,
      (p) => p.dimensions.pool === 'linux-codebuild' && p.dimensions.provider === 'codebuild',
    );
    const fallback = await waitForPoint(METRIC.fallbackLaunches, (p) => p.dimensions.pool === 'linux');
    expect(fallback.dimensionSets).toEqual([['service'], ['service', 'pool']]);
  });

  it('counts a job left without capacity, and the reconciler that later dispatches it', async () => {
    // Prepare: the arm64 pool has no fallback.
    await armFault(sandbox, {
      target: 'ec2:StartInstances',
      error: 'InsufficientInstanceCapacity',
      probability: 1,
    });
    const jobId = newJobId();

    // Act
    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'arm64'] });
    await waitFor('the job to be left without capacity', async () =>
      ((await state(sandbox)).jobs!.find((j) => j.id === jobId)?.reason ?? '').startsWith('no capacity'),
    );
    await waitForPoint(METRIC.noCapacity, () => true);
    // The reconciler sees it waiting: the oldest queued job's age is above zero.
    await waitForPoint(METRIC.oldestQueuedAge, (p) => p.values[0]! > 0);
    await clearFaults(sandbox);
    const job = await completedJob(sandbox, jobId);

    // Assess
    expect(job).toMatchObject({ pool: 'linux-arm64' });
    await waitForPoint(METRIC.reconcilerDispatches, (p) => p.values[0]! >= 1);
    await waitForPoint(METRIC.runnerLaunches, (p) => p.dimensions.pool === 'linux-arm64');
    const summary = (await state(sandbox)).metrics as unknown as Record<string, { sum: number }>;
    expect(summary[METRIC.noCapacity]!.sum).toBeGreaterThanOrEqual(1);
    expect(summary[METRIC.reconcilerDispatches]!.sum).toBeGreaterThanOrEqual(1);
  });

  it('keeps the EMF lines off the console', () => {
    expect(sandbox.metrics.points().length).toBeGreaterThan(0);
    expect(console.filter((line) => line.includes('"_aws"'))).toEqual([]);
  });
});
