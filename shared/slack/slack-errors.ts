import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
} from '@slack/web-api';

/**
 * What went wrong with a Slack Web API call, in the terms a caller acts on:
 * - `rate_limited`: HTTP 429; `retryAfterSeconds` says when to try again;
 * - `auth`: the token is bad, revoked or lacks a scope (`invalid_auth`, `not_authed`,
 *   `token_revoked`, `missing_scope`, …): an operator must fix the app or the secret;
 * - `channel`: the channel does not exist or the bot is not in it (`channel_not_found`,
 *   `not_in_channel`, `is_archived`): an operator must fix the config or invite the bot;
 * - `message_not_found`: `chat.update` of a message that is gone (deleted by someone);
 * - `transient`: network failure, timeout, Slack 5xx, `internal_error`, `fatal_error`;
 * - `rejected`: any other Slack error (`invalid_blocks`, `msg_too_long`, …): our request is wrong.
 */
export type SlackErrorKind =
  'rate_limited' | 'auth' | 'channel' | 'message_not_found' | 'transient' | 'rejected';

export class SlackApiError extends Error {
  constructor(
    readonly kind: SlackErrorKind,
    /** Slack's own error code (`channel_not_found`), or `http_<status>` / `request_failed`. */
    readonly code: string,
    readonly method: string,
    message: string,
    readonly retryAfterSeconds?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SlackApiError';
  }

  /** Worth trying again later (an SQS retry): Slack may answer differently then. */
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'transient';
  }
}

const AUTH = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'missing_scope',
  'not_allowed_token_type',
  'no_permission',
  'ekm_access_denied',
]);
const CHANNEL = new Set(['channel_not_found', 'not_in_channel', 'is_archived', 'restricted_action']);
const TRANSIENT = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);

const kindOf = (code: string): SlackErrorKind =>
  AUTH.has(code)
    ? 'auth'
    : CHANNEL.has(code)
      ? 'channel'
      : code === 'message_not_found'
        ? 'message_not_found'
        : code === 'ratelimited'
          ? 'rate_limited'
          : TRANSIENT.has(code)
            ? 'transient'
            : 'rejected';

/** Turns what @slack/web-api throws into a `SlackApiError`; the message never carries the token. */
export const classifySlackError = (method: string, error: unknown): SlackApiError => {
  if (error instanceof SlackApiError) return error;
  if (error instanceof WebAPIRateLimitedError) {
    return new SlackApiError(
      'rate_limited',
      'ratelimited',
      method,
      `${method}: rate limited, retry after ${error.retryAfter} s`,
      error.retryAfter,
      { cause: error },
    );
  }
  if (error instanceof WebAPIPlatformError) {
    const code = String(error.data.error);
    return new SlackApiError(kindOf(code), code, method, `${method}: Slack answered ${code}`, undefined, {
      cause: error,
    });
  }
  if (error instanceof WebAPIHTTPError) {
    const kind = error.statusCode >= 500 || error.statusCode === 408 ? 'transient' : 'rejected';
    return new SlackApiError(
      kind,
      `http_${error.statusCode}`,
      method,
      `${method}: HTTP ${error.statusCode}`,
      undefined,
      { cause: error },
    );
  }
  if (error instanceof WebAPIRequestError) {
    return new SlackApiError(
      'transient',
      'request_failed',
      method,
      `${method}: request failed (${error.original.message})`,
      undefined,
      { cause: error },
    );
  }
  return new SlackApiError(
    'transient',
    'request_failed',
    method,
    `${method}: ${(error as Error)?.message ?? String(error)}`,
    undefined,
    { cause: error },
  );
};
