import { AsyncLocalStorage } from 'node:async_hooks';
import { appendFileSync } from 'node:fs';

/**
 * CloudWatch Logs for the twin's Lambdas. On AWS a function's stdout and stderr go to its log group,
 * not to anyone's terminal; here they are taken off the process's stdout/stderr while one of the
 * twin's functions runs (its cold start, its invocation, and any work it left running), and go where
 * the sandbox was told:
 * - `console`: through to the terminal (`npm start`, where an operator watches them);
 * - `kept` (tests, bench): into memory, where a test can read them (`sandbox.logs`), and appended to
 *   the log file named by `setFunctionLogFile`, if any. The faults tests and the bench inject on
 *   purpose make handlers log errors with stack traces; kept, they no longer bury the test report,
 *   and `test/support/function-logs-on-failure.ts` prints a failed test's own lines under it.
 * EMF lines pass through untouched: the twin's CloudWatch metrics take them (cloudwatch-metrics.ts).
 */
export interface FunctionLogLine {
  /** Process-wide sequence number: lines written after a mark have higher ones. */
  readonly seq: number;
  readonly at: string;
  readonly function: string;
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

export interface FunctionLogs {
  readonly destination: 'console' | 'kept';
  /** Runs `work` (a cold start or an invocation) with what it writes attributed to `functionName`. */
  capture<T>(functionName: string, work: () => T): T;
  /** The lines kept so far (the most recent `KEPT_PER_SANDBOX`), oldest first; none with `console`. */
  lines(functionName?: string): readonly FunctionLogLine[];
}

/** Enough for any one test's story; a burst of thousands of throttled calls keeps its tail. */
const KEPT_PER_SANDBOX = 20_000;
const KEPT_IN_PROCESS = 5_000;

interface Sink {
  readonly logs: FunctionLogSink;
  readonly functionName: string;
}
type FunctionLogSink = FunctionLogs & {
  take(functionName: string, stream: 'stdout' | 'stderr', text: string): boolean;
};

const running = new AsyncLocalStorage<Sink>();
let seq = 0;
/** Every kept line of the process, for a failed test's report (bounded). */
const recent: FunctionLogLine[] = [];
let logFile: string | undefined;

/** Also append every kept line to this file (time, function, the line); undefined: memory only. */
export const setFunctionLogFile = (path: string | undefined) => {
  logFile = path;
};

/** The sequence number of the last line kept so far: `functionLogLinesSince(mark)` gives what came after. */
export const functionLogMark = () => seq;

/** Kept lines of any sandbox in this process written after `mark` (the most recent few thousand). */
export const functionLogLinesSince = (mark: number): readonly FunctionLogLine[] =>
  recent.filter((line) => line.seq > mark);

const push = <T>(list: T[], item: T, limit: number) => {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
};

let installed = false;
/** One wrapper per stream for the process; it asks the running function's sink, if any, per write. */
const install = () => {
  if (installed) return;
  installed = true;
  for (const stream of ['stdout', 'stderr'] as const) {
    const target = process[stream];
    const write = target.write.bind(target) as (...args: unknown[]) => boolean;
    target.write = ((chunk: unknown, ...rest: unknown[]) => {
      const sink = running.getStore();
      if (sink && (typeof chunk === 'string' || Buffer.isBuffer(chunk))) {
        const text = String(chunk);
        if (!text.startsWith('{"_aws":') && sink.logs.take(sink.functionName, stream, text)) {
          const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
          done?.();
          return true;
        }
      }
      return write(chunk, ...rest);
    }) as typeof target.write;
  }
};

export const createFunctionLogs = (destination: 'console' | 'kept'): FunctionLogs => {
  install();
  const kept: FunctionLogLine[] = [];
  const logs: FunctionLogSink = {
    destination,
    capture: (functionName, work) => running.run({ logs, functionName }, work),
    lines: (functionName) =>
      functionName === undefined ? [...kept] : kept.filter((line) => line.function === functionName),
    take(functionName, stream, text) {
      if (destination === 'console') return false;
      const line = { seq: ++seq, at: new Date().toISOString(), function: functionName, stream, text };
      push(kept, line, KEPT_PER_SANDBOX);
      push(recent, line, KEPT_IN_PROCESS);
      if (logFile) appendFileSync(logFile, `${line.at} ${functionName} ${text.trimEnd()}\n`);
      return true;
    },
  };
  return logs;
};
