import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import tls from 'node:tls';

/**
 * One GET to an appliance with a hard deadline, over node:http(s) (no extra dependency in the Lambda
 * bundle). Appliances are reached by address and often carry certificates from an internal CA: `ca`
 * adds a PEM bundle to Node's default roots (passing `ca` alone would replace them), and
 * `serverName` is the name to expect on the certificate when the URL holds an IP address.
 * Certificates are always verified; there is no switch to turn that off.
 */
export interface GetOptions {
  /** Whole request, connect to last byte. */
  readonly timeoutMs: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly ca?: string;
  readonly serverName?: string;
  /** Bodies beyond this are cut off and the request fails: no appliance answer we read is that big. @default 1 MiB */
  readonly maxBodyBytes?: number;
  /** Skip reading the body (a status probe needs only the code). */
  readonly discardBody?: boolean;
}

export interface GetResponse {
  readonly status: number;
  readonly body: string;
}

export type UnreachableReason = 'timeout' | 'refused' | 'dns' | 'tls' | 'reset' | 'network' | 'too-large';

export class UnreachableError extends Error {
  constructor(
    readonly reason: UnreachableReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UnreachableError';
  }
}

const reasonOf = (error: NodeJS.ErrnoException): UnreachableReason => {
  const code = error.code ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  // OpenSSL verification codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, …) and Node's ERR_TLS_*.
  if (/CERT|SSL|TLS|VERIFY|ISSUER|SELF_SIGNED|HOSTNAME/.test(code)) return 'tls';
  return 'network';
};

let defaultCas: readonly string[] | undefined;

export const httpsGet = (url: string, options: GetOptions): Promise<GetResponse> =>
  new Promise<GetResponse>((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    // getCACertificates('default'): Node 22.15+ (bundled roots plus NODE_EXTRA_CA_CERTS).
    defaultCas ??= tls.getCACertificates?.('default') ?? tls.rootCertificates;
    const request = (secure ? httpsRequest : httpRequest)(target, {
      method: 'GET',
      headers: { 'user-agent': 'ghes-control-plane', ...options.headers },
      ...(secure && options.ca ? { ca: [...defaultCas, options.ca] } : {}),
      ...(secure && options.serverName ? { servername: options.serverName } : {}),
      ...(secure && options.serverName
        ? {
            checkServerIdentity: (_host: string, cert: tls.PeerCertificate) =>
              tls.checkServerIdentity(options.serverName!, cert),
          }
        : {}),
      agent: false, // one request per call: no socket kept across Lambda freezes
    });
    const limit = options.maxBodyBytes ?? 1024 * 1024;
    const timer = setTimeout(
      () =>
        request.destroy(
          new UnreachableError('timeout', `no answer from ${target.origin} within ${options.timeoutMs} ms`),
        ),
      options.timeoutMs,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(
        error instanceof UnreachableError
          ? error
          : new UnreachableError(reasonOf(error), `${target.origin}: ${error.message}`, { cause: error }),
      );
    };
    request.on('error', fail);
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      if (options.discardBody) {
        clearTimeout(timer);
        response.resume();
        request.destroy();
        resolve({ status, body: '' });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit)
          request.destroy(new UnreachableError('too-large', `${target.origin}: answer over ${limit} bytes`));
        else chunks.push(chunk);
      });
      response.on('error', fail);
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.end();
  });
