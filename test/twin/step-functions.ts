import { randomUUID } from 'node:crypto';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { TwinLambda } from './lambda-host.ts';
import { createTaskTokens, type TaskTokens } from './task-tokens.ts';

/**
 * Step Functions for the twin: the real ASL files run on aws-local-stepfunctions (JSONPath only; it
 * ignores JSONata). Lambda tasks — a Lambda ARN resource or `arn:aws:states:::lambda:invoke` with
 * `FunctionName` — invoke the twin's Lambdas by name, so the real handler modules run. Wait states
 * (`Seconds` or `SecondsPath`), retry intervals, the machine's own `TimeoutSeconds` and the
 * callback tasks' `TimeoutSeconds`/`HeartbeatSeconds` are scaled by `timeScale`; handler work is
 * not. Placeholders `${Name}` in the ASL (the deploy loader puts ARNs there) are replaced by the
 * function names given in `substitutions`.
 *
 * `arn:aws:states:::lambda:invoke.waitForTaskToken` is the twin's own (the library has no callback
 * pattern): each run's context carries a placeholder as `$$.Task.Token`; when the task starts, the
 * twin issues a fresh token (task-tokens.ts), puts it where the placeholder landed in the Payload,
 * invokes the Lambda and waits for SendTaskSuccess / SendTaskFailure / a timeout / StopExecution.
 */
export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export const WAIT_FOR_TASK_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

export interface ExecutionView {
  readonly name: string;
  readonly executionArn: string;
  readonly stateMachine: string;
  readonly stateMachineArn: string;
  readonly status: ExecutionStatus;
  readonly startedAt: string;
  readonly stoppedAt: string | null;
  /** The state last entered (inner states of Map iterations included). */
  readonly currentStep: string | null;
  readonly input: unknown;
  readonly output: unknown;
  readonly error: string | null;
  readonly cause: string | null;
  /** Each state failure, caught or retried ones included (the last 20). */
  readonly failures: readonly string[];
}

export interface StepFunctionsTwin {
  register(
    name: string,
    definition: StateMachineDefinition,
    substitutions: Readonly<Record<string, string>>,
  ): void;
  stateMachineArn(name: string): string;
  /** The machine's name for an ARN (or a name), if it is registered. */
  machineOf(stateMachineArnOrName: string): string | undefined;
  /**
   * Starts an execution, as StartExecution does: a name already used by a running execution with
   * the same input gives that execution back; any other reuse of a name throws ExecutionAlreadyExists.
   */
  start(stateMachine: string, inputText: string, name?: string): ExecutionView;
  startExecution(stateMachine: string, input: unknown, name?: string): ExecutionView;
  describe(executionArn: string): ExecutionView | undefined;
  /** StopExecution: ABORTED with the given error and cause; a stopped execution stays as it was. */
  stop(executionArn: string, error?: string, cause?: string): ExecutionView | undefined;
  /** Resolves once the execution (by name or ARN) has stopped. */
  settled(execution: string): Promise<ExecutionView>;
  list(): ExecutionView[];
  readonly tokens: TaskTokens;
  close(): void;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type State = Record<string, unknown> & { Type: string };
type Definition = { States: Record<string, State> };

/** Every state, nested Map and Parallel states included (overrides are keyed by state name). */
const allStates = (definition: Definition): [string, State][] =>
  Object.entries(definition.States).flatMap(([name, state]) => {
    const nested = [
      state.ItemProcessor,
      state.Iterator,
      ...((state.Branches as unknown[] | undefined) ?? []),
    ].filter(Boolean) as Definition[];
    return [[name, state] as [string, State], ...nested.flatMap(allStates)];
  });

const substitute = (text: string, values: Readonly<Record<string, string>>) =>
  text.replace(/\$\{(\w+)\}/g, (whole, key: string) => {
    if (!(key in values)) throw new Error(`ASL placeholder ${whole} has no value`);
    return values[key]!;
  });

/**
 * The library's own `States.Timeout` error: only an instance of its class is left out of
 * `States.TaskFailed` matching, as Step Functions leaves a timeout out of it. The class is not
 * exported, so one tiny run (≈3 ms) times out on purpose to get it.
 */
const statesTimeoutClass = await (async (): Promise<new () => Error> => {
  const probe = new StateMachine(
    {
      StartAt: 'T',
      States: {
        T: {
          Type: 'Task',
          Resource: 'arn:aws:lambda:us-east-1:123456789012:function:probe',
          TimeoutSeconds: 0.001,
          End: true,
        },
      },
    } as never,
    { validationOptions: { noValidate: true } },
  );
  const run = probe.run({}, {
    overrides: {
      taskResourceLocalHandlers: { T: () => new Promise((resolve) => setTimeout(resolve, 20, null)) },
    },
  } as never);
  const error = await run.result.then(
    () => undefined,
    (e: { cause?: Error }) => e.cause,
  );
  if (error?.name === 'States.Timeout') return error.constructor as new () => Error;
  return class extends Error {
    override name = 'States.Timeout';
  };
})();

/** Longest timer Node keeps (2^31 − 1 ms ≈ 24.8 days): "no timeout" for the library's task timer. */
const NO_TIMEOUT_SECONDS = 2_000_000;

const replaceDeep = (value: unknown, from: string, to: string): unknown => {
  if (typeof value === 'string') return value.split(from).join(to);
  if (Array.isArray(value)) return value.map((v) => replaceDeep(v, from, to));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceDeep(v, from, to)]));
  return value;
};

