import type { JsonCall } from '../aws/json-client.ts';
import { ConfigError } from '../http/errors.ts';
import { httpsGet, UnreachableError, type UnreachableReason } from './https-get.ts';

/**
 * The Manage GHES API (port 8443 with TLS): `GET /manage/v1/replication/status` and
 * `GET /manage/v1/maintenance`, read instead of running commands over SSM when an appliance's config
 * gives `manageApi`. It authenticates with HTTP basic auth, user `api_key`, password the Management
 * Console's root site administrator password (GHES docs, "REST API endpoints for managing GitHub
 * Enterprise Server"), kept in Secrets Manager as a plain string.
 */
export type ManageApiPath = '/manage/v1/replication/status' | '/manage/v1/maintenance';

export type ManageApiFailure = UnreachableReason | 'unauthorized' | 'http' | 'invalid-json';

export class ManageApiError extends Error {
  constructor(
    readonly reason: ManageApiFailure,
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ManageApiError';
  }
}

export interface ManageApiEndpoint {
  /** `https://10.0.1.10:8443`, from ApplianceConfig.manageApi.url. */
  readonly url: string;
  readonly passwordSecretArn: string;
}

export interface ManageApi {
  /** The parsed JSON body of a 200; ManageApiError otherwise. */
  get(endpoint: ManageApiEndpoint, path: ManageApiPath): Promise<unknown>;
}

export interface ManageApiOptions {
  /** Returns the Management Console password for a secret ARN (see createManagePasswords). */
  readonly password: (secretArn: string) => Promise<string>;
  /** @default 5000 — these endpoints answer in well under a second; a step should not hang on one. */
  readonly timeoutMs?: number;
  /** PEM bundle of the internal CA that signed the appliances' certificates. */
  readonly ca?: string;
  /** Name on the certificate when the URL holds an IP address. */
  readonly serverName?: string;
}

export const createManageApi = (options: ManageApiOptions): ManageApi => ({
  async get(endpoint, path) {
    const password = await options.password(endpoint.passwordSecretArn);
    const url = `${endpoint.url.replace(/\/+$/, '')}${path}`;
    let response;
    try {
      response = await httpsGet(url, {
        timeoutMs: options.timeoutMs ?? 5_000,
        headers: {
          accept: 'application/json',
          authorization: `Basic ${Buffer.from(`api_key:${password}`).toString('base64')}`,
        },
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.serverName ? { serverName: options.serverName } : {}),
      });
    } catch (error) {
      if (error instanceof UnreachableError)
        throw new ManageApiError(error.reason, `Manage API ${path}: ${error.message}`, undefined, {
          cause: error,
        });
      throw error;
    }
    if (response.status === 401 || response.status === 403)
      throw new ManageApiError(
        'unauthorized',
        `Manage API ${path} refused the password in ${endpoint.passwordSecretArn} (${response.status})`,
        response.status,
      );
    if (response.status !== 200)
      throw new ManageApiError('http', `Manage API ${path} answered ${response.status}`, response.status);
    try {
      return JSON.parse(response.body) as unknown;
    } catch (error) {
      throw new ManageApiError('invalid-json', `Manage API ${path} answered 200 without JSON`, 200, {
        cause: error,
      });
    }
  },
});

/**
 * Management Console passwords from Secrets Manager, cached per secret for `cacheMs` so a rotation
 * takes effect without a redeploy and a polling loop does not read the secret every few seconds.
 */
export const createManagePasswords = (
  secretsManager: JsonCall,
  options: { cacheMs?: number; now?: () => number } = {},
): ((secretArn: string) => Promise<string>) => {
  const cacheMs = options.cacheMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { value: Promise<string>; fetchedAt: number }>();
  return (secretArn) => {
    const hit = cache.get(secretArn);
    if (hit && now() - hit.fetchedAt < cacheMs) return hit.value;
    const value = secretsManager<{ SecretString?: string }>('GetSecretValue', { SecretId: secretArn }).then(
      (out) => {
        // A blank password would send `api_key:` and be refused on every call: say why once, clearly.
        if (!out.SecretString?.trim()) throw new ConfigError(`Manage API password ${secretArn}: is blank`);
        return out.SecretString;
      },
    );
    cache.set(secretArn, { value, fetchedAt: now() });
    // A failed read is not cached: the next call asks again.
    value.catch(() => {
      if (cache.get(secretArn)?.value === value) cache.delete(secretArn);
    });
    return value;
  };
};
