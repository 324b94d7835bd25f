import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
// @ts-expect-error asl-validator ships no types
import aslValidator from 'asl-validator';
import { faultTargetsOf, startTwinAwsEndpoint, type TwinAwsEndpoint } from '../../twin/aws-endpoint.ts';
import { FaultInjector } from '../../twin/faults.ts';
import { createStepFunctionsTwin, type StepFunctionsTwin } from '../../twin/step-functions.ts';
import { createStepFunctionsApi } from '../../twin/step-functions-api.ts';
import type { TwinLambda } from '../../twin/lambda-host.ts';

/**
 * The twin's Step Functions through `@aws-sdk/client-sfn` over loopback, running a small real ASL
 * whose approval task is `lambda:invoke.waitForTaskToken`: the task token reaches the Lambda, and
 * SendTaskSuccess / SendTaskFailure / the scaled timeouts / StopExecution decide what happens next.
 */
const TIME_SCALE = 0.01;
const definition = JSON.parse(readFileSync(new URL('./fixtures/callback.asl.json', import.meta.url), 'utf8'));

interface AskEvent {
  taskToken: string;
  requestedBy: string;
  execution: string;
}
const asked: AskEvent[] = [];
let askFails: Error | undefined;
const askLambda: TwinLambda = {
  name: 'ask',
  stats: { invocations: 0, errors: 0, timeouts: 0, crashes: 0, containers: 1, coldStartMs: 0, billedMs: 0 },
  async invoke<T>(event: unknown) {
    if (askFails) throw askFails;
    asked.push(event as AskEvent);
    return { posted: true } as T;
  },
};

let twin: StepFunctionsTwin;
let endpoint: TwinAwsEndpoint;
let faults: FaultInjector;
let sfn: SFNClient;
const machineArn = 'arn:aws:states:eu-west-1:111122223333:stateMachine:callback';

