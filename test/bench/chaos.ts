import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { startTestSandbox, state } from '../support/sandbox-driver.ts';
import { percentile } from './stats.ts';

/**
 * Chaos: 1,000 jobs queued the way GHES queues them (`POST /sandbox/github/jobs`: the twin's GitHub
 * sends each signed webhook itself) while deliveries get lost, the dispatcher crashes and EC2 runs
 * out of capacity; then the same jobs once more with nothing failing, to count what AWS bills.
 * Times are simulated (real time ÷ timeScale), since the reconciler's minute is simulated too.
 */
// 0.25: the reconciler's minute is 15 s and its timeout 7.5 s. At a smaller scale the twin's own CPU
// (one process for every Lambda and service, about 4.5 jobs a real second here) is the bottleneck:
// real seconds of it become minutes of simulated time, and the reconciler times out in most runs.
const TIME_SCALE = 0.25;
const RUNS = 10;
const JOBS_PER_RUN = 100;
const LABELS = ['self-hosted', 'linux', 'x64'];

interface Observed {
  readonly submittedAt: Map<number, number>;
  readonly startedAt: Map<number, number>;
  readonly completedAt: Map<number, number>;
}

const startChaosSandbox = () =>
  startTestSandbox((config) => {
    config.sandbox.timeScale = TIME_SCALE;
    config.sandbox.schedules = true; // the reconciler runs every simulated minute
    config.sandbox.instances = [
      { pool: 'linux', az: 'eu-west-1a', instanceType: 'm7i.large', count: 20 },
      { pool: 'linux', az: 'eu-west-1b', instanceType: 'm6i.large', count: 20 },
    ];
    for (const pool of config.pools) {
      if (pool.name === 'linux') pool.maxConcurrent = 40;
      if (pool.name === 'linux-codebuild') pool.maxConcurrent = 200;
    }
  });

const arm = async (sandbox: Sandbox, fault: Record<string, unknown>) => {
  const response = await fetch(`${sandbox.url}/sandbox/faults`, {
    method: 'POST',
    body: JSON.stringify(fault),
  });
  if (response.status !== 201) throw new Error(`fault refused: ${await response.text()}`);
};

/** Queues RUNS × JOBS_PER_RUN jobs and follows them on the twin's GitHub until every one completed. */
const runJobs = async (sandbox: Sandbox, deadlineMs: number): Promise<Observed & { jobIds: number[] }> => {
  const observed: Observed = { submittedAt: new Map(), startedAt: new Map(), completedAt: new Map() };
  const jobIds: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const response = await fetch(`${sandbox.url}/sandbox/github/jobs`, {
      method: 'POST',
      body: JSON.stringify({
        repository: `acme/app-${run}`,
        labels: LABELS,
        workflowName: 'CI',
        count: JOBS_PER_RUN,
      }),
    });
    if (response.status !== 201) throw new Error(`POST /sandbox/github/jobs: ${await response.text()}`);
    const created = (await response.json()) as { jobIds: number[] };
    for (const id of created.jobIds) observed.submittedAt.set(id, Date.now());
    jobIds.push(...created.jobIds);
  }
  const wanted = new Set(jobIds);
  const started = Date.now();
  // Polled in-process every 20 ms (1 simulated second at 0.02): GitHub's own stamps are whole seconds.
  for (;;) {
    const now = Date.now();
    for (const job of sandbox.twin.github.jobs()) {
      if (!wanted.has(job.id)) continue;
      if (job.status !== 'queued' && job.status !== 'waiting' && !observed.startedAt.has(job.id))
        observed.startedAt.set(job.id, now);
      if (job.status === 'completed' && !observed.completedAt.has(job.id))
        observed.completedAt.set(job.id, now);
    }
    if (observed.completedAt.size === jobIds.length) break;
    if (now - started > deadlineMs) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { ...observed, jobIds };
};

