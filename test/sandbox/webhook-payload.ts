import { webhookJson } from '../../shared/intake/webhook-body.ts';

/**
 * The delivery's JSON object, read as the intake reads it (JSON, or the `payload` field of a
 * form-encoded body); undefined for anything else, which tells the twin nothing. V8's JSON.parse
 * takes any depth; the GitHub twin keeps only the fields it needs, so depth goes no further.
 */
export const webhookPayloadOf = (
  body: Buffer,
  contentType: string | undefined,
): Record<string, unknown> | undefined => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(webhookJson(body.toString('utf8'), contentType));
  } catch {
    return undefined;
  }
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
};
