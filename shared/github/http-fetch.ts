import type { Agent, IncomingMessage } from 'node:http';

/**
 * The `fetch` @octokit/request calls, over `node:http(s)` with a keep-alive agent. Node's own fetch
 * (undici and web streams) cost the dispatcher's first GitHub call ~50–90 ms of CPU to load, and more
 * CPU per call after; npm's undici, needed for a CA bundle with that fetch, was half a megabyte of
 * bundle. Only what octokit reads is provided: status, url, headers, text() and arrayBuffer().
 * Redirects are followed as fetch follows them (GitHub answers 301/307 for a renamed repository).
 * `node:http(s)` are taken on first use (process.getBuiltinModule), not imported: an ES import
 * builds the module's facade at load, which loads Node's fetch all the same.
 */
export interface HttpFetchOptions {
  /** Trusted CAs for https; given, they replace the defaults, so pass the defaults too. */
  readonly ca?: readonly string[];
}

interface FetchInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly redirect?: 'follow' | 'error' | 'manual';
  readonly signal?: AbortSignal;
}

const MAX_REDIRECTS = 20; // fetch's limit

class HttpFetchResponse {
  readonly headers: { get(name: string): string | null; [Symbol.iterator](): Iterator<[string, string]> };
  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly url: string,
    headers: Map<string, string>,
    private readonly bytes: Buffer,
  ) {
    this.headers = {
      get: (name) => headers.get(name.toLowerCase()) ?? null,
      [Symbol.iterator]: () => headers.entries(),
    };
  }
  get ok() {
    return this.status >= 200 && this.status < 300;
  }
  async text() {
    return this.bytes.toString('utf8');
  }
  async json(): Promise<unknown> {
    return JSON.parse(this.bytes.toString('utf8'));
  }
  async arrayBuffer() {
    return this.bytes.buffer.slice(this.bytes.byteOffset, this.bytes.byteOffset + this.bytes.byteLength);
  }
}

/** fetch's rejection: a TypeError whose cause is the network error (octokit reports the cause). */
const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause });

export const createHttpFetch = (options: HttpFetchOptions = {}) => {
  const agents: Partial<Record<'http:' | 'https:', Agent>> = {};
  const agentFor = (protocol: 'http:' | 'https:'): Agent =>
    (agents[protocol] ??=
      protocol === 'https:'
        ? new (process.getBuiltinModule('node:https').Agent)({
            keepAlive: true,
            ...(options.ca ? { ca: [...options.ca] } : {}),
          })
        : new (process.getBuiltinModule('node:http').Agent)({ keepAlive: true }));

  const once = (url: URL, init: FetchInit) =>
    new Promise<{ answer: IncomingMessage; bytes: Buffer }>((resolve, reject) => {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        return reject(fetchFailed(new Error(`not an http(s) URL: ${url.href}`)));
      }
      const { request } = process.getBuiltinModule(url.protocol === 'https:' ? 'node:https' : 'node:http');
      const headers: Record<string, string | number> = { ...init.headers };
      if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
      const outgoing = request(
        url,
        {
          method: init.method ?? 'GET',
          headers,
          agent: agentFor(url.protocol),
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => resolve({ answer, bytes: Buffer.concat(parts) }));
          answer.on('error', (error) => reject(fetchFailed(error)));
        },
      );
      outgoing.on('error', (error) => reject(error.name === 'AbortError' ? error : fetchFailed(error)));
      outgoing.end(init.body);
    });

  return async (input: string, init: FetchInit = {}): Promise<HttpFetchResponse> => {
    let url = new URL(input);
    let request = init;
    for (let redirects = 0; ; redirects++) {
      const { answer, bytes } = await once(url, request);
      const status = answer.statusCode ?? 0;
      const location = answer.headers.location;
      if ([301, 302, 303, 307, 308].includes(status) && location && request.redirect !== 'manual') {
        if (request.redirect === 'error' || redirects === MAX_REDIRECTS) {
          throw fetchFailed(new Error(`redirect from ${url.href} not followed`));
        }
        const next = new URL(location, url);
        // As fetch: 303, and 301/302 after a POST, go on as a GET without body; the credentials
        // go only to the same origin.
        const asGet = status === 303 || ((status === 301 || status === 302) && request.method === 'POST');
        const headers = { ...request.headers };
        for (const name of Object.keys(headers)) {
          const lower = name.toLowerCase();
          if (
            (asGet && (lower === 'content-type' || lower === 'content-length')) ||
            (next.origin !== url.origin && lower === 'authorization')
          )
            delete headers[name];
        }
        request = asGet
          ? { method: 'GET', headers, ...(request.signal ? { signal: request.signal } : {}) }
          : { ...request, headers };
        url = next;
        continue;
      }
      const headers = new Map<string, string>();
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      return new HttpFetchResponse(status, answer.statusMessage ?? '', url.href, headers, bytes);
    }
  };
};
