import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildFunction } from '../../scripts/build.ts';
import { fmt } from './stats.ts';

/**
 * The webhook handler on the wire: the built bundle (dist/github-webhook/handler.mjs) in a fresh
 * Node process, as Lambda loads it, with every AWS call it makes signed and sent over loopback HTTP
 * to a stub in this process that answers at once. The stub counts calls and TCP connections; the
 * child measures its own wall time and CPU (process.cpuUsage), so the stub's work is not counted.
 *
 * Next to it, in the same child: the floor every verifier pays (HMAC-SHA256 + JSON.parse of the
 * body) and a bare signed call of the same client (one DynamoDB GetItem), built with the same esbuild
 * options as the Lambda bundles.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'bench-wire-secret';

interface StubCounts {
  calls: Map<string, number>;
  connections: number;
}

const startStub = async () => {
  const counts: StubCounts = { calls: new Map(), connections: 0 };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? 'unknown');
      counts.calls.set(target, (counts.calls.get(target) ?? 0) + 1);
      const answer = target.endsWith('.PutEvents')
        ? { FailedEntryCount: 0, Entries: [{ EventId: '11710aed-b79e-4468-a20b-bb3c0c3b4860' }] }
        : target.endsWith('.GetSecretValue')
          ? { Name: 'webhook', SecretString: SECRET }
          : target.endsWith('.GetItem')
            ? { Item: { pk: { S: 'bench' } } }
            : {};
      const body = JSON.stringify(answer);
      response.writeHead(200, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
    });
  });
  server.on('connection', () => counts.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    counts,
    reset() {
      counts.calls.clear();
      counts.connections = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

/** A bundle exporting the light client, for the bare signed call. */
const buildSignedCallBundle = async () => {
  const outfile = `${root}dist/bench/json-client.mjs`;
  await build({
    stdin: {
      contents: "export { createJsonClient, dynamoDbSpec } from './shared/aws/json-client.ts';",
      resolveDir: root,
      loader: 'ts',
    },
    outfile,
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    logLevel: 'warning',
    banner: {
      js: "const require=(id)=>process.getBuiltinModule(id)??process.getBuiltinModule('node:module').createRequire(import.meta.url)(id);",
    },
  });
  return outfile;
};

/** Runs in the child: everything it measures, printed as one JSON line. */
const childScript = (handlerBundle: string, clientBundle: string, iterations: number) => `
// Built-ins through getBuiltinModule: an ESM import would load more than the bundle itself does.
const { createHmac } = process.getBuiltinModule('node:crypto');
const started = performance.now();
const startCpu = process.cpuUsage();
const { handler } = await import(${JSON.stringify(handlerBundle)});
const loaded = performance.now();
let jobId = 1;
const payload = (id) => JSON.stringify({
  action: 'queued',
  workflow_job: { id, run_id: id * 10, run_attempt: 1, name: 'build', status: 'queued',
    labels: ['self-hosted', 'linux', 'x64'], workflow_name: 'CI', head_branch: 'main',
    head_sha: 'f'.repeat(40), created_at: '2026-11-30T10:00:00Z',
    html_url: 'https://ghes.example.internal/acme/app/actions/runs/1/job/' + id, steps: [] },
  repository: { id: 1, name: 'app', full_name: 'acme/app', private: true,
    owner: { login: 'acme', id: 1, type: 'Organization' } },
  installation: { id: 7 },
  sender: { login: 'octocat', id: 1, type: 'User' },
  padding: 'x'.repeat(300),
});
const event = (body) => ({
  version: '2.0', routeKey: 'POST /github/webhook', rawPath: '/github/webhook', rawQueryString: '',
  headers: { 'content-type': 'application/json', 'x-github-event': 'workflow_job',
    'x-github-delivery': 'd-' + jobId, 'x-hub-signature-256': 'sha256=' + createHmac('sha256', ${JSON.stringify(SECRET)}).update(body).digest('hex') },
  requestContext: { http: { method: 'POST', path: '/github/webhook' } },
  body, isBase64Encoded: false,
});
const context = { functionName: 'github-webhook', functionVersion: '1', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:github-webhook',
  memoryLimitInMB: '256', awsRequestId: 'r', logGroupName: 'g', logStreamName: 's', getRemainingTimeInMillis: () => 10000 };
const invoke = async () => {
  const body = payload(jobId++);
  const result = await handler(event(body), context);
  if (result.statusCode !== 202) throw new Error('answered ' + result.statusCode + ' ' + result.body);
  return body.length;
};
const bytes = await invoke();
const first = performance.now();
const firstCpu = process.cpuUsage(startCpu);
for (let i = 0; i < 300; i++) await invoke();
process.send({ phase: 'warm' });
await new Promise((resolve) => process.once('message', resolve));
const wall = [];
const cpu0 = process.cpuUsage();
for (let i = 0; i < ${iterations}; i++) {
  const t = performance.now();
  await invoke();
  wall.push(performance.now() - t);
}
const cpu = process.cpuUsage(cpu0);
// The floor: HMAC-SHA256 + JSON.parse of the same size of body.
const body = payload(1);
const floorWall = [];
const floorCpu0 = process.cpuUsage();
for (let i = 0; i < ${iterations}; i++) {
  const t = performance.now();
  createHmac('sha256', ${JSON.stringify(SECRET)}).update(body).digest('hex');
  JSON.parse(body);
  floorWall.push(performance.now() - t);
}
const floorCpu = process.cpuUsage(floorCpu0);
process.send({ phase: 'bare' });
await new Promise((resolve) => process.once('message', resolve));
const { createJsonClient, dynamoDbSpec } = await import(${JSON.stringify(clientBundle)});
const client = createJsonClient(dynamoDbSpec, { region: 'eu-west-1', endpoint: process.env.AWS_ENDPOINT_URL,
  credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
for (let i = 0; i < 300; i++) await client('GetItem', { TableName: 'Jobs', Key: { pk: { S: 'bench' } } });
const callWall = [];
const callCpu0 = process.cpuUsage();
for (let i = 0; i < ${iterations}; i++) {
  const t = performance.now();
  await client('GetItem', { TableName: 'Jobs', Key: { pk: { S: 'bench' } } });
  callWall.push(performance.now() - t);
}
const callCpu = process.cpuUsage(callCpu0);
const perCall = (usage) => (usage.user + usage.system) / 1000 / ${iterations};
process.send({ phase: 'done', bytes, loadMs: loaded - started, firstMs: first - loaded,
  coldCpuMs: (firstCpu.user + firstCpu.system) / 1000, wall,
  cpuMs: perCall(cpu), systemCpuMs: cpu.system / 1000 / ${iterations}, floorWall, floorCpuMs: perCall(floorCpu), callWall, callCpuMs: perCall(callCpu) });
`;

