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
