import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * CloudWatch's side of EMF: a Lambda's stdout lines that carry `_aws.CloudWatchMetrics` become
 * metrics instead of log lines. The twin does the same for the handlers it hosts: an EMF line written
 * during one of their invocations is taken off stdout (a 200-job run would print hundreds of them)
 * and kept here, where tests and `GET /sandbox/state` read it. Every other line passes through.
 */
export interface EmfPoint {
  readonly namespace: string;
  readonly name: string;
  readonly unit: string;
  readonly values: readonly number[];
  /** The dimension names of each set the point is published under, e.g. [["service","provider"]]. */
  readonly dimensionSets: readonly (readonly string[])[];
  readonly dimensions: Readonly<Record<string, string>>;
  readonly timestamp: number;
}

export interface TwinMetrics {
  /** Runs an invocation with its EMF lines captured here. */
  capture<T>(invocation: () => T): T;
  points(): readonly EmfPoint[];
  /** Per metric name: how many values were written and their sum (a Count's total). */
  summary(): Record<string, { unit: string; samples: number; sum: number }>;
}

const sinks = new AsyncLocalStorage<EmfPoint[]>();
let installed = false;

type Json = Record<string, unknown>;

const toPoints = (line: string): EmfPoint[] | undefined => {
  if (!line.startsWith('{"_aws":')) return undefined;
  let record: Json;
  try {
    record = JSON.parse(line) as Json;
  } catch {
    return undefined;
  }
  const aws = record._aws as { Timestamp?: number; CloudWatchMetrics?: Json[] } | undefined;
  if (!Array.isArray(aws?.CloudWatchMetrics)) return undefined;
  return aws.CloudWatchMetrics.flatMap((directive) => {
    const sets = (directive.Dimensions ?? []) as string[][];
    const dimensions = Object.fromEntries([...new Set(sets.flat())].map((key) => [key, String(record[key])]));
    return ((directive.Metrics ?? []) as { Name: string; Unit?: string }[]).map((metric) => ({
      namespace: String(directive.Namespace),
      name: metric.Name,
      unit: metric.Unit ?? 'None',
      values: [record[metric.Name]].flat().map(Number),
      dimensionSets: sets,
      dimensions,
      timestamp: aws.Timestamp ?? Date.now(),
    }));
  });
};

/** One wrapper on stdout for the process; it looks up the invocation's sink, if any, per write. */
const install = () => {
  if (installed) return;
  installed = true;
  const write = process.stdout.write.bind(process.stdout) as (...args: unknown[]) => boolean;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    const sink = sinks.getStore();
    if (sink && (typeof chunk === 'string' || Buffer.isBuffer(chunk))) {
      const points = toPoints(String(chunk).trimEnd());
      if (points) {
        sink.push(...points);
        const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
        done?.();
        return true;
      }
    }
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
};

export const createTwinMetrics = (): TwinMetrics => {
  install();
  const points: EmfPoint[] = [];
  return {
    capture: (invocation) => sinks.run(points, invocation),
    points: () => points,
    summary() {
      const summary: Record<string, { unit: string; samples: number; sum: number }> = {};
      for (const point of points) {
        const entry = (summary[point.name] ??= { unit: point.unit, samples: 0, sum: 0 });
        entry.samples += point.values.length;
        entry.sum += point.values.reduce((a, b) => a + b, 0);
      }
      return summary;
    },
  };
};
