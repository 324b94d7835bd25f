import { describe, expect, it } from 'vitest';
import { amzDate, signRequest } from '../../../shared/aws/sigv4.ts';

/**
 * AWS's own SigV4 test suite (aws-sig-v4-test-suite): credentials AKIDEXAMPLE, region us-east-1,
 * service `service`, 2015-08-30T12:36:00Z. The light client's calls are checked against an
 * independent signer in json-client.test.ts.
 */
const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const scope = { region: 'us-east-1', service: 'service' };
const at = new Date('2015-08-30T12:36:00Z');
const credential = 'Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request';

describe('SigV4 signer', () => {
  it.each([
    [
      'get-vanilla',
      'GET',
      {},
      '',
      'host;x-amz-date',
      '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    ],
    [
      'post-vanilla',
      'POST',
      {},
      '',
      'host;x-amz-date',
      '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
    ],
    [
      'post-x-www-form-urlencoded',
      'POST',
      { 'content-type': 'application/x-www-form-urlencoded' },
      'Param1=value1',
      'content-type;host;x-amz-date',
      'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
    ],
  ])('signs the suite vector %s', (_name, method, extra, body, signedHeaders, signature) => {
    const headers = signRequest(
      { method, path: '/', headers: { host: 'example.amazonaws.com', ...extra }, body },
      credentials,
      scope,
      at,
    );
    expect(headers.authorization).toBe(
      `AWS4-HMAC-SHA256 ${credential}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    );
    expect(headers['x-amz-date']).toBe('20150830T123600Z');
  });

  it('signs a session token, which changes the signature', () => {
    const request = { method: 'POST', path: '/', headers: { host: 'example.amazonaws.com' }, body: '' };
    const plain = signRequest(request, credentials, scope, at);
    const withToken = signRequest(request, { ...credentials, sessionToken: 'token/+=' }, scope, at);
    expect(withToken['x-amz-security-token']).toBe('token/+=');
    expect(withToken.authorization).toContain('SignedHeaders=host;x-amz-date;x-amz-security-token,');
    expect(withToken.authorization).not.toBe(plain.authorization);
  });

  it('derives a new signing key for another day, region or secret (the cache is keyed by all three)', () => {
    const request = { method: 'POST', path: '/', headers: { host: 'example.amazonaws.com' }, body: '{}' };
    const signatures = new Set(
      [
        signRequest(request, credentials, scope, at),
        signRequest(request, credentials, scope, new Date('2015-08-31T12:36:00Z')),
        signRequest(request, credentials, { ...scope, region: 'eu-west-1' }, at),
        signRequest(request, { ...credentials, secretAccessKey: 'rotated' }, scope, at),
        signRequest(request, credentials, scope, at),
      ].map((headers) => headers.authorization),
    );
    expect(signatures.size).toBe(4);
  });

  it('formats the date as AWS expects', () => {
    expect(amzDate(new Date('2026-11-30T10:15:00.123Z'))).toBe('20261130T101500Z');
  });
});
