import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';

/**
 * Runs a real handler module as Lambda does: imported once per "container" (its top-level code is
 * the cold start), invoked with a full Context (middy's timeout logic reads
 * `getRemainingTimeInMillis`, middy #876), and failed when it overruns its timeout.
 */
export interface TwinLambda {
  readonly name: string;
  invoke<T = unknown>(event: unknown): Promise<T>;
  readonly stats: { invocations: number; errors: number; coldStartMs: number };
}

let containers = 0;

export const loadTwinLambda = async (options: {
  name: string;
  modulePath: string;
  env: Readonly<Record<string, string>>;
  timeoutMs: number;
}): Promise<TwinLambda> => {
  // Env is read at import (cold start); set it only for the import so two sandboxes never mix.
  const saved = Object.fromEntries(Object.keys(options.env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, options.env, { AWS_LAMBDA_FUNCTION_NAME: options.name });
  const started = performance.now();
  let module: { handler: (event: unknown, context: Context) => Promise<unknown> };
  try {
    // A query string makes a distinct module instance: each sandbox gets its own container.
    module = await import(`${pathToFileURL(options.modulePath).href}?container=${++containers}`);
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  const stats = { invocations: 0, errors: 0, coldStartMs: performance.now() - started };

  return {
    name: options.name,
    stats,
    async invoke<T>(event: unknown): Promise<T> {
      stats.invocations++;
      const deadline = Date.now() + options.timeoutMs;
      const context: Context = {
        callbackWaitsForEmptyEventLoop: true,
        functionName: options.name,
        functionVersion: '$LATEST',
        invokedFunctionArn: `arn:aws:lambda:eu-west-1:111122223333:function:${options.name}`,
        memoryLimitInMB: '512',
        awsRequestId: randomUUID(),
        logGroupName: `/aws/lambda/${options.name}`,
        logStreamName: `sandbox/${containers}`,
        getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
        done: () => {},
        fail: () => {},
        succeed: () => {},
      };
      let timer: NodeJS.Timeout | undefined;
      try {
        return (await Promise.race([
          module.handler(event, context),
          new Promise((_, reject) => {
            timer = setTimeout(
              () =>
                reject(new Error(`Task timed out after ${(options.timeoutMs / 1000).toFixed(2)} seconds`)),
              options.timeoutMs,
            );
          }),
        ])) as T;
      } catch (error) {
        stats.errors++;
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
  };
};
