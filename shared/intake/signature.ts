import { verify } from '@octokit/webhooks-methods';
import { RejectedRequestError } from '../http/errors.ts';

const SIGNATURE_FORMAT = /^sha256=[0-9a-f]{64}$/;

/**
 * Checks `X-Hub-Signature-256` against every configured secret (two during a rotation) and returns
 * the body as the string that was verified, so the caller parses it without decoding it again.
 * octokit's `verify` compares in constant time; it throws on a missing signature, so the header is
 * checked first and a missing one is a 401, never a 500. Only sha256 is accepted: the legacy
 * `X-Hub-Signature` (sha1) alone is refused.
 */
export const verifyGithubSignature = async (
  secrets: readonly string[],
  body: Buffer,
  signatureHeader: string | undefined,
): Promise<string> => {
  if (!signatureHeader) throw new RejectedRequestError(401, 'missing X-Hub-Signature-256 header');
  if (!SIGNATURE_FORMAT.test(signatureHeader)) {
    throw new RejectedRequestError(401, 'X-Hub-Signature-256 must be "sha256=" followed by 64 hex digits');
  }
  if (body.length === 0) throw new RejectedRequestError(401, 'empty body: nothing was signed');
  let payload: string;
  try {
    // octokit signs strings as UTF-8; a body that is not UTF-8 cannot round-trip to the signed bytes.
    payload = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    throw new RejectedRequestError(401, 'body is not UTF-8, so its signature cannot be verified');
  }
  for (const secret of secrets) {
    if (await verify(secret, payload, signatureHeader)) return payload;
  }
  throw new RejectedRequestError(401, 'X-Hub-Signature-256 does not match the body');
};
