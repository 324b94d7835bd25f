import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';

/**
 * One lock per GHES deployment (`name: 'ghes'`): at most one appliance operation at a time. The lock
 * lives in the operations table (`pk = lock#<name>`); its expiry is part of every write's condition
 * (a DynamoDB TTL deletes late and is no lock expiry). The Slack command takes it before it starts an
 * execution, with the execution's name as owner, so a second request is refused at once naming the
 * holder; the state machine re-takes it as the same owner (extending it) and releases it on every path.
 *
 * `createDynamoOperationLocks` below is the implementation.
 */
export interface LockHolder {
  readonly name: string;
  /** The execution name that holds it. */
  readonly owner: string;
  /** `failover`, `failover --dry-run`, later `backup`, `certificate-renewal`, … */
  readonly operation: string;
  /** Slack user ID of who asked. */
  readonly requestedBy: string;
  readonly acquiredAt: string;
  readonly expiresAt: string;
}

export interface AcquireLock {
  readonly name: string;
  readonly owner: string;
  readonly operation: string;
  readonly requestedBy: string;
  readonly ttlSeconds: number;
  readonly now: Date;
}

export type AcquireOutcome =
  { readonly acquired: true } | { readonly acquired: false; readonly holder: LockHolder };

export interface OperationLocks {
  /** Takes the lock when free, expired, or already held by the same owner (then extends it). */
  acquire(request: AcquireLock): Promise<AcquireOutcome>;
  /** Releases it only if `owner` still holds it; false when it did not. */
  release(name: string, owner: string): Promise<boolean>;
  /** The current, unexpired holder, or null. */
  holder(name: string, now: Date): Promise<LockHolder | null>;
}

/** Rows of a released or long-expired lock are cleaned up by the table's TTL a day after expiry. */
const LOCK_ROW_TTL_MARGIN_SECONDS = 24 * 3600;

interface LockRow {
  owner?: { S: string };
  operation?: { S: string };
  requestedBy?: { S: string };
  acquiredAt?: { S: string };
  expiresAt?: { S: string };
  expiresAtMs?: { N: string };
}

/**
 * Operation locks on the operations table (`pk = lock#<name>`). Taking a free or expired lock and
 * extending one's own are two different conditional writes, so a re-take by the same owner keeps the
 * original `acquiredAt` (what a refusal shows as "since"), while a new owner starts its own.
 *
 * @example
 * const locks = createDynamoOperationLocks(dynamo, env.operationsTable);
 * const taken = await locks.acquire({ name: 'ghes', owner: execution, operation: 'failover',
 *   requestedBy: 'U0OPS0001', ttlSeconds: 3600, now: new Date() });
 * if (!taken.acquired) return `held by ${taken.holder.owner} since ${taken.holder.acquiredAt}`;
 */
export const createDynamoOperationLocks = (dynamo: JsonCall, tableName: string): OperationLocks => {
  const key = (name: string) => ({ pk: { S: `lock#${name}` } });
  const ownerIs = {
    ConditionExpression: '#owner = :owner',
    ExpressionAttributeNames: { '#owner': 'owner' },
  };

  /** True when taken or extended; false when someone else holds it. */
  const write = async ({ name, owner, operation, requestedBy, ttlSeconds, now }: AcquireLock) => {
    const expiresAtMs = now.getTime() + ttlSeconds * 1000;
    const expiry = {
      expiresAt: { S: new Date(expiresAtMs).toISOString() },
      expiresAtMs: { N: String(expiresAtMs) },
      expiresAtEpoch: { N: String(Math.ceil(expiresAtMs / 1000) + LOCK_ROW_TTL_MARGIN_SECONDS) },
    };
    try {
      // A new holder: the lock is free, or its holder's expiry has passed.
      await dynamo('PutItem', {
        TableName: tableName,
        Item: {
          ...key(name),
          name: { S: name },
          owner: { S: owner },
          operation: { S: operation },
          requestedBy: { S: requestedBy },
          acquiredAt: { S: now.toISOString() },
          ...expiry,
        },
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAtMs < :now',
        ExpressionAttributeValues: { ':now': { N: String(now.getTime()) } },
      });
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    try {
      // The same owner again (the state machine re-taking what the Slack command took): extend it.
      await dynamo('UpdateItem', {
        TableName: tableName,
        Key: key(name),
        UpdateExpression: 'SET expiresAt = :expiresAt, expiresAtMs = :expiresAtMs, expiresAtEpoch = :ttl',
        ...ownerIs,
        ExpressionAttributeValues: {
          ':owner': { S: owner },
          ':expiresAt': expiry.expiresAt,
          ':expiresAtMs': expiry.expiresAtMs,
          ':ttl': expiry.expiresAtEpoch,
        },
      });
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  };

  const locks: OperationLocks = {
    async acquire(request) {
      if (!(request.ttlSeconds > 0))
        throw new RangeError(`lock ttlSeconds must be positive, got ${request.ttlSeconds}`);
      for (let attempt = 1; ; attempt++) {
        if (await write(request)) return { acquired: true };
        const holder = await locks.holder(request.name, request.now);
        if (holder) return { acquired: false, holder };
        // Released or expired between our write and our read: try again, a few times at most.
        if (attempt >= 3) throw new Error(`lock ${request.name}: contended, try again`);
      }
    },

    async release(name, owner) {
      try {
        await dynamo('DeleteItem', {
          TableName: tableName,
          Key: key(name),
          ...ownerIs,
          ExpressionAttributeValues: { ':owner': { S: owner } },
        });
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false; // someone else's now, or already released
        throw error;
      }
    },

    async holder(name, now) {
      const { Item: row } = await dynamo<{ Item?: LockRow }>('GetItem', {
        TableName: tableName,
        Key: key(name),
        ConsistentRead: true,
      });
      if (!row?.owner?.S || Number(row.expiresAtMs?.N ?? 0) < now.getTime()) return null;
      return {
        name,
        owner: row.owner.S,
        operation: row.operation?.S ?? '',
        requestedBy: row.requestedBy?.S ?? '',
        acquiredAt: row.acquiredAt?.S ?? '',
        expiresAt: row.expiresAt?.S ?? '',
      };
    },
  };
  return locks;
};
