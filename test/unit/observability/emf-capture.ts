import { vi } from 'vitest';

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

/** Runs `act` with stdout captured and returns the EMF lines it wrote (other lines pass through). */
export const captureEmf = async (act: () => unknown): Promise<EmfRecord[]> => {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
    const text = String(chunk);
    if (text.startsWith('{"_aws"')) {
      lines.push(text);
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write);
  try {
    await act();
  } finally {
    spy.mockRestore();
  }
  return lines.map((line) => JSON.parse(line) as EmfRecord);
};

/** The records carrying metric `name`. */
export const recordsOf = (records: readonly EmfRecord[], name: string) =>
  records.filter((record) => record._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === name));
