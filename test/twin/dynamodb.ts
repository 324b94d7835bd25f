import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { TwinAwsError, type TwinAwsRequest, type TwinAwsService } from './aws-endpoint.ts';
import type { TwinClock } from './clock.ts';
import { createTtlReaper } from './dynamodb-ttl.ts';

/**
 * DynamoDB through dynalite (a real engine, in memory). dynalite lacks transactions, so the twin
 * supplies TransactWriteItems: under an exclusive lock it applies each write with its own condition
 * and, when one fails, restores the items already written, answering
 * `TransactionCanceledException` with per-item `CancellationReasons` as DynamoDB does.
 * Every other operation waits while a transaction runs, so none sees a half-applied one.
 * dynalite has no TTL either: dynamodb-ttl.ts deletes expired items at the twin's timeScale.
 */
const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

export interface TableResource {
  Type: string;
  Properties: {
    AttributeDefinitions: unknown[];
    KeySchema: { AttributeName: string; KeyType: string }[];
    GlobalSecondaryIndexes?: unknown[];
    TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
  };
}

export const tableDefinitions = (): Record<string, TableResource> =>
  JSON.parse(readFileSync(new URL('../../infra/dynamodb-tables.json', import.meta.url), 'utf8'));

/** A lock where plain operations share and transactions are alone. */
class SharedExclusiveLock {
  #readers = 0;
  #writer = false;
  #waiting: (() => void)[] = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#writer) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#readers++;
    try {
      return await fn();
    } finally {
      this.#readers--;
      this.#wake();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#writer || this.#readers > 0)
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#writer = true;
    try {
      return await fn();
    } finally {
      this.#writer = false;
      this.#wake();
    }
  }

  #wake() {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }
}

const commonErrors = {
  ProvisionedThroughputExceededException: 400,
  RequestLimitExceeded: 400,
  ResourceNotFoundException: 400,
  ValidationException: 400,
};
const writeErrors = { ...commonErrors, ConditionalCheckFailedException: 400 };

