import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verifyGithubSignature } from '../../../shared/intake/signature.ts';
import { RejectedRequestError } from '../../../shared/http/errors.ts';

const vector = JSON.parse(
  readFileSync(new URL('../../vectors/github/signature.json', import.meta.url), 'utf8'),
);

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RejectedRequestError);
  return error as RejectedRequestError;
};

describe('verifyGithubSignature', () => {
  it("accepts GitHub's documented test vector", async () => {
    await expect(
      verifyGithubSignature([vector.secret], Buffer.from(vector.payload), vector.signature),
    ).resolves.toBe(vector.payload);
  });

  it('refuses the vector when any single byte of the body changes', async () => {
    const body = Buffer.from(vector.payload);
    for (let i = 0; i < body.length; i++) {
      const changed = Buffer.from(body);
      changed[i] = changed[i]! ^ 0x01;
      expect((await refusal(verifyGithubSignature([vector.secret], changed, vector.signature))).status).toBe(
        401,
      );
    }
  });

  it('accepts a body signed with the previous secret while a rotation is under way', async () => {
    await expect(
      verifyGithubSignature(['the-new-secret', vector.secret], Buffer.from(vector.payload), vector.signature),
    ).resolves.toBe(vector.payload);
  });

  it('answers 401 naming the header when the signature is missing', async () => {
    const error = await refusal(
      verifyGithubSignature([vector.secret], Buffer.from(vector.payload), undefined),
    );
    expect(error.status).toBe(401);
    expect(error.message).toMatch(/X-Hub-Signature-256/);
  });

  it('refuses the legacy sha1 scheme and malformed signatures with 401', async () => {
    for (const header of [
      'sha1=0123456789abcdef0123456789abcdef01234567',
      'sha256=XYZ',
      vector.signature.toUpperCase(),
    ]) {
      expect(
        (await refusal(verifyGithubSignature([vector.secret], Buffer.from(vector.payload), header))).status,
      ).toBe(401);
    }
  });

  it('refuses a body that is not UTF-8 rather than verifying a re-encoded copy', async () => {
    const error = await refusal(
      verifyGithubSignature([vector.secret], Buffer.from([0xff, 0xfe, 0x41]), vector.signature),
    );
    expect(error.message).toMatch(/UTF-8/);
  });
});