/** Waits until the ledger has closed every job and no slot or instance is held, or the deadline passes. */
const settle = async (sandbox: Sandbox, jobIds: readonly number[], deadlineMs: number) => {
  const wanted = new Set(jobIds);
  const started = Date.now();
  for (;;) {
    const s = await state(sandbox);
    const open = s.jobs!.filter((j) => wanted.has(j.id) && j.status !== 'completed').length;
    const slots = s.pools!.reduce((sum, p) => sum + Number(p.inUse ?? 0), 0);
    const held = s.instances!.filter((i) => i.jobId != null).length;
    if ((open === 0 && slots === 0 && held === 0) || Date.now() - started > deadlineMs)
      return { open, slots, held, waitedMs: Date.now() - started, s };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

const simSeconds = (realMs: number) => realMs / TIME_SCALE / 1000;
const minSec = (seconds: number) =>
  seconds >= 60 ? `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s` : `${seconds.toFixed(0)} s`;

/**
 * Runners that started on a machine and never got a job: a launch no job needed. (Registrations the
 * dispatcher removed unused, or never started, are not launches.)
 */
const idleRunners = (sandbox: Sandbox) =>
  sandbox.twin.github
    .runners()
    .filter(
      (r) => r.resourceId !== null && r.jobId === null && (r.state === 'idle' || r.state === 'deregistered'),
    ).length;

const launches = (sandbox: Sandbox) =>
  sandbox.twin.endpoint.calls.filter(
    (c) => !c.error && (c.target === 'codebuild:StartBuild' || c.target === 'ec2:StartInstances'),
  ).length;

export const benchChaos = async () => {
  const sandbox = await startChaosSandbox();
  try {
    // 10 % of queued and 10 % of completed deliveries never reach the intake; 5 % of dispatcher
    // invocations die (half before the work, half 15 ms into it); 20 % of StartInstances find no
    // capacity, and EC2 lets 5 a second through.
    await arm(sandbox, { target: 'github:DeliverWebhook', action: 'queued', probability: 0.1 });
    await arm(sandbox, { target: 'github:DeliverWebhook', action: 'completed', probability: 0.1 });
    await arm(sandbox, { target: 'lambda:runner-dispatcher', error: 'Crash', probability: 0.025 });
    await arm(sandbox, {
      target: 'lambda:runner-dispatcher',
      error: 'Crash',
      probability: 0.026,
      afterMs: 15,
    });
    await arm(sandbox, {
      target: 'ec2:StartInstances',
      error: 'InsufficientInstanceCapacity',
      probability: 0.2,
    });
    await arm(sandbox, { target: 'ec2:StartInstances', error: 'RequestLimitExceeded', ratePerSecond: 5 });
    const began = Date.now();
    const run = await runJobs(sandbox, 900_000);
    const allCompleted = Date.now() - began;
    const end = await settle(sandbox, run.jobIds, 300_000);
    // When each lost queued delivery failed, by job.
    const lostQueued = new Map(
      sandbox.twin.github.hookLog
        .recent(100_000)
        .filter((d) => d.action === 'queued' && !d.redelivery && (d.status_code < 200 || d.status_code > 299))
        .map((d) => [
          (sandbox.twin.github.hookLog.get(d.id)?.request.payload as any)?.workflow_job?.id as number,
          Date.parse(d.delivered_at),
        ]),
    );
    const lostCompleted = sandbox.twin.github.hookLog
      .recent(100_000)
      .filter(
        (d) => d.action === 'completed' && !d.redelivery && (d.status_code < 200 || d.status_code > 299),
      ).length;
    const toStart = (ids: Iterable<number>) =>
      [...ids]
        .filter((id) => run.startedAt.has(id))
        .map((id) => simSeconds(run.startedAt.get(id)! - run.submittedAt.get(id)!));
    // Recovered: the ledger has the job (the intake took a redelivery, or the reconciler found it).
    const queuedAt = new Map((end.s.jobs as any[]).map((j) => [j.id as number, Date.parse(j.queuedAt)]));
    const recovery = [...lostQueued]
      .filter(([id]) => Number.isFinite(queuedAt.get(id)))
      .map(([id, failedAt]) => simSeconds(queuedAt.get(id)! - failedAt));
    const queueTimes = toStart(run.jobIds);
    const lambdas = (end.s as any).lambdas as Record<
      string,
      { crashes: number; invocations: number; timeouts: number; errors: number }
    >;
    return [
      `Chaos: ${run.jobIds.length} jobs through POST /sandbox/github/jobs, timeScale ${TIME_SCALE}; 10 % of queued and of completed deliveries lost, 5 % dispatcher crashes, 20 % InsufficientInstanceCapacity, StartInstances at 5 TPS`,
      `  completed on GitHub ${run.completedAt.size}/${run.jobIds.length} in ${minSec(simSeconds(allCompleted))} simulated (${(allCompleted / 1000).toFixed(1)} s real); ledger still open ${end.open}, slots held ${end.slots}, instances held ${end.held} after ${(end.waitedMs / 1000).toFixed(1)} s more`,
      `  lost deliveries: queued ${lostQueued.size}, completed ${lostCompleted}; dispatcher crashes ${lambdas['runner-dispatcher']?.crashes ?? 0} of ${lambdas['runner-dispatcher']?.invocations ?? 0} invocations; reconciler runs ${lambdas['runner-reconciler']!.invocations} (${lambdas['runner-reconciler']!.timeouts} timed out, ${lambdas['runner-reconciler']!.errors} failed)`,
      `  a lost queued job was back in the ledger after: p50 ${minSec(percentile(recovery, 50))}, p99 ${minSec(percentile(recovery, 99))}, worst ${minSec(Math.max(...recovery))} simulated (target ≤ 3 min); ${recovery.length} of ${lostQueued.size} recovered`,
      `  queue time (queued → a runner took it), all jobs: p50 ${minSec(percentile(queueTimes, 50))}, p99 ${minSec(percentile(queueTimes, 99))} simulated (bounded by the twin's one process: ${(run.jobIds.length / (allCompleted / 1000)).toFixed(1)} jobs a real second)`,
      `  launches ${launches(sandbox)} for ${run.jobIds.length} jobs; runners that came online and got no job (double launches) ${idleRunners(sandbox)}`,
    ];
  } finally {
    await sandbox.close();
  }
};

/**
 * AWS list prices, us-east-1 (eu-west-1, the sandbox's region, is within a few % for these), taken
 * from the service pricing pages (aws.amazon.com/<service>/pricing) as published after DynamoDB's
 * on-demand price cut of November 2024; not re-checked online on 2026-11-29 (no internet here).
 */
const PRICES = {
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecondArm: 0.0000133334,
  httpApiRequest: 1.0 / 1e6,
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  eventBridgeEvent: 1.0 / 1e6,
  sqsRequest: 0.4 / 1e6,
  secretsManagerCall: 0.05 / 1e4,
  // Parameter Store standard parameters at standard throughput, EC2, CodeBuild and STS API calls: free.
};

/** The functions' memory as serverless.yml deploys it. */
const memoryMbOf = (): Record<string, number> => {
  const text = readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8');
  const functions = (parse(text, { customTags: [], strict: false, logLevel: 'silent' }) as any)
    .functions as Record<string, { memorySize?: number }>;
  return Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.memorySize ?? 1024]));
};