const positiveSeconds = (value: unknown, what: string): number | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw Object.assign(new Error(`${what}: expected a whole number of seconds ≥ 1, got ${String(value)}`), {
      name: 'States.Runtime',
    });
  return value;
};

interface Run {
  readonly view: Mutable<ExecutionView>;
  readonly inputText: string;
  readonly placeholder: string;
  stopped: boolean;
  abort(): void;
  readonly cancels: Set<() => void>;
}

/** What a registered machine's states need at run time (handlers are built per execution). */
interface Registered {
  readonly machine: StateMachine;
  readonly callbackStates: Set<string>;
  readonly pathWaits: Set<string>;
  readonly invokeStates: Set<string>;
  readonly lambdaArnStates: Map<string, string>;
  readonly waits: Record<string, number>;
  readonly retries: Record<string, number[]>;
  readonly timeoutSeconds?: number;
}

export const createStepFunctionsTwin = (options: {
  timeScale: number;
  region: string;
  accountId: string;
  lambdas: (functionName: string) => TwinLambda | undefined;
}): StepFunctionsTwin => {
  const machines = new Map<string, Registered>();
  const runs = new Map<string, Run>();
  const done = new Map<string, Promise<ExecutionView>>();
  const tokens = createTaskTokens();
  const scaled = (seconds: number) => seconds * 1000 * options.timeScale;
  const arnPrefix = `arn:aws:states:${options.region}:${options.accountId}`;
  const stateMachineArn = (name: string) => `${arnPrefix}:stateMachine:${name}`;
  const machineOf = (arnOrName: string) => {
    const name = arnOrName.startsWith(`${arnPrefix}:stateMachine:`)
      ? arnOrName.slice(`${arnPrefix}:stateMachine:`.length)
      : arnOrName;
    return machines.has(name) ? name : undefined;
  };

  const invokeLambda = async (functionName: string, payload: unknown) => {
    const lambda = options.lambdas(functionName.split(':').pop()!);
    if (!lambda)
      throw Object.assign(new Error(`Function not found: ${functionName}`), {
        name: 'Lambda.ResourceNotFoundException',
      });
    return lambda.invoke(payload);
  };

  /** A scaled sleep the execution's stop cancels (rejecting, so the library moves on at once). */
  const sleepIn = (run: Run, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        run.cancels.delete(cancel);
        resolve();
      }, ms);
      const cancel = () => {
        clearTimeout(timer);
        reject(new Error('execution stopped'));
      };
      run.cancels.add(cancel);
    });

  const handlersFor = (registered: Registered, run: Run) => {
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    const guard = () => {
      if (run.stopped) throw new Error('execution stopped');
    };
    for (const [stateName, functionArn] of registered.lambdaArnStates)
      handlers[stateName] = async (input) => (guard(), invokeLambda(functionArn, input));
    for (const stateName of registered.invokeStates)
      // The optimized integration answers {Payload, StatusCode}; Parameters give FunctionName + Payload.
      handlers[stateName] = async (input) => {
        guard();
        const { FunctionName, Payload } = input as { FunctionName: string; Payload: unknown };
        return { StatusCode: 200, Payload: (await invokeLambda(FunctionName, Payload)) ?? null };
      };
    for (const stateName of registered.pathWaits)
      handlers[stateName] = async (input) => {
        guard();
        const seconds = (input as { TwinSeconds?: unknown }).TwinSeconds;
        if (typeof seconds !== 'number' || seconds < 0)
          throw Object.assign(new Error(`${stateName}: SecondsPath gave ${String(seconds)}`), {
            name: 'States.Runtime',
          });
        await sleepIn(run, scaled(seconds));
        return null;
      };
    for (const stateName of registered.callbackStates)
      handlers[stateName] = async (input) => {
        guard();
        const { FunctionName, Payload, InvocationType, TwinTimeoutSeconds, TwinHeartbeatSeconds } =
          input as Record<string, unknown>;
        const timeout = positiveSeconds(TwinTimeoutSeconds, `${stateName}.TimeoutSeconds`);
        const heartbeat = positiveSeconds(TwinHeartbeatSeconds, `${stateName}.HeartbeatSeconds`);
        const wait = tokens.open({
          executionArn: run.view.executionArn,
          stateName,
          ...(timeout === undefined ? {} : { timeoutMs: scaled(timeout) }),
          ...(heartbeat === undefined ? {} : { heartbeatMs: scaled(heartbeat) }),
          // Step Functions reports both as States.Timeout (a missed heartbeat says so in the cause).
          timeoutError: (what) =>
            Object.assign(new statesTimeoutClass(), {
              message: what === 'heartbeat' ? 'Task heartbeat timed out' : 'Task timed out',
            }),
        });
        const invoked = invokeLambda(String(FunctionName), replaceDeep(Payload, run.placeholder, wait.token));
        // RequestResponse (the default): a Lambda that fails fails the task; Event: nobody waits for it.
        if (InvocationType === 'Event') invoked.catch(() => {});
        else invoked.catch((error: Error) => tokens.fail(wait.token, error));
        return wait.outcome;
      };
    return handlers;
  };

  const snapshot = (run: Run): ExecutionView => ({ ...run.view });

  const start = (stateMachine: string, inputText: string, name: string = randomUUID()): ExecutionView => {
    const machineName = machineOf(stateMachine);
    if (!machineName)
      throw Object.assign(new Error(`State Machine Does Not Exist: '${stateMachine}'`), {
        name: 'StateMachineDoesNotExist',
      });
    const registered = machines.get(machineName)!;
    const executionArn = `${arnPrefix}:execution:${machineName}:${name}`;
    const existing = runs.get(executionArn);
    if (existing) {
      if (existing.view.status === 'RUNNING' && existing.inputText === inputText) return snapshot(existing);
      throw Object.assign(new Error(`Execution Already Exists: '${executionArn}'`), {
        name: 'ExecutionAlreadyExists',
      });
    }
    const input = JSON.parse(inputText) as unknown;
    const startedAt = new Date().toISOString();
    const run: Run = {
      view: {
        name,
        executionArn,
        stateMachine: machineName,
        stateMachineArn: stateMachineArn(machineName),
        status: 'RUNNING',
        startedAt,
        stoppedAt: null,
        currentStep: null,
        input,
        output: null,
        error: null,
        cause: null,
        failures: [],
      },
      inputText,
      placeholder: `twin-task-token-placeholder-${randomUUID()}`,
      stopped: false,
      abort: () => {},
      cancels: new Set(),
    };
    runs.set(executionArn, run);
    const execution = registered.machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: handlersFor(registered, run),
        waitTimeOverrides: registered.waits,
        retryIntervalOverrides: registered.retries,
      } as never,
      context: {
        Execution: { Id: executionArn, Name: name, StartTime: startedAt, Input: input as never },
        StateMachine: { Id: stateMachineArn(machineName), Name: machineName },
        Task: { Token: run.placeholder },
      },
    });
    run.abort = execution.abort;
    let timedOut = false;
    const machineTimer =
      registered.timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            halt(run);
          }, scaled(registered.timeoutSeconds));
    void (async () => {
      for await (const event of execution.eventLogs) {
        if (run.stopped) continue;
        if (event.type === 'StateEntered') run.view.currentStep = event.state.name;
        // Caught and retried failures too: what an operator reads in the console's event history.
        if (event.type === 'StateFailed')
          run.view.failures = [
            ...run.view.failures,
            `${event.state.name}: ${event.Error}: ${String(event.Cause)}`.slice(0, 500),
          ].slice(-20);
      }
    })().catch(() => {});
    const finished = execution.result
      .then(
        (output) => {
          if (run.stopped) return;
          run.view.status = 'SUCCEEDED';
          run.view.output = output;
        },
        (error: Error) => {
          if (timedOut) {
            run.view.status = 'TIMED_OUT';
            run.view.error = 'States.Timeout';
            run.view.cause = 'The execution ran longer than its TimeoutSeconds';
            return;
          }
          if (run.view.status === 'ABORTED') return; // StopExecution already said why
          run.view.status = error.name === 'ExecutionAbortedError' ? 'ABORTED' : 'FAILED';
          const cause = (error as { cause?: { name?: string; message?: string } }).cause;
          run.view.error = cause?.name ?? error.name;
          run.view.cause = cause?.message ?? error.message;
        },
      )
      .then(() => {
        clearTimeout(machineTimer);
        run.stopped = true;
        run.view.stoppedAt ??= new Date().toISOString();
        tokens.closeExecution(executionArn, new Error('execution stopped'));
        return snapshot(run);
      });
    done.set(executionArn, finished);
    return snapshot(run);
  };

  /** Ends a run now: open callbacks and twin waits rejected so nothing of it keeps running. */
  const halt = (run: Run) => {
    run.stopped = true;
    tokens.closeExecution(run.view.executionArn, new Error('execution stopped'));
    for (const cancel of run.cancels) cancel();
    run.cancels.clear();
    run.abort();
  };

  const find = (execution: string) =>
    runs.get(execution) ?? [...runs.values()].find((r) => r.view.name === execution);

  return {
    register(name, definition, substitutions) {
      const resolved = JSON.parse(substitute(JSON.stringify(definition), substitutions)) as Definition & {
        TimeoutSeconds?: number;
      };
      const registered: Mutable<Registered> = {
        machine: undefined as never,
        callbackStates: new Set(),
        pathWaits: new Set(),
        invokeStates: new Set(),
        lambdaArnStates: new Map(),
        waits: {},
        retries: {},
      };
      // The library runs a copy rewritten where the twin takes over (states below are mutated in it).
      for (const [stateName, state] of allStates(resolved)) {
        if (Array.isArray(state.Retry))
          registered.retries[stateName] = (state.Retry as { IntervalSeconds?: number }[]).map((r) =>
            scaled(r.IntervalSeconds ?? 1),
          );
        if (state.Type === 'Wait') {
          if (typeof state.Seconds === 'number') registered.waits[stateName] = scaled(state.Seconds);
          else if (typeof state.SecondsPath === 'string' && state.InputPath === undefined) {
            // A Task the twin runs: it sleeps the scaled seconds and passes its input through.
            registered.pathWaits.add(stateName);
            state.Type = 'Task';
            state.Resource = 'arn:aws:states:::twin:wait';
            state.Parameters = { 'TwinSeconds.$': state.SecondsPath };
            delete state.SecondsPath;
            state.ResultPath = null;
            state.TimeoutSeconds = NO_TIMEOUT_SECONDS;
          } else throw new Error(`${name}.${stateName}: the twin scales Seconds and SecondsPath waits only`);
          continue;
        }
        if (state.Type !== 'Task') continue;
        const resource = String(state.Resource);
        if (resource === WAIT_FOR_TASK_TOKEN) {
          const parameters = state.Parameters as Record<string, unknown> | undefined;
          if (!parameters || !('FunctionName' in parameters || 'FunctionName.$' in parameters))
            throw new Error(`${name}.${stateName}: ${WAIT_FOR_TASK_TOKEN} needs Parameters.FunctionName`);
          // The twin keeps the clocks (scaled); the library's own task timer must never fire.
          const timing: Record<string, unknown> = {};
          for (const [field, key] of [
            ['TimeoutSeconds', 'TwinTimeoutSeconds'],
            ['HeartbeatSeconds', 'TwinHeartbeatSeconds'],
          ] as const) {
            if (state[field] !== undefined) timing[key] = state[field];
            if (state[`${field}Path`] !== undefined) timing[`${key}.$`] = state[`${field}Path`];
            delete state[field];
            delete state[`${field}Path`];
          }
          state.Parameters = { ...parameters, ...timing };
          state.TimeoutSeconds = NO_TIMEOUT_SECONDS;
          registered.callbackStates.add(stateName);
        } else if (resource === 'arn:aws:states:::lambda:invoke') {
          registered.invokeStates.add(stateName);
        } else if (resource.startsWith('arn:aws:lambda:')) {
          registered.lambdaArnStates.set(stateName, resource);
        } else {
          throw new Error(`${name}.${stateName}: the twin does not run resource ${resource}`);
        }
      }
      if (resolved.TimeoutSeconds !== undefined) {
        registered.timeoutSeconds = resolved.TimeoutSeconds;
        delete resolved.TimeoutSeconds; // the twin times the execution, scaled
      }
      registered.machine = new StateMachine(resolved as never, { validationOptions: { checkArn: false } });
      machines.set(name, registered);
    },

    stateMachineArn,
    machineOf,
    start,
    startExecution: (stateMachine, input, name) => start(stateMachine, JSON.stringify(input ?? {}), name),

    describe(executionArn) {
      const run = runs.get(executionArn);
      return run && snapshot(run);
    },

    stop(executionArn, error, cause) {
      const run = runs.get(executionArn);
      if (!run) return undefined;
      if (run.view.status !== 'RUNNING') return snapshot(run);
      run.view.status = 'ABORTED';
      run.view.error = error ?? null;
      run.view.cause = cause ?? null;
      run.view.stoppedAt = new Date().toISOString();
      halt(run);
      return snapshot(run);
    },

    settled(execution) {
      const run = find(execution);
      const finished = run && done.get(run.view.executionArn);
      if (!finished) return Promise.reject(new Error(`no execution ${execution}`));
      return finished;
    },

    list: () => [...runs.values()].map(snapshot),
    tokens,

    close() {
      for (const run of runs.values()) if (!run.stopped) halt(run);
      tokens.close();
    },
  };
};
