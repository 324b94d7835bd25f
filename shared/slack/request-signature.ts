import { createHmac, timingSafeEqual } from 'node:crypto';
import { RejectedRequestError } from '../http/errors.ts';

/**
 * Slack signs every request it sends (slash commands, interactions) with the app's signing secret:
 * `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<X-Slack-Request-Timestamp>:<raw body>">`
 * (https://api.slack.com/authentication/verifying-requests-from-slack). The timestamp is part of the
 * signed text, so a captured request replays only while the timestamp is fresh: Slack's window is
 * 5 minutes, and it is enforced both ways, because a timestamp far in the future would otherwise keep
 * a captured request valid for as long as its sender chose.
 *
 * Hand-written rather than Bolt's verifier: Bolt is an application framework (megabytes, its own
 * receivers) and the check is twenty lines of node:crypto.
 */
export const SLACK_SIGNATURE_WINDOW_SECONDS = 5 * 60;

const SIGNATURE_FORMAT = /^v0=[0-9a-f]{64}$/;
const TIMESTAMP_FORMAT = /^[0-9]{1,12}$/;

export interface SlackSignatureHeaders {
  readonly 'x-slack-signature'?: string | undefined;
  readonly 'x-slack-request-timestamp'?: string | undefined;
}

/**
 * Verifies a request against the signing secret at `now`, and returns the body as the text that was
 * signed. Every way of failing is a `RejectedRequestError(401)` naming what was wrong; nothing about
 * the request is trusted before this returns.
 */
export const verifySlackSignature = (
  signingSecret: string,
  headers: SlackSignatureHeaders,
  body: Buffer,
  now: Date,
): string => {
  const signature = headers['x-slack-signature'];
  const timestamp = headers['x-slack-request-timestamp'];
  if (!timestamp) throw new RejectedRequestError(401, 'missing X-Slack-Request-Timestamp header');
  if (!signature) throw new RejectedRequestError(401, 'missing X-Slack-Signature header');
  if (!TIMESTAMP_FORMAT.test(timestamp)) {
    throw new RejectedRequestError(401, 'X-Slack-Request-Timestamp must be whole seconds since the epoch');
  }
  const skew = Math.abs(now.getTime() / 1000 - Number(timestamp));
  if (skew > SLACK_SIGNATURE_WINDOW_SECONDS) {
    throw new RejectedRequestError(
      401,
      `X-Slack-Request-Timestamp is ${Math.round(skew)} s away from now; at most ${SLACK_SIGNATURE_WINDOW_SECONDS} s is accepted`,
    );
  }
  if (!SIGNATURE_FORMAT.test(signature)) {
    throw new RejectedRequestError(
      401,
      'X-Slack-Signature must be "v0=" followed by 64 lowercase hex digits',
    );
  }
  const expected = `v0=${createHmac('sha256', signingSecret)
    .update(`v0:${timestamp}:`)
    .update(body)
    .digest('hex')}`;
  // Both are 67 ASCII characters (the format was checked), as timingSafeEqual requires.
  if (!timingSafeEqual(Buffer.from(expected, 'ascii'), Buffer.from(signature, 'ascii'))) {
    throw new RejectedRequestError(401, 'X-Slack-Signature does not match the body');
  }
  return body.toString('utf8');
};
