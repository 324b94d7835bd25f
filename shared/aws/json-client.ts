import { randomUUID } from 'node:crypto';
import { send, TransportError } from './http-transport.ts';
import { signRequest } from './sigv4.ts';

/**
 * A small client for AWS's JSON protocols (DynamoDB, EventBridge, Secrets Manager).
 *
 * Why not SDK v3 here: on the webhook path the SDK's DynamoDB + EventBridge clients cost +93 ms of
 * cold start and 613 KB bundled (measured 2026-11-23, see README "Bundles"). The wire format is the
 * same JSON the SDK sends, so inputs and outputs keep the SDK's shapes.
 *
 * Why our own SigV4 (shared/aws/sigv4.ts) over our own keep-alive HTTP/1.1 transport
 * (shared/aws/http-transport.ts) rather than `fetch` or `node:http`: signing synchronously with
 * `node:crypto` costs a fraction of WebCrypto's, and one socket write per call about half the CPU of
 * `node:http`'s ClientRequest/IncomingMessage machinery, and a fifth of undici's `fetch` (measured in
 * `npm run bench`, "bare signed call", and test/bench/http-transport-cpu.ts).
 */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface AwsConnection {
  readonly region: string;
  /** A loopback twin in the sandbox and tests; unset on AWS. */
  readonly endpoint?: string;
  readonly credentials: AwsCredentials;
}

export interface JsonServiceSpec {
  /** Signing name, also the host prefix: `dynamodb`, `events`, `secretsmanager`. */
  readonly signingName: string;
  /** X-Amz-Target prefix: `DynamoDB_20120810`, `AWSEvents`, `secretsmanager`. */
  readonly targetPrefix: string;
  readonly jsonVersion: '1.0' | '1.1';
}

export type JsonCall = <T = Record<string, unknown>>(operation: string, input: object) => Promise<T>;

/** An error answered by an AWS service; `name` is the AWS error code, as in SDK v3. */
export class AwsServiceError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly httpStatus: number,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const throttlingCodes = new Set([
  'ThrottlingException',
  'Throttling',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottledException',
]);

/** A connection that failed or timed out before AWS answered; worth another try. */
export class AwsNetworkError extends Error {
  override readonly name = 'AwsNetworkError';
}

/**
 * A transaction cancelled by a conflict (another transaction on the same item) is not retried here:
 * in a burst every dispatcher writes the same pool counters, and blind retries inside each call kept
 * batches past their Lambda timeout (a 1,000-job burst went from 44 s to over 4 minutes). The caller
 * decides: the dispatcher's record goes back to the queue, the intake answers 500 for a redelivery.
 */
const isRetryable = (error: unknown): boolean =>
  error instanceof AwsServiceError
    ? throttlingCodes.has(error.name) || error.httpStatus >= 500
    : error instanceof AwsNetworkError;

/**
 * A DynamoDB write refused by its condition: `ConditionalCheckFailedException` for one item, or a
 * transaction cancelled because one of its conditions failed. (`TransactionConflict` alone is a
 * race with another transaction, retryable, not a condition failure.)
 */
export const isConditionFailure = (error: unknown): boolean =>
  error instanceof AwsServiceError &&
  (error.name === 'ConditionalCheckFailedException' ||
    (error.name === 'TransactionCanceledException' &&
      ((error.body.CancellationReasons ?? []) as { Code?: string }[]).some(
        (reason) => reason.Code === 'ConditionalCheckFailed',
      )));

const MAX_ATTEMPTS = 3;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Lambda's webhook timeout is 10 s: a call that hangs longer than this is given up and retried. */
const CALL_TIMEOUT_MS = 3_000;

export interface JsonClientOptions {
  /** Per try, from sending to the last byte of the answer. @default 3000 */
  readonly timeoutMs?: number;
}

export const createJsonClient = (
  spec: JsonServiceSpec,
  connection: AwsConnection,
  options: JsonClientOptions = {},
): JsonCall => {
  const timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
  const url = new URL(
    connection.endpoint ?? `https://${spec.signingName}.${connection.region}.amazonaws.com/`,
  );
  const contentType = `application/x-amz-json-${spec.jsonVersion}`;
  const host = url.host;
  const scope = { region: connection.region, service: spec.signingName };

  const once = async <T>(operation: string, body: string): Promise<T> => {
    const headers = signRequest(
      {
        method: 'POST',
        path: url.pathname,
        headers: {
          host,
          'content-type': contentType,
          'content-length': String(Buffer.byteLength(body)),
          'x-amz-target': `${spec.targetPrefix}.${operation}`,
        },
        body,
      },
      connection.credentials,
      scope,
    );
    let answer;
    try {
      answer = await send(url, headers, body, timeoutMs);
    } catch (error) {
      if (error instanceof TransportError) throw new AwsNetworkError(error.message, { cause: error });
      throw error;
    }
    const ok = answer.status >= 200 && answer.status < 300;
    let parsed: Record<string, unknown> = {};
    try {
      if (answer.text) parsed = JSON.parse(answer.text) as Record<string, unknown>;
    } catch {
      // A proxy's or load balancer's HTML error page: the status says what happened.
      if (ok) throw new AwsServiceError('InvalidResponse', `${operation}: answer is not JSON`, answer.status);
    }
    if (ok) return parsed as T;
    // `__type` is `com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException` or the bare code.
    const code = String(parsed.__type ?? answer.headers['x-amzn-errortype'] ?? 'UnknownError')
      .split('#')
      .pop()!
      .split(':')[0]!;
    const message = String(
      parsed.message ?? parsed.Message ?? `${operation} failed with HTTP ${answer.status}`,
    );
    throw new AwsServiceError(code, message, answer.status, parsed);
  };

  return async <T>(operation: string, input: object): Promise<T> => {
    // A transaction that committed but whose answer was lost would fail its own conditions when
    // retried; with a token DynamoDB answers the retry as the success it was (as SDK v3 does).
    const body = JSON.stringify(
      operation === 'TransactWriteItems' && !('ClientRequestToken' in input)
        ? { ...input, ClientRequestToken: randomUUID() }
        : input,
    );
    for (let attempt = 1; ; attempt++) {
      try {
        return await once<T>(operation, body);
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !isRetryable(error)) throw error;
        // Full jitter, 25 ms base: three tries stay well inside API Gateway's 30 s and GitHub's 10 s.
        await sleep(Math.random() * 25 * 2 ** attempt);
      }
    }
  };
};

export const dynamoDbSpec: JsonServiceSpec = {
  signingName: 'dynamodb',
  targetPrefix: 'DynamoDB_20120810',
  jsonVersion: '1.0',
};
export const eventBridgeSpec: JsonServiceSpec = {
  signingName: 'events',
  targetPrefix: 'AWSEvents',
  jsonVersion: '1.1',
};
export const secretsManagerSpec: JsonServiceSpec = {
  signingName: 'secretsmanager',
  targetPrefix: 'secretsmanager',
  jsonVersion: '1.1',
};
