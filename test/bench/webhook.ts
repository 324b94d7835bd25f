import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { sign } from '@octokit/webhooks-methods';
import { createWebhookIntake } from '../../shared/intake/receive-webhook.ts';
import { buildFunction, functionNames } from '../../scripts/build.ts';
import { startSandbox } from '../sandbox/sandbox.ts';
import { loadSandboxConfig } from '../sandbox/sandbox-config.ts';
import { postDelivery, signedDelivery, workflowJobPayload } from '../support/github-deliveries.ts';
import { fmt, median, percentile, timeMany } from './stats.ts';

const SECRET = 'bench-secret';

/**
 * A queued payload of about `bytes`: trimmed to the fields a minimal delivery carries for 1 KB,
 * padded through its steps list (as big real jobs are) above that.
 */
const payloadOfSize = (bytes: number, jobId: number) => {
  const full = workflowJobPayload('queued', { id: jobId });
  const job = full.workflow_job;
  const repository = full.repository as {
    id: number;
    name: string;
    full_name: string;
    owner: { login: string };
  };
  const payload = {
    action: full.action,
    workflow_job: {
      id: job.id,
      run_id: job.run_id,
      run_attempt: job.run_attempt,
      name: job.name,
      status: job.status,
      labels: job.labels,
      workflow_name: job.workflow_name,
      head_branch: job.head_branch,
      head_sha: job.head_sha,
      created_at: job.created_at,
      html_url: job.html_url,
      steps: [] as unknown[],
    },
    repository: {
      id: repository.id,
      name: repository.name,
      full_name: repository.full_name,
      private: true,
      owner: { login: repository.owner.login, id: 1, type: 'Organization' },
    },
    installation: full.installation,
    sender: { login: 'octocat', id: 1, type: 'User' },
  };
  const base = JSON.stringify(payload).length;
  const step = {
    name: 'x'.repeat(80),
    status: 'queued',
    conclusion: null,
    number: 1,
    started_at: null,
    completed_at: null,
  };
  const steps = Array.from(
    { length: Math.max(0, Math.round((bytes - base) / (JSON.stringify(step).length + 1))) },
    (_, i) => ({
      ...step,
      number: i + 1,
    }),
  );
  return { ...payload, workflow_job: { ...payload.workflow_job, steps } };
};

/** Handler logic with in-memory storage vs the floor every verifier pays: HMAC-SHA256 + JSON.parse. */
export const benchHandlerVsFloor = async () => {
  const noop = async () => {};
  const intake = createWebhookIntake({
    secrets: { current: async () => [SECRET] },
    recorder: {
      record: async (_job, by) => ({
        outcome: 'recorded',
        changed: true,
        claim: { deliveryId: by.deliveryId, bodyHash: by.bodyHash, owner: 'bench' },
      }),
      release: noop,
    },
    publisher: { publishWorkflowJob: noop },
    logger: { info() {}, warn() {}, error() {}, appendKeys() {} },
  });
  const rows: string[] = [];
  for (const size of [1_024, 10_240, 102_400]) {
    const text = JSON.stringify(payloadOfSize(size, 1));
    const body = Buffer.from(text);
    const request = {
      headers: {
        'x-github-event': 'workflow_job',
        'x-github-delivery': 'd',
        'x-hub-signature-256': await sign(SECRET, text),
      },
      body,
    };
    const iterations = size > 50_000 ? 2_000 : 5_000;
    const floor = () => {
      createHmac('sha256', SECRET).update(body).digest('hex');
      JSON.parse(body.toString('utf8'));
    };
    // Warm both up, then interleave them so drift (GC, CPU frequency, the other core) hits both alike.
    for (let i = 0; i < 2_000; i++) {
      await intake.receive(request);
      floor();
    }
    const handler: number[] = [];
    const floorSamples: number[] = [];
    for (let i = 0; i < iterations; i++) {
      handler.push(...(await timeMany(1, () => intake.receive(request))));
      floorSamples.push(...(await timeMany(1, floor)));
    }
    const ratio50 = median(handler) / median(floorSamples);
    const ratio99 = percentile(handler, 99) / percentile(floorSamples, 99);
    rows.push(
      `  ${(body.length / 1024).toFixed(1).padStart(6)} KB  handler p50 ${fmt(median(handler)).padStart(9)} p99 ${fmt(
        percentile(handler, 99),
      ).padStart(9)} | floor p50 ${fmt(median(floorSamples)).padStart(9)} p99 ${fmt(
        percentile(floorSamples, 99),
      ).padStart(9)} | ratio p50 ${ratio50.toFixed(2)}× p99 ${ratio99.toFixed(2)}×`,
    );
  }
  return ['Webhook handler vs floor (HMAC-SHA256 + JSON.parse), storage in memory; target ≤ 2×', ...rows];
};

/** Sequential webhooks through the sandbox route, storage included (the sandbox contract: p99 < 100 ms). */
export const benchSandboxRoundTrip = async () => {
  const sandbox = await startSandbox({ config: loadSandboxConfig(undefined, {}) });
  try {
    const secret = sandbox.config.sandbox.secrets.webhook;
    let jobId = 5_000_000;
    const send = async () => {
      const delivery = await signedDelivery(workflowJobPayload('queued', { id: ++jobId }), { secret });
      const start = performance.now();
      const { status } = await postDelivery(sandbox.url, delivery);
      if (status !== 202) throw new Error(`sandbox answered ${status}`);
      return performance.now() - start;
    };
    for (let i = 0; i < 50; i++) await send();
    const samples: number[] = [];
    for (let i = 0; i < 500; i++) samples.push(await send());
    return [
      'Sandbox POST /github/webhook, sequential, 500 queued jobs (one transaction + PutEvents on the twin)',
      `  p50 ${fmt(median(samples))}  p99 ${fmt(percentile(samples, 99))}  (contract: p99 < 100 ms)`,
    ];
  } finally {
    await sandbox.close();
  }
};

export const benchBundles = async () => {
  const rows = ['Minified bundles (esbuild, ESM, AWS SDK bundled where used)'];
  for (const name of functionNames()) {
    const { bytes } = await buildFunction(name);
    rows.push(
      `  ${name.padEnd(20)} ${(bytes / 1024).toFixed(1).padStart(7)} KB${name === 'github-webhook' ? '  (target ≤ 50 KB)' : ''}`,
    );
  }
  return rows;
};

/** Module init of the built webhook bundle above bare `node -e ''`, median of fresh processes. */
export const benchInit = (runs = 21) => {
  const env = {
    ...process.env,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    DELIVERIES_TABLE: 'd',
    JOBS_TABLE: 'j',
    EVENT_BUS_NAME: 'b',
    WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:x',
  };
  const wall = (args: string[]) => {
    const start = performance.now();
    execFileSync(process.execPath, args, { env, stdio: 'ignore' });
    return performance.now() - start;
  };
  const bundle = new URL('../../dist/github-webhook/handler.mjs', import.meta.url).href;
  const bare: number[] = [];
  const loaded: number[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(wall(['-e', '']));
    loaded.push(wall(['--input-type=module', '-e', `await import(${JSON.stringify(bundle)})`]));
  }
  const extra = median(loaded) - median(bare);
  return [
    `Cold init of dist/github-webhook/handler.mjs, median of ${runs} fresh ${process.version} processes`,
    `  bare node ${fmt(median(bare))}  with bundle ${fmt(median(loaded))}  init +${fmt(extra)}  ratio ${(median(loaded) / median(bare)).toFixed(2)}×  (target: init ≤ +20 ms)`,
  ];
};
