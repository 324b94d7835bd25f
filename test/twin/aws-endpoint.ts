import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FaultInjector } from './faults.ts';

/**
 * One loopback HTTP endpoint that answers AWS's own wire protocols, so the product's real clients
 * (SDK v3 and the light JSON client) talk to the twin exactly as they talk to AWS. The service is
 * read from the SigV4 credential scope, the operation from `X-Amz-Target` (JSON protocols), the
 * `Action` form field (EC2's query protocol) or the method and path (REST-XML: Route53, S3).
 */
export class TwinAwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus = 400,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = code;
  }
}

export interface TwinAwsRequest {
  readonly operation: string;
  /** REST-XML: the method, path and query the operation was routed from (JSON/query: POST /). */
  readonly method?: string;
  readonly path?: string;
  /** Parsed JSON for JSON protocols; the flat form fields for EC2's query protocol. */
  readonly input: Record<string, unknown>;
  readonly rawBody: string;
  readonly headers: IncomingMessage['headers'];
  /** The access key id that signed the request (the twin does not check signatures). */
  readonly caller: string;
}

export interface TwinAwsService {
  /** The SDK's lowercase service id, used in fault targets: `ec2`, `dynamodb`, `eventbridge`, … */
  readonly id: string;
  /** The SigV4 signing name in the credential scope: `ec2`, `dynamodb`, `events`, `states`, … */
  readonly signingName: string;
  /**
   * `query`: the AWS query protocol of STS and others (form in, XML out, `<ErrorResponse>` errors).
   * `rest-xml`: the operation is the method and path (`route`); errors as `errorXml` shapes them.
   */
  readonly protocol: 'json' | 'ec2-query' | 'query' | 'rest-xml';
  /** Operation → error codes it can answer with (and their HTTP status), for fault validation. */
  readonly operations: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** REST-XML: the operation a request is, and its input (path labels, query, body), if any. */
  route?(
    method: string,
    path: string,
    query: URLSearchParams,
    body: string,
  ): { operation: string; input: Record<string, unknown> } | undefined;
  /** REST-XML: the service's error body (Route53 wraps it in `<ErrorResponse>`, S3 does not). */
  errorXml?(code: string, message: string, status: number, extra: Record<string, unknown>): string;
  /** JSON protocols return the output object; EC2 and REST-XML return the XML body or a whole answer. */
  handle(request: TwinAwsRequest): Promise<Record<string, unknown> | string | TwinHttpAnswer>;
}

/** A REST answer with its own status and headers (S3 GetObject: the object's bytes, ETag, …). */
export interface TwinHttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
}

const isHttpAnswer = (output: unknown): output is TwinHttpAnswer =>
  typeof output === 'object' && output !== null && 'status' in output && 'body' in output;

export interface AwsCallRecord {
  readonly target: string;
  /** The access key id that signed the call: each Lambda has its own, as each has its own role. */
  readonly caller: string;
  readonly at: number;
  readonly error?: string;
  /**
   * DynamoDB: the table each item of the call is in (one per item of a transaction), so the
   * bench can count request units as AWS bills them.
   */
  readonly tables?: readonly string[];
}

/** The tables a DynamoDB call touches, one entry per item written or read by name. */
const tablesOf = (input: Record<string, unknown>): string[] | undefined => {
  if (typeof input.TableName === 'string') return [input.TableName];
  if (!Array.isArray(input.TransactItems)) return undefined;
  return (input.TransactItems as Record<string, { TableName?: string }>[]).flatMap((item) =>
    Object.values(item).flatMap((op) => (typeof op?.TableName === 'string' ? [op.TableName] : [])),
  );
};

export interface TwinAwsEndpoint {
  readonly url: string;
  readonly calls: readonly AwsCallRecord[];
  /** Counts by `service:Operation`, for the state and the benchmarks. */
  count(target: string): number;
  close(): Promise<void>;
}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

const ec2ErrorXml = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${escapeXml(
    message,
  )}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;

/** The AWS query protocol's error shape (STS, IAM, SQS query), which differs from EC2's. */
export const queryErrorXml = (code: string, message: string, status: number) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${code}</Code><Message>${escapeXml(
    message,
  )}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;

export const escapeXml = (text: string): string =>
  text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

