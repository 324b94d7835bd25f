import type { Logger } from '@aws-lambda-powertools/logger';

/** A request we refuse on purpose: the status and message go back to the caller as they are. */
export class RejectedRequestError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 413 | 415,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RejectedRequestError';
  }
}

/** A deployment problem (missing env key, blank secret): a 500 for the caller, the detail for the log. */
export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

interface Answer {
  readonly status: number;
  readonly body?: Record<string, unknown>;
}
type FailureLogger = Pick<Logger, 'warn' | 'error'>;

/**
 * Wraps a request handler so it always answers: a refusal goes back with its status and message, a
 * config problem or anything unexpected is a generic 500 whose detail goes to the log only.
 */
export const answeringRefusals =
  <Request, A extends Answer>(
    handle: (request: Request) => Promise<A>,
    logger: FailureLogger,
    failure: string,
  ) =>
  async (request: Request): Promise<A | { status: number; body: { error: string } }> => {
    try {
      return await handle(request);
    } catch (error) {
      if (error instanceof RejectedRequestError) {
        logger.warn('request refused', { status: error.status, reason: error.message });
        return { status: error.status, body: { error: error.message } };
      }
      logger.error(error instanceof ConfigError ? 'configuration problem' : failure, {
        error: error as Error,
      });
      return { status: 500, body: { error: 'internal error' } };
    }
  };