export interface DynamoTwin extends TwinAwsService {
  /** Every item of a table, for `GET /sandbox/state` (the sandbox reads what the handlers wrote). */
  scan(tableName: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export interface DynamoTwinOptions {
  /**
   * The simulated time TTL runs in (`clock.timeScale`, `clock.now()`). Without one the twin has no
   * TTL, as dynalite: unit tests that write fixed dates long past keep their rows.
   */
  readonly clock?: Pick<TwinClock, 'timeScale' | 'now'>;
  /** Real ms between two TTL sweeps: how late, at most, an expired item goes (default 200). */
  readonly ttlSweepMs?: number;
  /** Table definitions by logical id (default: `infra/dynamodb-tables.json`, what serverless.yml deploys). */
  readonly tables?: Record<string, TableResource>;
}

export const startDynamoTwin = async (options: DynamoTwinOptions = {}): Promise<DynamoTwin> => {
  const tables = options.tables ?? tableDefinitions();
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const lock = new SharedExclusiveLock();
  const committedTokens = new Map<string, { fingerprint: string; at: number }>();

  const call = async (
    operation: string,
    input: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${operation}`,
        // dynalite checks that a signature is present, not that it is right.
        authorization:
          'AWS4-HMAC-SHA256 Credential=twin/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        'x-amz-date': '20260101T000000Z',
      },
      body: JSON.stringify(input),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : {} };
  };
  const callOrThrow = async (operation: string, input: unknown) => {
    const { status, body } = await call(operation, input);
    if (status >= 300) {
      const code = String(body.__type ?? 'InternalFailure')
        .split('#')
        .pop()!;
      throw new TwinAwsError(code, String(body.message ?? body.Message ?? code), status);
    }
    return body;
  };

  for (const [logicalId, resource] of Object.entries(tables)) {
    const { AttributeDefinitions, KeySchema, GlobalSecondaryIndexes } = resource.Properties;
    await callOrThrow('CreateTable', {
      TableName: logicalId,
      AttributeDefinitions,
      KeySchema,
      BillingMode: 'PAY_PER_REQUEST',
      ...(GlobalSecondaryIndexes ? { GlobalSecondaryIndexes } : {}),
    });
  }

  const keyOf = (tableName: string, item: Record<string, unknown>) => {
    const resource = tables[tableName];
    if (!resource)
      throw new TwinAwsError('ResourceNotFoundException', `Requested resource not found: ${tableName}`);
    return Object.fromEntries(
      resource.Properties.KeySchema.map(({ AttributeName }) => [AttributeName, item[AttributeName]]),
    );
  };

  type TransactItem = Record<
    'Put' | 'Update' | 'Delete' | 'ConditionCheck',
    Record<string, unknown> | undefined
  >;

  const transactWrite = async (input: Record<string, unknown>) => {
    const items = (input.TransactItems ?? []) as TransactItem[];
    // DynamoDB's idempotency: the same token with the same items within 10 minutes succeeds again
    // without writing; with other items it is refused.
    const token = typeof input.ClientRequestToken === 'string' ? input.ClientRequestToken : undefined;
    const fingerprint = JSON.stringify(items);
    const earlier = token ? committedTokens.get(token) : undefined;
    if (earlier && Date.now() - earlier.at < 10 * 60_000) {
      if (earlier.fingerprint !== fingerprint)
        throw new TwinAwsError(
          'IdempotentParameterMismatchException',
          'the ClientRequestToken was used with a different transaction',
        );
      return {};
    }
    if (items.length === 0 || items.length > 100) {
      throw new TwinAwsError('ValidationException', 'TransactItems must hold 1 to 100 items');
    }
    const steps = items.map((item) => {
      const [kind, request] = Object.entries(item).find(([, value]) => value !== undefined) ?? [];
      if (!kind || !request)
        throw new TwinAwsError('ValidationException', 'each TransactItem needs one operation');
      if (kind === 'ConditionCheck') {
        throw new TwinAwsError(
          'ValidationException',
          'the twin does not implement ConditionCheck in transactions',
        );
      }
      const tableName = String(request.TableName);
      const key =
        kind === 'Put' ? keyOf(tableName, request.Item as Record<string, unknown>) : (request.Key as object);
      return { kind, request, tableName, key };
    });
    const identities = steps.map((s) => `${s.tableName}|${JSON.stringify(s.key)}`);
    if (new Set(identities).size !== identities.length) {
      throw new TwinAwsError(
        'ValidationException',
        'Transaction request cannot include multiple operations on one item',
      );
    }
    const committed = (result: Record<string, unknown>) => {
      if (token) committedTokens.set(token, { fingerprint, at: Date.now() });
      return result;
    };
    return lock.exclusive(async () => {
      const applied: { tableName: string; key: object; before: unknown }[] = [];
      for (const [index, step] of steps.entries()) {
        const before = (
          await callOrThrow('GetItem', { TableName: step.tableName, Key: step.key, ConsistentRead: true })
        ).Item;
        const operation = `${step.kind}Item`;
        const { status, body } = await call(operation, step.request);
        if (status < 300) {
          applied.push({ tableName: step.tableName, key: step.key, before });
          continue;
        }
        // Undo what this transaction already wrote, newest first.
        for (const done of applied.reverse()) {
          if (done.before) await callOrThrow('PutItem', { TableName: done.tableName, Item: done.before });
          else await callOrThrow('DeleteItem', { TableName: done.tableName, Key: done.key });
        }
        const code = String(body.__type ?? '')
          .split('#')
          .pop();
        if (code !== 'ConditionalCheckFailedException') {
          throw new TwinAwsError(
            code ?? 'InternalFailure',
            String(body.message ?? 'transaction item failed'),
            status,
          );
        }
        const reasons = steps.map((_, i) =>
          i === index
            ? { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' }
            : { Code: 'None' },
        );
        throw new TwinAwsError(
          'TransactionCanceledException',
          `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
          400,
          { CancellationReasons: reasons },
        );
      }
      return committed({});
    });
  };

  const passthrough = async ({ operation, input }: TwinAwsRequest) =>
    lock.shared(async () => {
      const { status, body } = await call(operation, input);
      if (status >= 300) {
        const code = String(body.__type ?? 'InternalFailure')
          .split('#')
          .pop()!;
        throw new TwinAwsError(code, String(body.message ?? body.Message ?? code), status);
      }
      return body;
    });

  const { clock } = options;
  const ttl =
    clock &&
    createTtlReaper({
      attributes: new Map(
        Object.entries(tables).flatMap(([name, { Properties }]) =>
          Properties.TimeToLiveSpecification?.Enabled
            ? [[name, Properties.TimeToLiveSpecification.AttributeName]]
            : [],
        ),
      ),
      timeScale: clock.timeScale,
      now: () => clock.now().getTime(),
      sweepMs: options.ttlSweepMs ?? 200,
      keyOf,
      read: async (TableName, Key) =>
        (await lock.shared(() => callOrThrow('GetItem', { TableName, Key, ConsistentRead: true }))).Item as
          Record<string, unknown> | undefined,
      remove: async (TableName, Key, attribute, expiresAt) => {
        const { status, body } = await lock.shared(() =>
          call('DeleteItem', {
            TableName,
            Key,
            ConditionExpression: '#ttl = :expiresAt',
            ExpressionAttributeNames: { '#ttl': attribute },
            ExpressionAttributeValues: { ':expiresAt': { N: expiresAt } },
          }),
        );
        // A condition failure means the item was rewritten with another expiry (or deleted): it stays.
        if (status >= 300 && !String(body.__type).endsWith('ConditionalCheckFailedException')) {
          throw new TwinAwsError(String(body.__type), String(body.message), status);
        }
      },
    });
  const writes = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

  return {
    id: 'dynamodb',
    signingName: 'dynamodb',
    protocol: 'json',
    operations: {
      GetItem: commonErrors,
      PutItem: writeErrors,
      UpdateItem: writeErrors,
      DeleteItem: writeErrors,
      Query: commonErrors,
      Scan: commonErrors,
      BatchGetItem: commonErrors,
      BatchWriteItem: commonErrors,
      DescribeTable: commonErrors,
      TransactWriteItems: {
        ...commonErrors,
        TransactionCanceledException: 400,
        TransactionConflictException: 400,
        IdempotentParameterMismatchException: 400,
      },
    },
    async handle(request) {
      const result = await (request.operation === 'TransactWriteItems'
        ? transactWrite(request.input)
        : passthrough(request));
      // Bookkeeping must never turn a write that happened into an error for the caller.
      if (ttl && writes.has(request.operation))
        await ttl
          .noteWrite(request.operation, request.input)
          .catch((error: unknown) => console.error('twin dynamodb: TTL bookkeeping failed', error));
      return result;
    },
    async scan(tableName) {
      const { fromItem } = await import('../../shared/aws/dynamo-item.ts');
      const rows: Record<string, unknown>[] = [];
      let startKey: unknown;
      do {
        const page = await passthrough({
          operation: 'Scan',
          input: { TableName: tableName, ...(startKey ? { ExclusiveStartKey: startKey } : {}) },
          rawBody: '',
          headers: {},
          caller: '',
        });
        for (const item of (page.Items ?? []) as Parameters<typeof fromItem>[0][]) rows.push(fromItem(item));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      return rows;
    },
    close: () => {
      ttl?.close();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
};
