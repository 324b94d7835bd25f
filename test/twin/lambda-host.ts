import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import type { LambdaSessions } from './lambda-sessions.ts';
import type { FaultTargetDefinition, InjectedError } from './faults.ts';
import type { FunctionLogs } from './function-logs.ts';

/** Lambda's own error when the runtime process exits mid-invocation. */
export class RuntimeExitError extends Error {
  override name = 'Runtime.ExitError';
}
import type { TwinMetrics } from './cloudwatch-metrics.ts';

/**
 * Runs a real handler module as Lambda does. Each execution environment ("container") imports the
 * module once (its top-level code is the cold start) and handles one invocation at a time; a
 * concurrent invocation gets another container, cold. Invocations get a full Context (middy's
 * timeout logic reads `getRemainingTimeInMillis`, middy #876). An invocation that overruns its
 * timeout fails, and its container is discarded as Lambda resets a timed-out environment: with
 * `sessions`, each container signs with its own session token, which the twin's AWS endpoint
 * refuses once the container is gone, so its unfinished work has no further effect on AWS.
 * A `lambda:<name>` fault with error `Crash` kills an invocation the same way, as a runtime that
 * exits does: no answer, the container and its credentials gone. It dies before the handler runs;
 * with `"afterMs":N`, N real ms into the handler's work (what it sent by then has happened, nothing
 * after); with `afterEffect`, once the work is done, so only the answer is lost.
 */
export interface TwinLambda {
  readonly name: string;
  invoke<T = unknown>(event: unknown): Promise<T>;
  readonly stats: {
    invocations: number;
    errors: number;
    /** Invocations that overran the timeout; each discarded its container. */
    timeouts: number;
    /** Invocations killed by a `Crash` fault; each discarded its container. */
    crashes: number;
    /** Containers started (cold starts), the first one at load. */
    containers: number;
    /** The first container's import, in ms. */
    coldStartMs: number;
    /** Summed invocation time, each rounded up to 1 ms as Lambda bills (init excluded). */
    billedMs: number;
  };
}

type Handler = (event: unknown, context: Context) => Promise<unknown>;

interface Container {
  readonly id: number;
  readonly handler: Handler;
  readonly sessionToken?: string;
}

let containers = 0;
let importing: Promise<unknown> = Promise.resolve();

/** Env is process-wide and read at import: two cold starts at once would read each other's. */
const oneImportAtATime = <T>(start: () => Promise<T>): Promise<T> => {
  const started = importing.then(start, start);
  importing = started.catch(() => undefined);
  return started;
};

