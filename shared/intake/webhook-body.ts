import { RejectedRequestError } from '../http/errors.ts';

const FORM = 'application/x-www-form-urlencoded';

/**
 * The JSON text of a verified webhook body. A hook whose content type is set to
 * `application/x-www-form-urlencoded` sends `payload=<the JSON, form-encoded>` and signs those raw
 * bytes (https://docs.github.com/webhooks/webhook-events-and-payloads#delivery-headers), so the
 * signature is checked on the body as it came and only then is the form decoded. Any other content
 * type is taken as JSON, as GitHub sends with `application/json`.
 *
 * @example
 * webhookJson('payload=%7B%22zen%22%3A%22hi%22%7D', 'application/x-www-form-urlencoded'); // '{"zen":"hi"}'
 */
export const webhookJson = (body: string, contentType: string | undefined): string => {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType !== FORM) return body;
  const payload = new URLSearchParams(body).get('payload');
  if (payload === null) {
    throw new RejectedRequestError(400, `a ${FORM} body must carry the JSON in its "payload" field`);
  }
  return payload;
};
