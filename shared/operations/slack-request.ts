import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { RejectedRequestError } from '../http/errors.ts';
import type { RawRequest } from '../http/api-gateway.ts';
import { verifySlackSignature } from '../slack/request-signature.ts';
import type { SigningSecretSource } from '../slack/signing-secret.ts';

/**
 * What the Slack routes answer. Slack reads the HTTP 200 body of a slash command as the reply
 * (`{"response_type":"ephemeral","text":…}` is shown to the asker only); `body` undefined is a bare
 * 200 with nothing in it (the `ssl_check` answer). Anything but 200 shows the user a generic
 * failure, so refusals of well-formed, signed requests are 200 with the reason in the text.
 */
export interface SlackAnswer {
  readonly status: number;
  readonly body?: Record<string, unknown>;
}

export const ephemeral = (text: string): SlackAnswer => ({
  status: 200,
  body: { response_type: 'ephemeral', text },
});

export const toSlackHttpResult = (answer: SlackAnswer): APIGatewayProxyStructuredResultV2 =>
  answer.body === undefined
    ? { statusCode: answer.status, body: '' }
    : {
        statusCode: answer.status,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(answer.body),
      };

/**
 * Slack's own requests are a few KB (a block_actions payload carries the whole message, still far
 * below this); a larger body is refused before the HMAC is computed over it.
 */
export const MAX_SLACK_BODY_BYTES = 256 * 1024;

/**
 * Verifies the signature, then parses the form. Nothing is read from the request before the
 * signature is known to be good; a bad or stale one is a 401 and nothing else happens.
 */
export const readSignedForm = async (
  request: RawRequest,
  signingSecret: SigningSecretSource,
  now: Date,
): Promise<URLSearchParams> => {
  if (request.body.length > MAX_SLACK_BODY_BYTES) {
    throw new RejectedRequestError(413, `body is ${request.body.length} bytes; Slack sends far less`);
  }
  const text = verifySlackSignature(await signingSecret.current(), request.headers, request.body, now);
  return new URLSearchParams(text);
};

/** Escapes text we echo into Slack mrkdwn, so `<!channel>` or `<@U…>` typed by a user stays text. */
export const escapeMrkdwn = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,}$/;
export const SLACK_CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;
