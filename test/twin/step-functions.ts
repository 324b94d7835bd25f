import { randomUUID } from 'node:crypto';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { TwinLambda } from './lambda-host.ts';

/**
 * Step Functions for the twin: the real ASL files run on aws-local-stepfunctions (JSONPath only; it
 * ignores JSONata). Lambda tasks — a Lambda ARN resource or `arn:aws:states:::lambda:invoke` with
 * `FunctionName` — invoke the twin's Lambdas by name, so the real handler modules run. Wait states and
 * retry intervals are scaled by `timeScale`; handler work is not. Placeholders `${Name}` in the ASL (the
 * deploy loader puts ARNs there) are replaced by the function names given in `substitutions`.
 */
export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionView {
  readonly name: string;
  readonly executionArn: string;
  readonly stateMachine: string;
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
  startExecution(stateMachine: string, input: unknown, name?: string): ExecutionView;
  /** Resolves once the execution has stopped. */
  settled(executionName: string): Promise<ExecutionView>;
  list(): ExecutionView[];
  close(): void;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type State = Record<string, unknown> & { Type: string };

/** Every state, nested Map and Parallel states included (overrides are keyed by state name). */
const allStates = (definition: { States: Record<string, State> }): [string, State][] =>
  Object.entries(definition.States).flatMap(([name, state]) => {
    const nested = [
      state.ItemProcessor,
      state.Iterator,
      ...((state.Branches as unknown[] | undefined) ?? []),
    ].filter(Boolean) as { States: Record<string, State> }[];
    return [[name, state] as [string, State], ...nested.flatMap(allStates)];
  });

const substitute = (text: string, values: Readonly<Record<string, string>>) =>
  text.replace(/\$\{(\w+)\}/g, (whole, key: string) => {
    if (!(key in values)) throw new Error(`ASL placeholder ${whole} has no value`);
    return values[key]!;
  });

export const createStepFunctionsTwin = (options: {
  timeScale: number;
  region: string;
  accountId: string;
  lambdas: (functionName: string) => TwinLambda | undefined;
}): StepFunctionsTwin => {
  const machines = new Map<
    string,
    { machine: StateMachine; definition: StateMachineDefinition; overrides: object }
  >();
  const executions = new Map<string, Mutable<ExecutionView>>();
  const done = new Map<string, Promise<ExecutionView>>();
  const aborts = new Set<() => void>();

  const lambdaTask = (functionName: string) => async (input: unknown) => {
    const lambda = options.lambdas(functionName.split(':').pop()!);
    if (!lambda)
      throw Object.assign(new Error(`Function not found: ${functionName}`), {
        name: 'Lambda.ResourceNotFoundException',
      });
    return lambda.invoke(input);
  };

  return {
    register(name, definition, substitutions) {
      const resolved = JSON.parse(
        substitute(JSON.stringify(definition), substitutions),
      ) as StateMachineDefinition;
      const taskHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
      const waits: Record<string, number> = {};
      const retries: Record<string, number[]> = {};
      for (const [stateName, state] of allStates(resolved as never)) {
        if (state.Type === 'Wait') {
          if (typeof state.Seconds !== 'number')
            throw new Error(`${name}.${stateName}: the twin scales fixed Seconds only`);
          waits[stateName] = state.Seconds * 1000 * options.timeScale;
        }
        if (Array.isArray(state.Retry))
          retries[stateName] = (state.Retry as { IntervalSeconds?: number }[]).map(
            (r) => (r.IntervalSeconds ?? 1) * 1000 * options.timeScale,
          );
        if (state.Type !== 'Task') continue;
        const resource = String(state.Resource);
        if (resource === 'arn:aws:states:::lambda:invoke') {
          // The optimized integration answers {Payload, StatusCode}; Parameters give FunctionName + Payload.
          taskHandlers[stateName] = async (input) => {
            const { FunctionName, Payload } = input as { FunctionName: string; Payload: unknown };
            return { StatusCode: 200, Payload: (await lambdaTask(FunctionName)(Payload)) ?? null };
          };
        } else if (resource.startsWith('arn:aws:lambda:')) {
          taskHandlers[stateName] = lambdaTask(resource);
        } else {
          throw new Error(`${name}.${stateName}: the twin does not run resource ${resource}`);
        }
      }
      const machine = new StateMachine(resolved, { validationOptions: { checkArn: false } });
      machines.set(name, {
        machine,
        definition: resolved,
        overrides: {
          taskResourceLocalHandlers: taskHandlers,
          waitTimeOverrides: waits,
          retryIntervalOverrides: retries,
        },
      });
    },

    startExecution(stateMachine, input, name = randomUUID()) {
      const registered = machines.get(stateMachine);
      if (!registered) throw new Error(`no state machine ${stateMachine}`);
      if (executions.has(name))
        throw Object.assign(new Error(`Execution ${name} already exists`), {
          name: 'ExecutionAlreadyExists',
        });
      const startedAt = new Date().toISOString();
      const executionArn = `arn:aws:states:${options.region}:${options.accountId}:execution:${stateMachine}:${name}`;
      const view: Mutable<ExecutionView> = {
        name,
        executionArn,
        stateMachine,
        status: 'RUNNING',
        startedAt,
        stoppedAt: null,
        currentStep: null,
        input,
        output: null,
        error: null,
        cause: null,
        failures: [],
      };
      executions.set(name, view);
      const execution = registered.machine.run(input as never, {
        overrides: registered.overrides as never,
        context: {
          Execution: { Id: executionArn, Name: name, StartTime: startedAt, Input: input as never },
          StateMachine: {
            Id: executionArn.replace(':execution:', ':stateMachine:').replace(`:${name}`, ''),
            Name: stateMachine,
          },
        },
      });
      aborts.add(execution.abort);
      void (async () => {
        for await (const event of execution.eventLogs) {
          if (event.type === 'StateEntered') view.currentStep = event.state.name;
          // Caught and retried failures too: what an operator reads in the console's event history.
          if (event.type === 'StateFailed')
            view.failures = [
              ...view.failures,
              `${event.state.name}: ${event.Error}: ${String(event.Cause)}`.slice(0, 500),
            ].slice(-20);
        }
      })().catch(() => {});
      const finished = execution.result
        .then(
          (output) => {
            view.status = 'SUCCEEDED';
            view.output = output;
          },
          (error: Error) => {
            view.status =
              error.name === 'ExecutionTimeoutError'
                ? 'TIMED_OUT'
                : error.name === 'ExecutionAbortedError'
                  ? 'ABORTED'
                  : 'FAILED';
            const cause = (error as { cause?: { name?: string; message?: string } }).cause;
            view.error = cause?.name ?? error.name;
            view.cause = cause?.message ?? error.message;
          },
        )
        .then(() => {
          view.stoppedAt = new Date().toISOString();
          aborts.delete(execution.abort);
          return { ...view };
        });
      done.set(name, finished);
      return { ...view };
    },

    settled(executionName) {
      const finished = done.get(executionName);
      if (!finished) return Promise.reject(new Error(`no execution ${executionName}`));
      return finished;
    },

    list: () => [...executions.values()].map((e) => ({ ...e })),

    close() {
      for (const abort of aborts) abort();
      aborts.clear();
    },
  };
};
