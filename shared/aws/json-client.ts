import { randomUUID } from 'node:crypto';
import { AwsClient } from 'aws4fetch';

/**
 * A small client for AWS's JSON protocols (DynamoDB, EventBridge, Secrets Manager).
 *
 * Why not SDK v3 here: on the webhook path the SDK's DynamoDB + EventBridge clients cost +93 ms of
 * cold start and 613 KB bundled (measured 2026-11-23, see README "Bundles"); aws4fetch signs SigV4 in
 * 34 KB. The wire format is the same JSON the SDK sends, so inputs and outputs keep the SDK's shapes.
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

const isRetryable = (error: unknown): boolean =>
  error instanceof AwsServiceError
    ? throttlingCodes.has(error.name) || error.httpStatus >= 500
    : error instanceof TypeError; // fetch's network failure

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

export const createJsonClient = (spec: JsonServiceSpec, connection: AwsConnection): JsonCall => {
  const signer = new AwsClient({
    ...connection.credentials,
    service: spec.signingName,
    region: connection.region,
    retries: 0, // we retry ourselves: aws4fetch would not retry a 400 throttling answer
  });
  const url = connection.endpoint ?? `https://${spec.signingName}.${connection.region}.amazonaws.com/`;
  const contentType = `application/x-amz-json-${spec.jsonVersion}`;

  const once = async <T>(operation: string, body: string): Promise<T> => {
    const response = await signer.fetch(url, {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-amz-target': `${spec.targetPrefix}.${operation}` },
      body,
    });
    const text = await response.text();
    const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (response.ok) return parsed as T;
    // `__type` is `com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException` or the bare code.
    const code = String(parsed.__type ?? response.headers.get('x-amzn-errortype') ?? 'UnknownError')
      .split('#')
      .pop()!
      .split(':')[0]!;
    const message = String(
      parsed.message ?? parsed.Message ?? `${operation} failed with HTTP ${response.status}`,
    );
    throw new AwsServiceError(code, message, response.status, parsed);
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
