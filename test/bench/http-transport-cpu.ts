import { execFile, spawn } from 'node:child_process';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generate } from 'selfsigned';
import { createHttpTransport } from '../../shared/aws/http-transport.ts';
import { signRequest } from '../../shared/aws/sigv4.ts';

/**
 * CPU per signed-size AWS call: shared/aws/http-transport.ts against node:http(s) with a keep-alive
 * Agent (what shared/aws/json-client.ts used), both POSTing to a stub in ANOTHER process so only the
 * client's work is counted (process.cpuUsage of this process). The two run alternately, several
 * rounds: the machine is shared, so read the per-round ratios rather than the absolute figures.
 *
 * `--signed` signs every call with shared/aws/sigv4.ts first, as the JSON client does: the whole
 * cost of a bare AWS call on the client's side (JSON.stringify of the input and parse of the answer aside).
 *
 * `--fresh` runs each measure in a new process instead, JIT cold as in a young Lambda container:
 * CPU per call over the first 100 calls after the connection is open, then over the rest.
 *
 *   npx tsx test/bench/http-transport-cpu.ts [--tls] [--signed] [--fresh] [--calls 3000] [--rounds 5]
 */
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const tls = args.includes('--tls');
const signed = args.includes('--signed');
const CALLS = option('--calls', 3_000);
const ROUNDS = option('--rounds', 5);
const fresh = args.includes('--fresh');
const child = args.includes('--child')
  ? (args[args.indexOf('--child') + 1] as keyof ReturnType<typeof clientsFor>)
  : undefined;

