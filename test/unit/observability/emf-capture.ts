import { onTestFailed, vi } from 'vitest';

/** An EMF record as Powertools writes it to stdout, parsed. */
export type EmfRecord = Record<string, unknown> & {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
};

/**
 * Runs `act` with stdout captured and returns the EMF lines it wrote (other lines pass through).
 * What Powertools warns on stderr meanwhile ("No application metrics to publish" when a test checks
 * that nothing is counted) is kept, and printed only if the test fails.
 */
export const captureEmf = async (act: () => unknown): Promise<EmfRecord[]> => {
  const lines: string[] = [];
  const warnings: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
    const text = String(chunk);
    if (text.startsWith('{"_aws"')) {
      lines.push(text);
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write);
  const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: unknown) => {
    warnings.push(String(chunk));
    return true;
  }) as typeof process.stderr.write);
  try {
    await act();
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
  }
  if (warnings.length > 0)
    onTestFailed(() => console.error(`stderr while metrics were captured:\n${warnings.join('')}`));
  return lines.map((line) => JSON.parse(line) as EmfRecord);
};

/** The records carrying metric `name`. */
export const recordsOf = (records: readonly EmfRecord[], name: string) =>
  records.filter((record) => record._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === name));
