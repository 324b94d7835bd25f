import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwinAwsEndpoint, type TwinAwsEndpoint } from '../../twin/aws-endpoint.ts';
import { FaultInjector } from '../../twin/faults.ts';
import { loadTwinLambda } from '../../twin/lambda-host.ts';
import { createLambdaSessions, type LambdaSessions } from '../../twin/lambda-sessions.ts';
import { createFunctionLogs, type FunctionLogs } from '../../twin/function-logs.ts';

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

const load = (timeoutMs: number, faults?: FaultInjector, logs?: FunctionLogs) =>
  loadTwinLambda({
    name: 'probe',
    modulePath: fileURLToPath(new URL('./fixtures/probe-handler.ts', import.meta.url)),
    env: { AWS_ENDPOINT_URL: endpoint.url },
    timeoutMs,
    sessions,
    ...(faults ? { faults } : {}),
    ...(logs ? { logs } : {}),
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

  it("keeps what the function writes in its log, with Lambda's line for a timeout", async () => {
    // Prepare
    const logs = createFunctionLogs('kept');
    // Half a second, so that the first invocation finishes in time on a busy machine.
    const lambda = await load(500, undefined, logs);

    // Act
    await lambda.invoke({ log: 'a line from the handler' });
    const timedOut = lambda.invoke({ sleepMs: 1000, log: 'this one overruns' });
    await expect(timedOut).rejects.toThrow('Task timed out after 0.50 seconds');
    await sleep(600); // its handler wakes at 1 s and calls the endpoint: let that pass before the next test

    // Assess
    expect(logs.lines('probe').map((line) => line.text)).toEqual([
      'a line from the handler\n',
      'this one overruns\n',
      expect.stringMatching(/^\S+Z [0-9a-f-]{36} Task timed out after 0\.50 seconds\n$/),
    ]);
    expect(logs.lines('another-function')).toEqual([]);
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

describe('twin Lambda host: lambda:<name> Crash faults', () => {
  const crashing = async (fault: Record<string, unknown>) => {
    const faults = new FaultInjector(() => ({ targets: new Map() }));
    const lambda = await load(1_000, faults);
    const first = await lambda.invoke<Probe>({});
    faults.arm({ target: 'lambda:probe', error: 'Crash', count: 1, ...fault });
    return { lambda, first, faults };
  };

  it('kills the invocation before its work: no answer, nothing reaches AWS, a new container next', async () => {
    // Prepare
    const { lambda, first } = await crashing({});
    const before = touched;

    // Act
    await expect(lambda.invoke({})).rejects.toThrow('Runtime exited');
    await sleep(50);
    const next = await lambda.invoke<Probe>({});

    // Assess
    expect(touched).toBe(before + 1); // only the invocation after the crash
    expect(next.container).not.toBe(first.container);
    expect(lambda.stats).toMatchObject({ crashes: 1, errors: 1, containers: 2 });
  });

  it('kills it afterMs into its work: what it sends after is refused, as after a timeout', async () => {
    // Prepare
    const { lambda } = await crashing({ afterMs: 50 });
    const before = touched;
    const refusedBefore = sessions.refused.length;

    // Act
    await expect(lambda.invoke({ sleepMs: 200 })).rejects.toThrow('Runtime exited');
    await sleep(300);

    // Assess
    expect(touched).toBe(before);
    expect(sessions.refused.length).toBe(refusedBefore + 1);
  });

  it('with afterEffect, lets the work happen and loses only the answer', async () => {
    const { lambda } = await crashing({ afterEffect: true });
    const before = touched;
    await expect(lambda.invoke({})).rejects.toThrow('Runtime exited');
    expect(touched).toBe(before + 1);
  });

  it('refuses an error a Lambda crash does not have', async () => {
    const { faults } = await crashing({});
    expect(() => faults.arm({ target: 'lambda:probe', error: 'Timeout', count: 1 })).toThrow(
      'error: "Timeout" is not an error lambda:probe answers with; known: Crash',
    );
  });
});
