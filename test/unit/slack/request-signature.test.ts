import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verifySlackSignature } from '../../../shared/slack/request-signature.ts';
import { RejectedRequestError } from '../../../shared/http/errors.ts';
import { signSlackRequest, slackSignature } from '../../support/slack-requests.ts';

/** Slack's worked example from "Verifying requests from Slack", an exact copy in test/vectors/slack/. */
const vector = JSON.parse(
  readFileSync(new URL('../../vectors/slack/signature.json', import.meta.url), 'utf8'),
) as {
  signingSecret: string;
  timestamp: string;
  body: string;
  signature: string;
};
const at = (seconds: number) => new Date(seconds * 1000);
const vectorTime = Number(vector.timestamp);
const headers = (signature: string, timestamp = vector.timestamp) => ({
  'x-slack-signature': signature,
  'x-slack-request-timestamp': timestamp,
});

const refusal = (run: () => unknown): RejectedRequestError => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RejectedRequestError);
    return error as RejectedRequestError;
  }
  throw new Error('expected a refusal, but the request was accepted');
};

describe("Slack's worked example", () => {
  it('is accepted with the clock at its timestamp, and the body comes back as the signed text', () => {
    const body = verifySlackSignature(
      vector.signingSecret,
      headers(vector.signature),
      Buffer.from(vector.body),
      at(vectorTime),
    );
    expect(body).toBe(vector.body);
  });

  it('is refused at the real now: it is years older than the 5-minute window', () => {
    const error = refusal(() =>
      verifySlackSignature(
        vector.signingSecret,
        headers(vector.signature),
        Buffer.from(vector.body),
        new Date(),
      ),
    );
    expect(error.status).toBe(401);
    expect(error.message).toMatch(/X-Slack-Request-Timestamp is \d+ s away from now; at most 300 s/);
  });

  it('is refused when any one byte of the body changes', () => {
    const body = Buffer.from(vector.body);
    for (const index of [0, Math.floor(body.length / 2), body.length - 1]) {
      const changed = Buffer.from(body);
      changed[index] = changed[index]! ^ 0x01;
      const error = refusal(() =>
        verifySlackSignature(vector.signingSecret, headers(vector.signature), changed, at(vectorTime)),
      );
      expect(error).toMatchObject({ status: 401, message: 'X-Slack-Signature does not match the body' });
    }
  });

  it('is refused under another secret, and with its timestamp replaced by a fresh one', () => {
    expect(
      refusal(() =>
        verifySlackSignature(
          'another-secret',
          headers(vector.signature),
          Buffer.from(vector.body),
          at(vectorTime),
        ),
      ).status,
    ).toBe(401);
    const now = Math.floor(Date.now() / 1000);
    expect(
      refusal(() =>
        verifySlackSignature(
          vector.signingSecret,
          headers(vector.signature, String(now)),
          Buffer.from(vector.body),
          at(now),
        ),
      ).message,
    ).toBe('X-Slack-Signature does not match the body');
  });

  it('is what the test helper signs, so requests the tests sign are signed as Slack signs them', () => {
    expect(slackSignature(vector.signingSecret, vector.timestamp, vector.body)).toBe(vector.signature);
  });
});

describe('the 5-minute window, both ways', () => {
  const secret = 'window-secret';
  const now = 1_800_000_000;
  const signedAt = (timestamp: number) => {
    const request = signSlackRequest(secret, 'command=%2Fghes&text=help', { timestamp });
    return () => verifySlackSignature(secret, request.headers, Buffer.from(request.body), at(now));
  };

  it.each([
    ['exactly 5 min old', now - 300],
    ['4 min in the future (a sender clock slightly ahead)', now + 240],
    ['exactly 5 min in the future', now + 300],
  ])('accepts a request signed %s', (_label, timestamp) => {
    expect(signedAt(timestamp)()).toBe('command=%2Fghes&text=help');
  });

  it.each([
    ['5 min 1 s old', now - 301],
    ['6 min in the future', now + 360],
    ['a day in the future', now + 86_400],
  ])('refuses a request signed %s', (_label, timestamp) => {
    expect(refusal(signedAt(timestamp)).status).toBe(401);
  });
});

describe('headers that cannot be checked', () => {
  const secret = 'header-secret';
  const now = 1_800_000_000;
  const good = signSlackRequest(secret, 'text=status', { timestamp: now });
  const check = (h: Record<string, string | undefined>) => () =>
    verifySlackSignature(secret, h, Buffer.from(good.body), at(now));

  it.each([
    [{ 'x-slack-request-timestamp': String(now) }, 'missing X-Slack-Signature header'],
    [{ 'x-slack-signature': good.headers['x-slack-signature'] }, 'missing X-Slack-Request-Timestamp header'],
    [
      { ...good.headers, 'x-slack-request-timestamp': `${now}.5` },
      'X-Slack-Request-Timestamp must be whole seconds since the epoch',
    ],
    [
      {
        ...good.headers,
        'x-slack-signature': good.headers['x-slack-signature']!.toUpperCase().replace('V0=', 'v0='),
      },
      'X-Slack-Signature must be "v0=" followed by 64 lowercase hex digits',
    ],
    [
      { ...good.headers, 'x-slack-signature': good.headers['x-slack-signature']!.replace('v0=', 'v1=') },
      'X-Slack-Signature must be "v0=" followed by 64 lowercase hex digits',
    ],
    [
      { ...good.headers, 'x-slack-signature': good.headers['x-slack-signature']!.slice(0, -2) },
      'X-Slack-Signature must be "v0=" followed by 64 lowercase hex digits',
    ],
  ])('refuses %j with 401 naming the problem', (h, message) => {
    expect(refusal(check(h))).toMatchObject({ status: 401, message });
  });

  it('accepts the same request with its headers intact (the cases above differ only in the header)', () => {
    expect(check(good.headers)()).toBe('text=status');
  });
});
