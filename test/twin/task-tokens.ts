import { randomBytes } from 'node:crypto';
import { TwinAwsError } from './aws-endpoint.ts';

/**
 * The callback pattern (`.waitForTaskToken`) that aws-local-stepfunctions lacks: a token is issued
 * when a task starts, and the task settles on the first of SendTaskSuccess, SendTaskFailure, its
 * `TimeoutSeconds`, a missed `HeartbeatSeconds`, or the execution stopping. Send* with a token never
 * issued answers InvalidToken; with one whose task has closed, TaskTimedOut — what Step Functions
 * answers to a click that comes after the approval ran out.
 */
export class TaskFailedError extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    // Catch/Retry match on the name, and the caught output is {Error: name, Cause: message}.
    this.name = error;
  }
}

export interface TaskWait {
  readonly token: string;
  /** Settles with the SendTaskSuccess output (parsed JSON) or rejects with the task's error. */
  readonly outcome: Promise<unknown>;
}

export interface TaskTokens {
  /**
   * Opens a task for `executionArn`. `timeoutMs` / `heartbeatMs` are real (already scaled); the
   * rejection on a timeout is `timeoutError()`, so the caller decides what Step Functions error it is.
   */
  open(options: {
    executionArn: string;
    stateName: string;
    timeoutMs?: number;
    heartbeatMs?: number;
    timeoutError: (what: 'timeout' | 'heartbeat') => Error;
  }): TaskWait;
  /** Fails the task from the inside (its Lambda failed before anyone answered). */
  fail(token: string, error: Error): void;
  success(token: string, output: string): void;
  failure(token: string, error?: string, cause?: string): void;
  heartbeat(token: string): void;
  /** Closes every open task of a stopped execution (its tokens then answer TaskTimedOut). */
  closeExecution(executionArn: string, error: Error): void;
  /** Tasks waiting now: what `GET /sandbox/state` shows as an execution's pending callbacks. */
  waiting(): readonly { token: string; executionArn: string; stateName: string; openedAt: string }[];
  close(): void;
}

interface OpenTask {
  readonly executionArn: string;
  readonly stateName: string;
  readonly openedAt: string;
  readonly resolve: (output: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timers: Set<NodeJS.Timeout>;
  heartbeatMs?: number;
  heartbeatTimer?: NodeJS.Timeout;
  timeoutError: (what: 'timeout' | 'heartbeat') => Error;
}

/** Step Functions caps task output at 256 KiB. */
const MAX_OUTPUT_BYTES = 256 * 1024;

export const createTaskTokens = (): TaskTokens => {
  const open = new Map<string, OpenTask>();
  /** Tokens whose task has closed: they answer TaskTimedOut, not InvalidToken. */
  const closed = new Set<string>();

  const settle = (token: string, how: (task: OpenTask) => void) => {
    const task = open.get(token);
    if (!task) return;
    open.delete(token);
    closed.add(token);
    for (const timer of task.timers) clearTimeout(timer);
    if (task.heartbeatTimer) clearTimeout(task.heartbeatTimer);
    how(task);
  };

  const armHeartbeat = (token: string, task: OpenTask) => {
    if (task.heartbeatMs === undefined) return;
    if (task.heartbeatTimer) clearTimeout(task.heartbeatTimer);
    task.heartbeatTimer = setTimeout(
      () => settle(token, (t) => t.reject(t.timeoutError('heartbeat'))),
      task.heartbeatMs,
    );
  };

  const openTask = (token: string): OpenTask => {
    if (typeof token !== 'string' || token.length < 1 || token.length > 2048)
      throw new TwinAwsError('ValidationException', 'taskToken: expected 1 to 2048 characters');
    const task = open.get(token);
    if (task) return task;
    if (closed.has(token))
      throw new TwinAwsError('TaskTimedOut', "Task Timed Out: 'Provided task does not exist anymore'");
    throw new TwinAwsError('InvalidToken', "Invalid Token: 'Provided task token is invalid'");
  };

  return {
    open({ executionArn, stateName, timeoutMs, heartbeatMs, timeoutError }) {
      // Real tokens are opaque base64 of several hundred characters; so are these.
      const token = `AQB${randomBytes(180).toString('base64')}`;
      let resolve!: (output: unknown) => void;
      let reject!: (error: Error) => void;
      const outcome = new Promise<unknown>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const task: OpenTask = {
        executionArn,
        stateName,
        openedAt: new Date().toISOString(),
        resolve,
        reject,
        timers: new Set(),
        ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
        timeoutError,
      };
      open.set(token, task);
      if (timeoutMs !== undefined)
        task.timers.add(
          setTimeout(() => settle(token, (t) => t.reject(t.timeoutError('timeout'))), timeoutMs),
        );
      armHeartbeat(token, task);
      return { token, outcome };
    },
    fail(token, error) {
      settle(token, (task) => task.reject(error));
    },
    success(token, output) {
      openTask(token);
      let parsed: unknown;
      try {
        if (Buffer.byteLength(output ?? '') > MAX_OUTPUT_BYTES) throw new Error('too large');
        parsed = JSON.parse(output);
      } catch {
        throw new TwinAwsError(
          'InvalidOutput',
          'Invalid State Machine Output: output must be JSON up to 256 KiB',
        );
      }
      settle(token, (task) => task.resolve(parsed));
    },
    failure(token, error, cause) {
      openTask(token);
      if (error !== undefined && error.length > 256)
        throw new TwinAwsError('ValidationException', 'error: at most 256 characters');
      if (cause !== undefined && cause.length > 32_768)
        throw new TwinAwsError('ValidationException', 'cause: at most 32768 characters');
      settle(token, (task) => task.reject(new TaskFailedError(error ?? '', cause ?? '')));
    },
    heartbeat(token) {
      armHeartbeat(token, openTask(token));
    },
    closeExecution(executionArn, error) {
      for (const [token, task] of open)
        if (task.executionArn === executionArn) settle(token, (t) => t.reject(error));
    },
    waiting: () =>
      [...open].map(([token, t]) => ({
        token,
        executionArn: t.executionArn,
        stateName: t.stateName,
        openedAt: t.openedAt,
      })),
    close() {
      for (const token of [...open.keys()])
        settle(token, (task) => task.reject(new Error('the twin is closing')));
    },
  };
};