/** The stub: a DynamoDB-sized GetItem answer, at once, over plain or TLS HTTP/1.1 keep-alive. */
const stubSource = `
const { key, cert } = process.env.STUB_KEY ? { key: process.env.STUB_KEY, cert: process.env.STUB_CERT } : {};
const http = process.getBuiltinModule(key ? 'node:https' : 'node:http');
const body = JSON.stringify({ Item: { pk: { S: 'bench#1' }, state: { S: 'queued' }, at: { N: '1764496500' } } });
const server = http.createServer(key ? { key, cert } : {}, (request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': 'QGJ2N5B1RV9B3F4K5H6J7K8L9M0N1P2Q3R4S5T6U7V8W9X0Y1Z2A', 'x-amz-crc32': '2745614147' });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

const startStub = async (certificate?: { private: string; cert: string }) => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', stubSource], {
    env: { PATH: process.env.PATH, STUB_KEY: certificate?.private ?? '', STUB_CERT: certificate?.cert ?? '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
    child.once('exit', (code) => reject(new Error(`stub exited with ${code}`)));
  });
  return { port, stop: () => child.kill() };
};

/** A DynamoDB GetItem's headers and body, with a session token the length Lambda's are. */
const body = JSON.stringify({ TableName: 'JobsTable', Key: { pk: { S: 'job#904' } }, ConsistentRead: true });
const credentials = {
  accessKeyId: 'ASIAEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjE'.padEnd(1_100, 'x'),
};
const sign = (host: string): Record<string, string> =>
  signRequest(
    {
      method: 'POST',
      path: '/',
      headers: {
        host,
        'content-type': 'application/x-amz-json-1.0',
        'content-length': String(Buffer.byteLength(body)),
        'x-amz-target': 'DynamoDB_20120810.GetItem',
      },
      body,
    },
    credentials,
    { region: 'eu-west-1', service: 'dynamodb' },
  );

type Send = (url: URL, headers: Record<string, string>) => Promise<{ status: number; text: string }>;

/** The node:http(s) path as json-client.ts had it: request + keep-alive Agent, body gathered. */
const nodeHttpSend = (ca?: string): Send => {
  const agent = tls
    ? new HttpsAgent({ keepAlive: true, maxSockets: 50, ca })
    : new HttpAgent({ keepAlive: true, maxSockets: 50 });
  const request = tls ? httpsRequest : httpRequest;
  return (url, headers) =>
    new Promise((resolve, reject) => {
      const outgoing = request(
        {
          hostname: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers,
          agent,
          timeout: 3_000,
        },
        (response: IncomingMessage) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          response.on('error', reject);
        },
      );
      outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')));
      outgoing.on('error', reject);
      outgoing.end(body);
    });
};

const transportSend = (ca?: string): Send => {
  const transport = createHttpTransport(ca ? { tls: { ca } } : {});
  return (url, headers) => transport.send(url, headers, body, 3_000);
};

/** µs of CPU (user, user + system) per call over `calls` sequential calls. */
const measure = async (send: Send, url: URL, headers: Record<string, string>, calls = CALLS) => {
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const answer = await send(url, signed ? sign(url.host) : headers);
    if (answer.status !== 200) throw new Error(`answered ${answer.status}`);
  }
  const used = process.cpuUsage(before);
  return { user: used.user / calls, total: (used.user + used.system) / calls };
};

const clientsFor = (ca?: string) => ({ transport: transportSend(ca), 'node:http': nodeHttpSend(ca) });
type Measured = { user: number; total: number };
const show = (m: Measured) => `${m.user.toFixed(0)} / ${m.total.toFixed(0)}`;

/** In a child of `--fresh`: one client, JIT cold. */
const runChild = async (name: keyof ReturnType<typeof clientsFor>) => {
  const url = new URL(args[args.indexOf('--url') + 1]!);
  const send = clientsFor(process.env.BENCH_CA || undefined)[name];
  const headers = sign(url.host);
  await send(url, headers); // opens the connection (and TLS): not a per-call cost
  const first = await measure(send, url, headers, 100);
  const rest = await measure(send, url, headers, CALLS - 100);
  console.log(JSON.stringify({ first, rest }));
};

const runFresh = async (url: URL, ca?: string) => {
  const script = fileURLToPath(import.meta.url);
  const flags = [...(tls ? ['--tls'] : []), ...(signed ? ['--signed'] : []), '--calls', String(CALLS)];
  const inChild = async (name: string) => {
    const argv = [...process.execArgv, script, '--child', name, '--url', url.href, ...flags];
    const env = { PATH: process.env.PATH, BENCH_CA: ca ?? '' };
    const { stdout } = await promisify(execFile)(process.execPath, argv, { env });
    return JSON.parse(stdout) as { first: Measured; rest: Measured };
  };
  console.log(
    `${tls ? 'https' : 'http'}${signed ? ', signed' : ''}, a new process per measure, µs CPU per call (user / user+sys)`,
  );
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? ['transport', 'node:http'] : ['node:http', 'transport'];
    const result: Record<string, { first: Measured; rest: Measured }> = {};
    for (const name of order) result[name] = await inChild(name);
    const ours = result.transport!;
    const theirs = result['node:http']!;
    console.log(
      `round ${round}: first 100 calls: transport ${show(ours.first)}, node:http ${show(theirs.first)}, ` +
        `ratio ${(ours.first.total / theirs.first.total).toFixed(2)}; next ${CALLS - 100}: transport ` +
        `${show(ours.rest)}, node:http ${show(theirs.rest)}, ratio ${(ours.rest.total / theirs.rest.total).toFixed(2)}`,
    );
  }
};

const main = async () => {
  let certificate: { private: string; cert: string } | undefined;
  if (tls) {
    certificate = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] }],
    });
  }
  const stub = await startStub(certificate);
  try {
    const url = new URL(`${tls ? 'https' : 'http'}://localhost:${stub.port}/`);
    if (fresh) return await runFresh(url, certificate?.cert);
    const headers = sign(url.host); // the same signature every call, unless --signed
    const clients = clientsFor(certificate?.cert);
    // Warm up the JIT and open the keep-alive sockets.
    for (const send of Object.values(clients)) {
      for (let i = 0; i < 2_000; i++) await send(url, signed ? sign(url.host) : headers);
    }

    console.log(
      `${tls ? 'https' : 'http'}${signed ? ', signed' : ''}, ${CALLS} sequential calls per measure, µs CPU per call (user / user+sys)`,
    );
    const ratios: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate who goes first, so a burst of load from other processes hits both alike.
      const order = round % 2 ? (['transport', 'node:http'] as const) : (['node:http', 'transport'] as const);
      const result: Record<string, { user: number; total: number }> = {};
      for (const name of order) result[name] = await measure(clients[name], url, headers);
      const ours = result.transport!;
      const theirs = result['node:http']!;
      ratios.push(ours.total / theirs.total);
      console.log(
        `round ${round}: transport ${ours.user.toFixed(0)} / ${ours.total.toFixed(0)}, ` +
          `node:http ${theirs.user.toFixed(0)} / ${theirs.total.toFixed(0)}, ` +
          `ratio (user+sys) ${(ours.total / theirs.total).toFixed(2)}`,
      );
    }
    const sortedRatios = [...ratios].sort((a, b) => a - b);
    console.log(
      `median ratio transport / node:http: ${sortedRatios[Math.floor(ratios.length / 2)]!.toFixed(2)}`,
    );
  } finally {
    stub.stop();
  }
};

await (child ? runChild(child) : main());
process.exit(0);