interface ChildResult {
  bytes: number;
  loadMs: number;
  firstMs: number;
  coldCpuMs: number;
  wall: number[];
  cpuMs: number;
  systemCpuMs: number;
  floorWall: number[];
  floorCpuMs: number;
  callWall: number[];
  callCpuMs: number;
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const pct = (values: number[], p: number) => {
  const s = sorted(values);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

export const benchWebhookOnTheWire = async (iterations = 3_000) => {
  await buildFunction('github-webhook');
  const clientBundle = await buildSignedCallBundle();
  const handlerBundle = `${root}dist/github-webhook/handler.mjs`;
  const stub = await startStub();
  try {
    const env = {
      PATH: process.env.PATH,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_ENDPOINT_URL: stub.url,
      DELIVERIES_TABLE: 'DeliveriesTable',
      JOBS_TABLE: 'JobsTable',
      EVENT_BUS_NAME: 'bus',
      WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:webhook',
      POWERTOOLS_LOG_LEVEL: 'INFO', // as deployed: its log lines are part of what a request costs
      POWERTOOLS_SERVICE_NAME: 'github-webhook',
    };
    const phases: Record<string, { calls: number; perTarget: Record<string, number>; connections: number }> =
      {};
    const snapshot = (name: string) => {
      phases[name] = {
        calls: [...stub.counts.calls.values()].reduce((a, b) => a + b, 0),
        perTarget: Object.fromEntries(stub.counts.calls),
        connections: stub.counts.connections,
      };
      stub.reset();
    };
    const result = await new Promise<ChildResult>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
          '--input-type=module',
          '-e',
          childScript(handlerBundle, clientBundle, iterations),
        ],
        { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
      );
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('message', (message: { phase: string } & Partial<ChildResult>) => {
        if (message.phase === 'warm') {
          snapshot('cold+warm-up');
          child.send('go');
        } else if (message.phase === 'bare') {
          snapshot('measured');
          child.send('go');
        } else if (message.phase === 'done') {
          snapshot('bare');
          resolve(message as ChildResult);
        }
      });
      child.on('exit', (code) => {
        if (code !== 0) reject(new Error(`bench child failed (${code}): ${stderr}`));
      });
    });
    const measured = phases.measured!;
    const callsPerRequest = measured.calls / iterations;
    const p50 = pct(result.wall, 50);
    const rows = [
      `Webhook on the wire: dist/github-webhook/handler.mjs in a fresh ${process.version} process, every AWS call signed and sent over loopback HTTP to a stub that answers at once; ${(result.bytes / 1024).toFixed(1)} KB queued deliveries, ${iterations} sequential`,
      `  load + first accepted request ${fmt(result.loadMs + result.firstMs)} (load ${fmt(result.loadMs)}, first request ${fmt(result.firstMs)}, incl. the secret read; CPU ${fmt(result.coldCpuMs)})  (target ≤ 30 ms)`,
      `  warm request p50 ${fmt(p50)}  p99 ${fmt(pct(result.wall, 99))}  (target p50 ≤ 1.0 ms)   CPU ${fmt(result.cpuMs)} per request, ${fmt(result.systemCpuMs)} of it in the kernel  (target ≤ 0.8 ms)`,
      `  AWS calls per accepted request ${callsPerRequest.toFixed(2)} (${Object.entries(measured.perTarget)
        .map(([target, n]) => `${target.split('.').pop()} ${(n / iterations).toFixed(2)}`)
        .join(
          ', ',
        )})  (target ≤ 2)   TCP connections opened: ${phases['cold+warm-up']!.connections} for the first 301 requests, ${measured.connections} for the next ${iterations}`,
      `  floor (HMAC-SHA256 + JSON.parse) p50 ${fmt(pct(result.floorWall, 50))}  CPU ${fmt(result.floorCpuMs)}   handler ÷ floor p50 ${(p50 / pct(result.floorWall, 50)).toFixed(1)}×`,
      `  bare signed call (DynamoDB GetItem, same client) p50 ${fmt(pct(result.callWall, 50))}  CPU ${fmt(result.callCpuMs)} per call  (target ≤ 0.25 ms)   connections ${phases.bare!.connections}`,
    ];
    return rows;
  } finally {
    await stub.close();
  }
};
