import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { jobPayload, newJobId, startTestSandbox, state } from '../support/sandbox-driver.ts';
import { signedDelivery } from '../support/github-deliveries.ts';
import { fmt, median, percentile } from './stats.ts';

const post = async (sandbox: Sandbox, body: ReturnType<typeof jobPayload>) => {
  const delivery = await signedDelivery(body, { secret: sandbox.config.sandbox.secrets.webhook });
  const response = await fetch(`${sandbox.url}/github/webhook`, {
    method: 'POST',
    headers: delivery.headers,
    body: delivery.body,
  });
  await response.arrayBuffer();
  if (response.status !== 202) throw new Error(`webhook answered ${response.status}`);
};

/**
 * Queued webhook → the provider call at the twin (StartBuild / StartInstances), sequential; the
 * simulated boot and job are excluded. Also the webhook's own answer time, as the ratio's base.
 */
export const benchDispatchLatency = async (jobs = 200) => {
  const sandbox = await startTestSandbox((config) => {
    config.sandbox.durations.jobMs = 1_000;
    // Enough stopped instances that every ec2-wake job finds one (each cycles in about 0.3 s here).
    config.sandbox.instances = [
      { pool: 'linux', az: 'eu-west-1a', instanceType: 'm7i.large', count: 20 },
      { pool: 'linux', az: 'eu-west-1b', instanceType: 'm6i.large', count: 20 },
    ];
    config.pools.find((p) => p.name === 'linux')!.maxConcurrent = 40;
  });
  /** `watch(jobId)` runs just before the job is sent; the probe it returns finds the job's provider call. */
  const measure = async (
    provider: string,
    labelsFor: (jobId: number) => string[],
    watch: (jobId: number) => () => number | undefined,
  ) => {
    const samples: number[] = [];
    const answered: number[] = [];
    for (let i = 0; i < jobs + 20; i++) {
      const jobId = newJobId();
      const calledAt = watch(jobId);
      const sent = Date.now();
      await post(sandbox, jobPayload({ jobId, labels: labelsFor(jobId) }));
      if (i >= 20) answered.push(Date.now() - sent);
      for (;;) {
        const at = calledAt();
        if (at !== undefined) {
          if (i >= 20) samples.push(at - sent);
          break;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return (
      `  ${provider.padEnd(26)} p50 ${fmt(median(samples))}  p99 ${fmt(percentile(samples, 99))}` +
      `  (${(median(samples) / median(answered)).toFixed(2)}× the webhook's own answer, p50 ${fmt(median(answered))})`
    );
  };
  const startInstances = () =>
    sandbox.twin.endpoint.calls.filter((c) => c.target === 'ec2:StartInstances' && !c.error);
  try {
    // AWS's own label scheme, through the linux-codebuild pool that enables it (50 slots; each job
    // here ends in 10 ms, so none waits for one).
    const codebuild = await measure(
      'codebuild → StartBuild',
      (jobId) => [`codebuild-ghes-runners-${jobId * 10}-1`],
      (jobId) => () =>
        sandbox.twin.codebuild
          .list()
          .find((b) => b.environmentVariables.GHES_CP_JOB === `${jobId}#1`)
          ?.startTime.getTime(),
    );
    const ec2 = await measure(
      'ec2-wake → StartInstances',
      () => ['self-hosted', 'linux', 'x64'],
      () => {
        // Sequential: the first successful StartInstances after this job is sent is its own.
        const before = startInstances().length;
        return () => startInstances()[before]?.at;
      },
    );
    return [
      `Queued webhook → provider call at the twin, sequential, ${jobs} jobs each (intake, bus, queue, GitHub check, JIT config, Parameter Store)`,
      codebuild,
      ec2,
    ];
  } finally {
    await sandbox.close();
  }
};

/** 1,000 queued jobs at once; EC2 StartInstances throttled to 5 TPS; CodeBuild takes what EC2 cannot. */
export const benchBurst = async (jobs = 1_000) => {
  const sandbox = await startTestSandbox((config) => {
    config.sandbox.timeScale = 0.05;
    config.sandbox.durations.jobMs = 1e9; // no job finishes during the burst: every launch stays visible
    config.sandbox.instances = [
      { pool: 'linux', az: 'eu-west-1a', instanceType: 'm7i.large', count: 20 },
      { pool: 'linux', az: 'eu-west-1b', instanceType: 'm6i.large', count: 20 },
    ];
    for (const pool of config.pools) {
      if (pool.name === 'linux') pool.maxConcurrent = 40;
      if (pool.name === 'linux-codebuild') pool.maxConcurrent = jobs;
    }
  });
  try {
    const armed = await fetch(`${sandbox.url}/sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify({ target: 'ec2:StartInstances', error: 'RequestLimitExceeded', ratePerSecond: 5 }),
    });
    if (armed.status !== 201) throw new Error(await armed.text());
    const ids = Array.from({ length: jobs }, () => newJobId());
    const started = performance.now();
    // GitHub sends deliveries concurrently; 20 at a time keeps the loopback honest on 2 cores.
    for (let i = 0; i < ids.length; i += 20) {
      await Promise.all(
        ids
          .slice(i, i + 20)
          .map((jobId) => post(sandbox, jobPayload({ jobId, labels: ['self-hosted', 'linux'] }))),
      );
    }
    const accepted = performance.now() - started;
    const wanted = new Set(ids);
    let rows: Record<string, any>[] = [];
    for (;;) {
      rows = (await state(sandbox)).jobs!.filter((j) => wanted.has(j.id));
      if (rows.every((j) => j.resourceId || j.reason)) break;
      if (performance.now() - started > 600_000) throw new Error('burst not dispatched within 10 minutes');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const dispatchedAll = performance.now() - started;
    const s = await state(sandbox);
    const builds = s.builds!.filter((b) => wanted.has(b.jobId)).length;
    const woken = s.instances!.filter((i) => i.state !== 'stopped').length;
    const launched = rows.filter((j) => j.resourceId);
    const perResource = new Map<string, number>();
    for (const j of launched) perResource.set(j.resourceId, (perResource.get(j.resourceId) ?? 0) + 1);
    const doubleClaims = [...perResource.values()].filter((n) => n > 1).length;
    const byPool = Object.entries(
      launched.reduce<Record<string, number>>((acc, j) => ({ ...acc, [j.pool]: (acc[j.pool] ?? 0) + 1 }), {}),
    )
      .map(([pool, n]) => `${pool} ${n}`)
      .join(', ');
    return [
      `Burst: ${jobs} queued jobs, StartInstances throttled to 5 TPS, 40 stopped instances, CodeBuild fallback`,
      `  all webhooks answered in ${(accepted / 1000).toFixed(1)} s; all jobs dispatched in ${(dispatchedAll / 1000).toFixed(1)} s`,
      `  launched ${launched.length}/${jobs} (${byPool}); not launched: ${jobs - launched.length}`,
      `  launches per job ${((builds + woken) / jobs).toFixed(2)} (builds ${builds} + woken instances ${woken}); double claims ${doubleClaims}`,
      `  StartInstances calls ${sandbox.twin.endpoint.count('ec2:StartInstances')}, throttled ${sandbox.twin.endpoint.calls.filter((c) => c.error === 'RequestLimitExceeded').length}`,
    ];
  } finally {
    await sandbox.close();
  }
};

/** The built dispatcher bundle: what Lambda loads (`npm run build`, the same esbuild options as serverless.yml). */
const DISPATCHER_BUNDLE = new URL('../../dist/runner-dispatcher/handler.mjs', import.meta.url);
const DISPATCHER_CHUNKS = new URL('../../dist/runner-dispatcher/handler.chunks/', import.meta.url);
const chunkBytes = () =>
  readdirSync(DISPATCHER_CHUNKS).reduce(
    (sum, file) => sum + statSync(new URL(file, DISPATCHER_CHUNKS)).size,
    0,
  );
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;

/**
 * A fresh process that imports the bundle, as Lambda's init does, then hands the handler `events`
 * one after the other, as its first invocations, and prints how long each took (on a line of its
 * own: the handler's metrics go to stdout too).
 */
const LAMBDA_CHILD = `
const events = JSON.parse(process.env.BENCH_EVENTS);
const { handler } = await import(process.env.BENCH_BUNDLE);
const invocations = [];
for (const event of events) {
  const started = performance.now();
  const context = {
    callbackWaitsForEmptyEventLoop: true, functionName: 'runner-dispatcher', functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:runner-dispatcher',
    memoryLimitInMB: '1024', awsRequestId: crypto.randomUUID(), logGroupName: '/aws/lambda/runner-dispatcher',
    logStreamName: 'bench', getRemainingTimeInMillis: () => 30_000,
  };
  const { batchItemFailures } = await handler(event, context);
  if (batchItemFailures.length > 0) throw new Error('dispatch failed: ' + JSON.stringify(batchItemFailures));
  invocations.push(performance.now() - started);
}
process.stdout.write('\\nBENCH ' + JSON.stringify({ invocations }) + '\\n');
`;

/**
 * Cold init of the dispatcher bundle as Lambda pays it: a fresh process importing
 * dist/runner-dispatcher/handler.mjs, whose top level awaits its one-time work (config validation,
 * the App key from Secrets Manager, here the twin's), against bare node; both timed from spawn to
 * exit. Then what the container's first message costs on top: a fresh process dispatches one job
 * of each provider kind, then one more of the same kind, whose time is the warm figure; the first
 * pays the SDK clients built and the GitHub App token fetched on first use. Processes are spawned,
 * not exec'd, so the twin keeps answering.
 */
export const benchDispatcherInit = async (runs = 15, dispatchRuns = 9) => {
  const sandbox = await startTestSandbox((config) => {
    // No job finishes during the bench: no completed event needs the dispatcher.
    config.sandbox.durations.jobMs = 1e9;
    config.sandbox.instances = [
      { pool: 'linux', az: 'eu-west-1a', instanceType: 'm7i.large', count: 2 * dispatchRuns },
      { pool: 'linux', az: 'eu-west-1b', instanceType: 'm6i.large', count: 2 * dispatchRuns },
    ];
    for (const pool of config.pools) pool.maxConcurrent = Math.max(pool.maxConcurrent, 4 * dispatchRuns);
  });
  // The queued events the intake sends the dispatcher are kept for the spawned processes instead.
  const queued = new Map<number, string>();
  sandbox.twin.queues.get('DispatchQueue')!.attach(async (messages) => {
    for (const message of messages) {
      const { detail } = JSON.parse(message.body) as { detail?: { jobId?: number; action?: string } };
      if (detail?.action === 'queued' && detail.jobId !== undefined) queued.set(detail.jobId, message.body);
    }
  });
  const sqsEvent = (body: string) => ({
    Records: [
      {
        messageId: crypto.randomUUID(),
        receiptHandle: 'bench',
        body,
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:eu-west-1:111122223333:DispatchQueue',
        awsRegion: 'eu-west-1',
      },
    ],
  });
  const queuedEvent = async (labels: (jobId: number) => string[]) => {
    const jobId = newJobId();
    await post(sandbox, jobPayload({ jobId, labels: labels(jobId) }));
    for (let waited = 0; !queued.has(jobId); waited += 5) {
      if (waited > 10_000) throw new Error(`job ${jobId} never reached the dispatch queue`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return sqsEvent(queued.get(jobId)!);
  };
  const env = {
    ...process.env,
    ...sandbox.twin.lambdaEnv,
    AWS_ACCESS_KEY_ID: 'twin-runner-dispatcher',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    BENCH_BUNDLE: DISPATCHER_BUNDLE.href,
  };
  const spawnTimed = (args: string[], events: unknown[] = []) =>
    new Promise<{ wall: number; stdout: string }>((resolve, reject) => {
      const started = performance.now();
      const child = spawn(process.execPath, args, {
        env: { ...env, BENCH_EVENTS: JSON.stringify(events) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0
          ? resolve({ wall: performance.now() - started, stdout })
          : reject(new Error(`dispatcher process failed: ${stderr}`)),
      );
    });
  const keyReads = () => sandbox.twin.endpoint.count('secretsmanager:GetSecretValue');
  try {
    const bare: number[] = [];
    const loaded: number[] = [];
    const readsBefore = keyReads();
    for (let i = 0; i < runs; i++) {
      bare.push((await spawnTimed(['-e', ''])).wall);
      const importOnly = [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(DISPATCHER_BUNDLE.href)})`,
      ];
      loaded.push((await spawnTimed(importOnly)).wall);
    }
    // The App key is read during init, not later: each import-only process read it from the twin.
    if (keyReads() - readsBefore < runs) throw new Error('the App key was not read during init');
    const init = median(loaded) - median(bare);
    const lines = [
      `Cold init of dist/runner-dispatcher/handler.mjs (${kb(statSync(DISPATCHER_BUNDLE).size)}; ` +
        `${kb(chunkBytes())} more in handler.chunks/, imported on the first launch), ` +
        `config + App key read included, median of ${runs} fresh ${process.version} processes`,
      `  bare node ${fmt(median(bare))}  with bundle ${fmt(median(loaded))}  init +${fmt(init)}` +
        `  (target +150 ms: ${init <= 150 ? 'met' : 'NOT met'})`,
    ];
    const kinds = [
      { name: 'codebuild', labels: (jobId: number) => [`codebuild-ghes-runners-${jobId * 10}-1`] },
      { name: 'ec2-wake', labels: () => ['self-hosted', 'linux', 'x64'] },
    ];
    for (const kind of kinds) {
      const first: number[] = [];
      const warm: number[] = [];
      for (let i = 0; i < dispatchRuns; i++) {
        const events = [await queuedEvent(kind.labels), await queuedEvent(kind.labels)];
        const run = await spawnTimed(['--input-type=module', '-e', LAMBDA_CHILD], events);
        const result = run.stdout.split('\n').find((line) => line.startsWith('BENCH '))!;
        const { invocations } = JSON.parse(result.slice('BENCH '.length)) as { invocations: number[] };
        first.push(invocations[0]!);
        warm.push(invocations[1]!);
      }
      lines.push(
        `  first ${kind.name} dispatch ${fmt(median(first))}, warm ${fmt(median(warm))}` +
          ` (the first pays +${fmt(median(first) - median(warm))}); init + first dispatch +${fmt(init + median(first))}` +
          `, median of ${dispatchRuns}`,
      );
    }
    return lines;
  } finally {
    await sandbox.close();
  }
};