beforeAll(async () => {
  twin = createStepFunctionsTwin({
    timeScale: TIME_SCALE,
    region: 'eu-west-1',
    accountId: '111122223333',
    lambdas: (name) => (name === 'ask' ? askLambda : undefined),
  });
  twin.register('callback', definition, {
    AskFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:ask',
  });
  const api = createStepFunctionsApi(twin, { region: 'eu-west-1', accountId: '111122223333' });
  faults = new FaultInjector(() => ({ targets: faultTargetsOf([api]) }));
  endpoint = await startTwinAwsEndpoint([api], faults);
  sfn = new SFNClient({
    endpoint: endpoint.url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  twin?.close();
  await endpoint?.close();
});

const waitFor = async <T>(what: string, probe: () => T | undefined, timeoutMs = 5_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

let seq = 0;
const start = async (overrides: Record<string, unknown> = {}, name = `run-${++seq}`) => {
  const input = {
    requestedBy: 'U0OPS0001',
    approvalTimeoutSeconds: 1800,
    heartbeatSeconds: 3600,
    settleSeconds: 30,
    ...overrides,
  };
  const { executionArn } = await sfn.send(
    new StartExecutionCommand({ stateMachineArn: machineArn, name, input: JSON.stringify(input) }),
  );
  const ask = await waitFor(`${name} to ask`, () => asked.find((a) => a.execution === name));
  return { executionArn: executionArn!, name, token: ask.taskToken };
};

const outputOf = async (name: string) => {
  const settled = await twin.settled(name);
  const described = await sfn.send(new DescribeExecutionCommand({ executionArn: settled.executionArn }));
  return { described, output: JSON.parse(described.output ?? 'null') };
};

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: Error) => error.name,
  );

describe('twin Step Functions: the fixture', () => {
  it('is valid ASL', async () => {
    const result = await (aslValidator as (d: unknown) => Promise<{ isValid: boolean; errors: unknown[] }>)(
      structuredClone(definition),
    );
    expect(result.errors).toEqual([]);
  });
});

describe('twin Step Functions: lambda:invoke.waitForTaskToken', () => {
  it('hands the Lambda a fresh task token and continues with the SendTaskSuccess output through ResultSelector', async () => {
    // Prepare
    const { executionArn, name, token } = await start();
    expect(token).not.toMatch(/placeholder/);
    expect(token.length).toBeGreaterThan(200);
    const running = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(running.status).toBe('RUNNING');
    expect(twin.describe(executionArn)?.currentStep).toBe('Ask');

    // Act
    await sfn.send(
      new SendTaskSuccessCommand({
        taskToken: token,
        output: JSON.stringify({ decision: 'approve', by: 'U0OPS0002', note: 'dropped by ResultSelector' }),
      }),
    );

    // Assess
    const { described, output } = await outputOf(name);
    expect(described.status).toBe('SUCCEEDED');
    expect(output.approval).toEqual({ decision: 'approve', by: 'U0OPS0002' });
    expect(output.outcome).toBe('approved');
    expect(described.stopDate!.getTime()).toBeGreaterThanOrEqual(described.startDate!.getTime());
  });

  it('answers a second answer to a closed task with TaskTimedOut and a token never issued with InvalidToken', async () => {
    // Prepare
    const { name, token } = await start();
    await sfn.send(
      new SendTaskSuccessCommand({ taskToken: token, output: '{"decision":"abort","by":"U2"}' }),
    );
    expect((await outputOf(name)).output.outcome).toBe('aborted');

    // Act
    const late = errorOf(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })));
    const forged = errorOf(sfn.send(new SendTaskFailureCommand({ taskToken: `${token.slice(0, -4)}AAAA` })));
    const heartbeat = errorOf(sfn.send(new SendTaskHeartbeatCommand({ taskToken: token })));

    // Assess
    expect(await late).toBe('TaskTimedOut');
    expect(await forged).toBe('InvalidToken');
    expect(await heartbeat).toBe('TaskTimedOut');
  });

  it('refuses output that is not JSON and keeps the task waiting', async () => {
    // Prepare
    const { executionArn, token } = await start();

    // Act
    const refused = await errorOf(
      sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: 'approve' })),
    );

    // Assess
    expect(refused).toBe('InvalidOutput');
    expect(twin.describe(executionArn)?.status).toBe('RUNNING');
    await sfn.send(new StopExecutionCommand({ executionArn }));
  });

  it('turns SendTaskFailure into an error the Catch takes, with its error and cause', async () => {
    // Prepare
    const { name, token } = await start();

    // Act
    await sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'Rejected', cause: 'not tonight' }));

    // Assess
    const { output } = await outputOf(name);
    expect(output.outcome).toBe('failed');
    expect(output.failure).toEqual({ Error: 'Rejected', Cause: 'not tonight' });
  });

  it('times the task out after its scaled TimeoutSeconds as States.Timeout, which States.TaskFailed does not catch', async () => {
    // Prepare: 30 s of simulated time is 300 ms here.
    const started = Date.now();
    const { name, token } = await start({ approvalTimeoutSeconds: 30 });

    // Act
    const { output } = await outputOf(name);
    const elapsed = Date.now() - started;

    // Assess
    expect(output.outcome).toBe('timed out');
    expect(output.failure.Error).toBe('States.Timeout');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(3_000);
    expect(await errorOf(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })))).toBe(
      'TaskTimedOut',
    );
  });

  it('keeps waiting while heartbeats come within HeartbeatSeconds and times out once they stop', async () => {
    // Prepare: heartbeats due every 20 s simulated (200 ms); the task may run 600 s (6 s).
    const { executionArn, name, token } = await start({ heartbeatSeconds: 20, approvalTimeoutSeconds: 600 });

    // Act
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 80));
      await sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    }
    const afterHeartbeats = twin.describe(executionArn)?.status;
    const { output } = await outputOf(name);

    // Assess
    expect(afterHeartbeats).toBe('RUNNING');
    expect(output.outcome).toBe('timed out');
    expect(output.failure).toEqual({ Error: 'States.Timeout', Cause: 'Task heartbeat timed out' });
  });

  it('fails the task when the Lambda it invokes fails (RequestResponse), before anyone answers', async () => {
    // Prepare
    askFails = Object.assign(new Error('channel_not_found'), { name: 'SlackApiError' });
    const name = `run-${++seq}`;

    // Act
    try {
      await sfn.send(
        new StartExecutionCommand({
          stateMachineArn: machineArn,
          name,
          input: JSON.stringify({ approvalTimeoutSeconds: 60, heartbeatSeconds: 60, requestedBy: 'U1' }),
        }),
      );
    } finally {
      askFails = undefined;
    }

    // Assess
    const { output } = await outputOf(name);
    expect(output.outcome).toBe('failed');
    expect(output.failure.Error).toBe('SlackApiError');
  });

  it('stops an execution waiting for its token: ABORTED with the given error and cause, the token closed', async () => {
    // Prepare
    const { executionArn, token } = await start();

    // Act
    const { stopDate } = await sfn.send(
      new StopExecutionCommand({ executionArn, error: 'Operator.Abort', cause: 'called off by U0OPS0002' }),
    );

    // Assess
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described).toMatchObject({
      status: 'ABORTED',
      error: 'Operator.Abort',
      cause: 'called off by U0OPS0002',
    });
    expect(described.stopDate).toEqual(stopDate);
    expect(described.output).toBeUndefined();
    expect(await errorOf(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })))).toBe(
      'TaskTimedOut',
    );
    // Nothing after the wait ran: the settled view is still the stopped one.
    expect((await twin.settled(executionArn)).status).toBe('ABORTED');
  });
});

