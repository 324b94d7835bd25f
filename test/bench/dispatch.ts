import { spawn } from 'node:child_process';
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
    config.sandbox.durations.jobMs = 3_600_000; // no job finishes during the burst: every launch stays visible
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

/**
 * Cold init of the dispatcher bundle (2.5 MB: the EC2 SDK model dominates), as Lambda pays it:
 * module load plus its one-time work (config validation, the App key from Secrets Manager, here
 * the twin's), against bare node. Processes are spawned, not exec'd, so the twin keeps answering.
 */
export const benchDispatcherInit = async (runs = 15) => {
  const sandbox = await startTestSandbox();
  const bundle = new URL('../../dist/runner-dispatcher/handler.mjs', import.meta.url).href;
  const env = { ...process.env, ...sandbox.twin.lambdaEnv, POWERTOOLS_LOG_LEVEL: 'ERROR' };
  const wall = (args: string[]) =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now();
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve(performance.now() - started) : reject(new Error(`init failed: ${stderr}`)),
      );
    });
  try {
    const bare: number[] = [];
    const loaded: number[] = [];
    for (let i = 0; i < runs; i++) {
      bare.push(await wall(['-e', '']));
      loaded.push(await wall(['--input-type=module', '-e', `await import(${JSON.stringify(bundle)})`]));
    }
    const extra = median(loaded) - median(bare);
    return [
      `Cold init of dist/runner-dispatcher/handler.mjs incl. config + secret read, median of ${runs} fresh ${process.version} processes`,
      `  bare node ${fmt(median(bare))}  with bundle ${fmt(median(loaded))}  init +${fmt(extra)}  ratio ${(median(loaded) / median(bare)).toFixed(2)}×`,
    ];
  } finally {
    await sandbox.close();
  }
};