/** Request units as DynamoDB on-demand bills them, from the calls the twin saw (items under 1 KB / 4 KB). */
const requestUnits = (calls: Sandbox['twin']['endpoint']['calls']) => {
  let writes = 0;
  let reads = 0;
  for (const call of calls) {
    const operation = call.target.replace(/^dynamodb:/, '');
    if (operation === call.target) continue;
    const tables = call.tables ?? [];
    if (/^(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems)$/.test(operation)) {
      // One unit an item (a failed condition is billed too); the jobs table's index costs one more;
      // a transaction twice.
      const units = tables.reduce((sum, table) => sum + (table === 'JobsTable' ? 2 : 1), 0);
      writes += operation === 'TransactWriteItems' ? 2 * units : units;
    } else if (/^(GetItem|Query|Scan|BatchGetItem|TransactGetItems)$/.test(operation)) {
      reads += Math.max(1, tables.length);
    }
  }
  return { writes, reads };
};

export const benchCost = async () => {
  const sandbox = await startChaosSandbox();
  try {
    // 200 jobs, one every 150 ms, priced per 1,000: a Lambda is billed for its own wall time, which
    // in the one sandbox process (whose DynamoDB runs transactions one at a time) would otherwise
    // include the other Lambdas' work. Calls per job do not depend on the pace.
    const jobIds: number[] = [];
    for (let i = 0; i < 200; i++) {
      const response = await fetch(`${sandbox.url}/sandbox/github/jobs`, {
        method: 'POST',
        body: JSON.stringify({
          repository: `acme/svc-${i % 10}`,
          labels: LABELS,
          workflowName: 'CI',
          count: 1,
        }),
      });
      if (response.status !== 201) throw new Error(`POST /sandbox/github/jobs: ${await response.text()}`);
      jobIds.push(...((await response.json()) as { jobIds: number[] }).jobIds);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    const end = await settle(sandbox, jobIds, 300_000);
    if (end.open) throw new Error(`${end.open} jobs still open after the clean run`);
    const s = (await state(sandbox)) as any;
    const jobs = jobIds.length;
    const memory = memoryMbOf();
    const byCaller = (name: string) => sandbox.twin.endpoint.calls.filter((c) => c.caller === `twin-${name}`);
    const perJobFunctions = ['github-webhook', 'runner-dispatcher', 'deploy-notifier'];
    const lambda = (name: string) => {
      const stats = s.lambdas[name] as { invocations: number; billedMs: number };
      const gbSeconds = (stats.billedMs / 1000) * ((memory[name] ?? 1024) / 1024);
      return {
        amount: `${stats.invocations} requests, ${gbSeconds.toFixed(1)} GB-s`,
        cost: stats.invocations * PRICES.lambdaRequest + gbSeconds * PRICES.lambdaGbSecondArm,
      };
    };
    const perJobCalls = perJobFunctions.flatMap(byCaller);
    const units = requestUnits(perJobCalls);
    const events = perJobCalls.filter((c) => c.target === 'eventbridge:PutEvents').length;
    // Per message: EventBridge's send; per batch: the event source mapping's receive and delete.
    const queues = ['DispatchQueue', 'DeployNotifierQueue'].map((name) => sandbox.twin.queues.get(name)!);
    const sqs =
      queues.reduce((sum, q) => sum + q.sent, 0) +
      2 * (s.lambdas['runner-dispatcher'].invocations + s.lambdas['deploy-notifier'].invocations);
    const apiRequests = (s.deliveries as unknown[]).length;
    const secrets = perJobCalls.filter((c) => c.target.startsWith('secretsmanager:')).length;
    const lines: [string, number, string][] = [
      ['API Gateway HTTP API', apiRequests * PRICES.httpApiRequest, `${apiRequests} requests`],
      ...perJobFunctions.map((name): [string, number, string] => {
        const { cost, amount } = lambda(name);
        return [`Lambda ${name}`, cost, amount];
      }),
      [
        'DynamoDB on-demand',
        units.writes * PRICES.dynamoWriteUnit + units.reads * PRICES.dynamoReadUnit,
        `${units.writes} WRU, ${units.reads} RRU`,
      ],
      ['EventBridge custom events', events * PRICES.eventBridgeEvent, `${events} events`],
      ['SQS', sqs * PRICES.sqsRequest, `${sqs} requests`],
      ['Secrets Manager', secrets * PRICES.secretsManagerCall, `${secrets} calls (cold starts)`],
    ];
    const total = lines.reduce((sum, [, cost]) => sum + cost, 0);
    const perThousand = (cost: number) => (cost / jobs) * 1000;
    // The reconciler runs every minute whatever the load: its cost is a month's, not a job's.
    const reconciler = lambda('runner-reconciler');
    const runs = s.lambdas['runner-reconciler'].invocations as number;
    const reconcilerUnits = requestUnits(byCaller('runner-reconciler'));
    const perRun =
      (reconciler.cost +
        reconcilerUnits.writes * PRICES.dynamoWriteUnit +
        reconcilerUnits.reads * PRICES.dynamoReadUnit) /
      runs;
    return [
      `AWS cost of the control plane per 1,000 jobs: a clean run of ${jobs} jobs (one every 150 ms), counted at the twin; runner compute excluded; list prices, us-east-1, arm64`,
      ...lines.map(
        ([what, cost, amount]) =>
          `  ${what.padEnd(28)} $${perThousand(cost).toFixed(5)}  (${amount} for ${jobs} jobs)`,
      ),
      `  total                        $${perThousand(total).toFixed(4)} per 1,000 jobs (target ≤ $0.02)`,
      `  the reconciler, whatever the load: $${perRun.toFixed(7)} a run, $${(perRun * 43_200).toFixed(2)} a 30-day month (${runs} runs measured)`,
      `  not counted: CloudWatch Logs ingestion ($0.50/GB), custom metrics ($0.30 a metric a month, fixed). Lambda time is measured in the twin, whose AWS calls answer over loopback (faster than AWS)`,
    ];
  } finally {
    await sandbox.close();
  }
};
