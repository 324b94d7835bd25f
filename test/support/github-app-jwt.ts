import { sign } from 'node:crypto';

/**
 * An App JWT as @octokit/auth-app makes one (RS256, iat 30 s back for clock drift, 9 minutes
 * valid), signed with the twin App's private key: for tests that call `/app/...` routes themselves.
 */
export const appJwt = (app: { privateKeyPem: string; appId: number }, nowSeconds = Date.now() / 1000) => {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const iat = Math.floor(nowSeconds) - 30;
  const unsigned = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iat, exp: iat + 570, iss: app.appId })}`;
  return `Bearer ${unsigned}.${sign('sha256', Buffer.from(unsigned), app.privateKeyPem).toString('base64url')}`;
};