describe('twin Step Functions: the machine’s own TimeoutSeconds', () => {
  it('times the execution out after its scaled TimeoutSeconds: TIMED_OUT, States.Timeout', async () => {
    // Prepare: 30 s of simulated time is 300 ms; the Wait alone would take 10 s.
    twin.register(
      'slow',
      {
        TimeoutSeconds: 30,
        StartAt: 'Long',
        States: { Long: { Type: 'Wait', Seconds: 1000, End: true } },
      } as never,
      {},
    );
    const started = Date.now();

    // Act
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: twin.stateMachineArn('slow'), input: '{}' }),
    );
    const settled = await twin.settled(executionArn!);

    // Assess
    expect(settled).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('twin Step Functions: the execution API', () => {
  it('gives back the running execution for the same name and input, and refuses the name with other input or once closed', async () => {
    // Prepare
    const first = await start({}, 'failover-20261130T020000-abc123');
    const input = JSON.stringify({
      requestedBy: 'U0OPS0001',
      approvalTimeoutSeconds: 1800,
      heartbeatSeconds: 3600,
      settleSeconds: 30,
    });

    // Act
    const again = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn, name: first.name, input }),
    );
    const other = errorOf(
      sfn.send(
        new StartExecutionCommand({ stateMachineArn: machineArn, name: first.name, input: '{"x":1}' }),
      ),
    );
    await sfn.send(new StopExecutionCommand({ executionArn: first.executionArn }));
    const closed = errorOf(
      sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, name: first.name, input })),
    );

    // Assess
    expect(again.executionArn).toBe(first.executionArn);
    expect(again.executionArn).toBe(
      'arn:aws:states:eu-west-1:111122223333:execution:callback:failover-20261130T020000-abc123',
    );
    expect(asked.filter((a) => a.execution === first.name)).toHaveLength(1);
    expect(await other).toBe('ExecutionAlreadyExists');
    expect(await closed).toBe('ExecutionAlreadyExists');
  });

  it('refuses an unknown machine, a bad name and input that is not JSON, starting nothing', async () => {
    // Act
    const before = twin.list().length;
    const unknown = errorOf(
      sfn.send(new StartExecutionCommand({ stateMachineArn: `${machineArn}-nope`, input: '{}' })),
    );
    const badName = errorOf(
      sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, name: 'two words', input: '{}' })),
    );
    const badInput = errorOf(
      sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, input: '{' })),
    );
    const missing = errorOf(
      sfn.send(
        new DescribeExecutionCommand({
          executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:callback:never',
        }),
      ),
    );

    // Assess
    expect(await unknown).toBe('StateMachineDoesNotExist');
    expect(await badName).toBe('InvalidName');
    expect(await badInput).toBe('InvalidExecutionInput');
    expect(await missing).toBe('ExecutionDoesNotExist');
    expect(twin.list()).toHaveLength(before);
  });

  it('lists a machine’s executions newest first, filtered by status, a page at a time', async () => {
    // Prepare
    const a = await start();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const b = await start();

    // Act
    const running = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: machineArn, statusFilter: 'RUNNING' }),
    );
    const firstPage = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: machineArn, maxResults: 1 }),
    );
    const secondPage = await sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: machineArn,
        maxResults: 1,
        nextToken: firstPage.nextToken,
      }),
    );

    // Assess
    expect(running.executions!.map((e) => e.name)).toEqual([b.name, a.name]);
    expect(running.executions![0]).toMatchObject({ stateMachineArn: machineArn, status: 'RUNNING' });
    expect(firstPage.executions!.map((e) => e.name)).toEqual([b.name]);
    expect(secondPage.executions!.map((e) => e.name)).toEqual([a.name]);
    for (const { executionArn } of [a, b]) await sfn.send(new StopExecutionCommand({ executionArn }));
    const aborted = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: machineArn, statusFilter: 'ABORTED' }),
    );
    expect(aborted.executions!.map((e) => e.name)).toEqual(expect.arrayContaining([a.name, b.name]));
  });

  it('fails StartExecution with an armed states: fault, as AWS would answer', async () => {
    // Prepare
    faults.arm({ target: 'states:StartExecution', error: 'ExecutionLimitExceeded', count: 1 });
    const before = twin.list().length;

    // Act
    const refused = await errorOf(
      sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, input: '{}' })),
    );

    // Assess
    expect(refused).toBe('ExecutionLimitExceeded');
    expect(twin.list()).toHaveLength(before);
  });
});