const importContainer = (modulePath: string, env: Readonly<Record<string, string>>) =>
  oneImportAtATime(async () => {
    // Env is read at import (cold start); set it only for the import so two sandboxes never mix.
    const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
    Object.assign(process.env, env);
    const id = ++containers;
    try {
      // A query string makes a distinct module instance: each container runs its own top level.
      const module = (await import(`${pathToFileURL(modulePath).href}?container=${id}`)) as {
        handler: Handler;
      };
      return { id, handler: module.handler };
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

export const loadTwinLambda = async (options: {
  name: string;
  modulePath: string;
  env: Readonly<Record<string, string>>;
  timeoutMs: number;
  sessions?: LambdaSessions;
  /** Where the `lambda:<name>` target is defined and its `Crash` faults taken. */
  faults?: {
    define(target: string, definition: FaultTargetDefinition): void;
    take(target: string): InjectedError | undefined;
  };
  /** Where the invocations' EMF lines go instead of stdout, as CloudWatch takes them from the logs. */
  metrics?: TwinMetrics;
  /** Where the function's other output goes (its log group); absent: the process's stdout/stderr. */
  logs?: FunctionLogs;
}): Promise<TwinLambda> => {
  const logged = <T>(work: () => T): T => (options.logs ? options.logs.capture(options.name, work) : work());
  const stats = {
    ...{ invocations: 0, errors: 0, timeouts: 0, crashes: 0, containers: 0, coldStartMs: 0 },
    /** Invocation time as Lambda bills it: each invocation's duration rounded up to 1 ms, summed. */
    billedMs: 0,
  };
  const faultTarget = `lambda:${options.name}`;
  options.faults?.define(faultTarget, { errors: { Crash: 0 }, settings: ['afterMs'] });
  const idle: Container[] = [];

  const coldStart = async (): Promise<Container> => {
    const sessionToken = options.sessions?.issue(options.name);
    const started = performance.now();
    const imported = await logged(() =>
      importContainer(options.modulePath, {
        ...options.env,
        AWS_LAMBDA_FUNCTION_NAME: options.name,
        ...(sessionToken ? { AWS_SESSION_TOKEN: sessionToken } : {}),
      }),
    );
    if (++stats.containers === 1) stats.coldStartMs = performance.now() - started;
    return { ...imported, ...(sessionToken ? { sessionToken } : {}) };
  };

  // The first container starts with the sandbox, so a handler that cannot initialise fails it.
  idle.push(await coldStart());

  const run = async <T>(container: Container, event: unknown): Promise<T> => {
    // The clock starts after init: Lambda bounds the init phase separately (10 s).
    const deadline = Date.now() + options.timeoutMs;
    const context: Context = {
      callbackWaitsForEmptyEventLoop: true,
      functionName: options.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:eu-west-1:111122223333:function:${options.name}`,
      memoryLimitInMB: '512',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${options.name}`,
      logStreamName: `sandbox/${container.id}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => {},
      fail: () => {},
      succeed: () => {},
    };
    let timer: NodeJS.Timeout | undefined;
    let discarded = false;
    /** Lambda resets the environment: the container never runs again, its credentials die. */
    const discard = () => {
      discarded = true;
      if (container.sessionToken) options.sessions?.discard(container.sessionToken);
    };
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        discard();
        stats.timeouts++;
        const message = `Task timed out after ${(options.timeoutMs / 1000).toFixed(2)} seconds`;
        // Lambda writes this line to the function's log group: it explains the errors the abandoned
        // invocation logs next (its credentials are refused from now on).
        options.logs?.capture(options.name, () =>
          process.stdout.write(`${new Date().toISOString()} ${context.awsRequestId} ${message}\n`),
        );
        reject(new Error(message));
      }, options.timeoutMs);
    });
    const crash = options.faults?.take(faultTarget);
    const crashed = () => {
      discard();
      stats.crashes++;
      return new RuntimeExitError('RequestId: crashed (injected by the sandbox) Error: Runtime exited');
    };
    let crashTimer: NodeJS.Timeout | undefined;
    const started = performance.now();
    try {
      if (crash && !crash.afterEffect && crash.settings.afterMs === undefined) throw crashed();
      const midWork =
        crash?.settings.afterMs === undefined
          ? []
          : [
              new Promise<never>((_, reject) => {
                crashTimer = setTimeout(() => reject(crashed()), crash.settings.afterMs);
              }),
            ];
      const result = (await Promise.race([
        Promise.resolve().then(() =>
          logged(() =>
            options.metrics
              ? options.metrics.capture(() => container.handler(event, context))
              : container.handler(event, context),
          ),
        ),
        timedOut,
        ...midWork,
      ])) as T;
      if (crash) throw crashed(); // the work is done; the process died before it answered
      idle.push(container);
      return result;
    } catch (error) {
      stats.errors++;
      // A handler that failed by itself keeps its environment (and any work it left running).
      if (!discarded) idle.push(container);
      throw error;
    } finally {
      stats.billedMs += Math.ceil(performance.now() - started);
      clearTimeout(timer);
      clearTimeout(crashTimer);
    }
  };

  return {
    name: options.name,
    stats,
    async invoke<T>(event: unknown): Promise<T> {
      stats.invocations++;
      return run<T>(idle.pop() ?? (await coldStart()), event);
    },
  };
};
