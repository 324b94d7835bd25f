import { createAppAuth } from '@octokit/auth-app';
import { request as octokitRequest } from '@octokit/request';
import type { EndpointOptions, OctokitResponse, RequestInterface } from '@octokit/types';
import { createHttpFetch } from './http-fetch.ts';

/**
 * One GitHub App's way in: a request function for `apiUrl` (trusting an internal CA when given), the
 * App JWT, and installation tokens (auth-app caches them until shortly before they expire). Shared by
 * the dispatcher's client and the reconciler's recovery client, so both see the same rules.
 */
export interface AppSessionOptions {
  /** `https://<ghes>/api/v3` */
  readonly apiUrl: string;
  readonly appId: number;
  readonly privateKey: string;
  /** PEM of an internal CA that signed the GHES certificate. */
  readonly caBundle?: string;
  /**
   * Wraps every call, token requests included (octokit's `request.hook`): the reconciler's per-run
   * budget and rate-limit handling (shared/github/call-budget.ts).
   */
  readonly requestHook?: RequestHook;
}

export type RequestHook = (
  request: (options: EndpointOptions) => Promise<OctokitResponse<unknown>>,
  options: EndpointOptions,
) => Promise<OctokitResponse<unknown>>;

export interface AppSession {
  readonly request: RequestInterface;
  /** Requests signed with the App JWT (`/app/...` routes). */
  appRequest(): Promise<RequestInterface>;
  /** Requests with the installation token of the owner (org or user) of `repository`. */
  installationRequest(
    owner: string,
    repository: string,
    installationId: number | null,
  ): Promise<RequestInterface>;
}

/**
 * `ca` alone replaces the default CAs (bundled and NODE_EXTRA_CA_CERTS): keep them and add the
 * bundle. node:tls is taken here, not imported: only a GHES with its own CA needs it at start.
 */
const withDefaultCas = (caBundle: string): string[] => {
  const tls = process.getBuiltinModule('node:tls');
  return [...(tls.getCACertificates?.('default') ?? tls.rootCertificates), caBundle]; // getCACertificates: Node 22.15+
};

export const createAppSession = (options: AppSessionOptions): AppSession => {
  const ca = options.caBundle ? withDefaultCas(options.caBundle) : undefined;
  const request = octokitRequest.defaults({
    baseUrl: options.apiUrl.replace(/\/$/, ''),
    headers: { 'user-agent': 'ghes-control-plane' },
    request: {
      ...(options.requestHook ? { hook: options.requestHook } : {}),
      fetch: createHttpFetch(ca ? { ca } : {}),
    },
  });
  const auth = createAppAuth({ appId: options.appId, privateKey: options.privateKey, request });
  const installations = new Map<string, number>();

  const appRequest = async () => {
    const { token } = await auth({ type: 'app' });
    return request.defaults({ headers: { authorization: `bearer ${token}` } });
  };

  /** Org/repo hooks carry no installation: find it by owner once per container. */
  const installationFor = async (owner: string, repository: string, fromPayload: number | null) => {
    if (fromPayload) return fromPayload;
    const cached = installations.get(owner);
    if (cached) return cached;
    const api = await appRequest();
    let id: number;
    try {
      id = (await api('GET /orgs/{org}/installation', { org: owner })).data.id;
    } catch (error) {
      if ((error as { status?: number }).status !== 404) throw error;
      const [repoOwner, repo] = repository.split('/');
      id = (await api('GET /repos/{owner}/{repo}/installation', { owner: repoOwner!, repo: repo! })).data.id;
    }
    installations.set(owner, id);
    return id;
  };

  return {
    request,
    appRequest,
    async installationRequest(owner, repository, installationId) {
      const id = await installationFor(owner, repository, installationId);
      const { token } = await auth({ type: 'installation', installationId: id });
      return request.defaults({ headers: { authorization: `token ${token}` } });
    },
  };
};