export const startTwinAwsEndpoint = async (
  services: readonly TwinAwsService[],
  faults: FaultInjector,
): Promise<TwinAwsEndpoint> => {
  const bySigningName = new Map(services.map((service) => [service.signingName, service]));
  const calls: AwsCallRecord[] = [];
  const counts = new Map<string, number>();

  const server: Server = createServer(async (req, res) => {
    const rawBody = await readBody(req);
    const scope = /Credential=([^/]+)\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(
      req.headers.authorization ?? '',
    );
    const service = scope ? bySigningName.get(scope[2]!) : undefined;
    const caller = scope?.[1] ?? '';
    if (!service) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          __type: 'UnrecognizedClientException',
          message: 'the twin does not serve this service',
        }),
      );
      return;
    }
    let operation: string;
    let input: Record<string, unknown>;
    const url = new URL(req.url ?? '/', 'http://twin');
    if (service.protocol === 'rest-xml') {
      const routed = service.route?.(req.method ?? 'GET', url.pathname, url.searchParams, rawBody);
      operation = routed?.operation ?? `${req.method} ${url.pathname}`;
      input = routed?.input ?? {};
    } else if (service.protocol === 'json') {
      operation =
        String(req.headers['x-amz-target'] ?? '')
          .split('.')
          .pop() ?? '';
      input = rawBody ? (JSON.parse(rawBody) as Record<string, unknown>) : {};
    } else {
      input = Object.fromEntries(new URLSearchParams(rawBody));
      operation = String(input.Action ?? '');
    }
    const target = `${service.id}:${operation}`;
    counts.set(target, (counts.get(target) ?? 0) + 1);
    const tables = service.id === 'dynamodb' ? tablesOf(input) : undefined;

    const answerError = (
      code: string,
      message: string,
      status: number,
      extra: Record<string, unknown> = {},
    ) => {
      calls.push({ target, caller, at: Date.now(), error: code, ...(tables ? { tables } : {}) });
      if (service.protocol === 'json') {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code });
        res.end(JSON.stringify({ __type: code, message, ...extra }));
      } else if (service.protocol === 'rest-xml') {
        res.writeHead(status, { 'content-type': 'text/xml' });
        res.end(
          req.method === 'HEAD'
            ? undefined
            : (service.errorXml?.(code, message, status, extra) ?? queryErrorXml(code, message, status)),
        );
      } else {
        res.writeHead(status, { 'content-type': 'text/xml' });
        res.end(
          service.protocol === 'query' ? queryErrorXml(code, message, status) : ec2ErrorXml(code, message),
        );
      }
    };

    if (!(operation in service.operations)) {
      answerError('UnknownOperationException', `the twin does not implement ${target}`, 400);
      return;
    }
    const injected = faults.take(target);
    if (injected && !injected.afterEffect) {
      answerError(injected.code, injected.message, injected.httpStatus);
      return;
    }
    try {
      const output = await service.handle({
        operation,
        input,
        rawBody,
        headers: req.headers,
        caller,
        method: req.method ?? 'POST',
        path: url.pathname,
      });
      if (injected) {
        answerError(injected.code, injected.message, injected.httpStatus); // done, but the answer is lost
        return;
      }
      calls.push({ target, caller, at: Date.now(), ...(tables ? { tables } : {}) });
      if (isHttpAnswer(output)) {
        res.writeHead(output.status, output.headers);
        res.end(req.method === 'HEAD' ? undefined : output.body);
      } else if (typeof output === 'string') {
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(output);
      } else {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(output));
      }
    } catch (error) {
      if (error instanceof TwinAwsError)
        answerError(error.code, error.message, error.httpStatus, error.extra);
      else answerError('InternalFailure', `twin failure: ${(error as Error).message}`, 500);
    }
  });
  // Many SDK clients keep connections alive; do not let a slow close hold the sandbox open.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    count: (target) => counts.get(target) ?? 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

/** Fault catalogue for the injector, derived from the services the endpoint serves. */
export const faultTargetsOf = (services: readonly TwinAwsService[]) =>
  new Map(
    services.flatMap((service) =>
      Object.entries(service.operations).map(
        ([operation, errors]) => [`${service.id}:${operation}`, errors] as const,
      ),
    ),
  );
