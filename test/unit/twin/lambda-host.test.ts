import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwinAwsEndpoint, type TwinAwsEndpoint } from '../../twin/aws-endpoint.ts';
import { FaultInjector } from '../../twin/faults.ts';
import { loadTwinLambda } from '../../twin/lambda-host.ts';
import { createLambdaSessions, type LambdaSessions } from '../../twin/lambda-sessions.ts';

/** What a real invocation's caller sees: the probe handler's answer. */
interface Probe {
  container: string;
  status: number;
}

let endpoint: TwinAwsEndpoint;
let sessions: LambdaSessions;
let touched = 0;

beforeAll(async () => {
  sessions = createLambdaSessions();
  const probe = {
    id: 'probe',
    signingName: 'probe',
    protocol: 'json' as const,
    operations: { Touch: {} },
    handle: async () => {
      touched++;
      return {};
    },
  };
  endpoint = await startTwinAwsEndpoint(
    [sessions.guard(probe)],
    new FaultInjector(() => ({ targets: new Map() })),
  );
});
afterAll(async () => endpoint?.close());

const load = (timeoutMs: number) =>
  loadTwinLambda({
    name: 'probe',
    modulePath: fileURLToPath(new URL('./fixtures/probe-handler.ts', import.meta.url)),
    env: { AWS_ENDPOINT_URL: endpoint.url },
    timeoutMs,
    sessions,
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('twin Lambda host', () => {
  it('fails an invocation that overruns its timeout, and refuses the AWS calls its container still makes', async () => {
    // Prepare
    const lambda = await load(100);
    const before = touched;

    // Act
    await expect(lambda.invoke({ sleepMs: 300 })).rejects.toThrow('Task timed out after 0.10 seconds');
    await sleep(400); // the handler wakes up at 300 ms and calls the endpoint

    // Assess
    expect(touched).toBe(before);
    expect(sessions.refused.map((r) => r.target)).toContain('probe:Touch');
    expect(lambda.stats).toMatchObject({ invocations: 1, errors: 1, timeouts: 1 });
  });

  it('cold-starts a new container after a timeout, whose calls go through', async () => {
    // Prepare
    const lambda = await load(100);
    const first = await lambda.invoke<Probe>({});
    await expect(lambda.invoke({ sleepMs: 300 })).rejects.toThrow(/timed out/);

    // Act
    const next = await lambda.invoke<Probe>({});

    // Assess
    expect(next.status).toBe(200);
    expect(next.container).not.toBe(first.container);
    expect(lambda.stats.containers).toBe(2);
  });

  it('keeps the container of a handler that failed by itself, as Lambda does', async () => {
    // Prepare
    const lambda = await load(1_000);
    const first = await lambda.invoke<Probe>({});

    // Act
    await expect(lambda.invoke({ fail: true })).rejects.toThrow('the handler failed by itself');
    const next = await lambda.invoke<Probe>({});

    // Assess
    expect(next.container).toBe(first.container);
    expect(lambda.stats).toMatchObject({ containers: 1, errors: 1, timeouts: 0 });
  });

  it('runs concurrent invocations in separate containers', async () => {
    // Prepare
    const lambda = await load(1_000);

    // Act
    const [a, b] = await Promise.all([
      lambda.invoke<Probe>({ sleepMs: 50 }),
      lambda.invoke<Probe>({ sleepMs: 50 }),
    ]);

    // Assess
    expect(a.container).not.toBe(b.container);
    expect([a.status, b.status]).toEqual([200, 200]);
  });
});
