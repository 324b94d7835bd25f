import { fromItem, toItem } from '../aws/dynamo-item.ts';
import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';

/**
 * The reconciler's own small records, kept in the leases table (it holds claims and locks already,
 * the reconciler's role may write it, and its TTL cleans up): keys `recovery#…`, apart from every
 * other key there (`slot#`, `pool#`, `instance#`, `joblease#`). Each record is one item written with
 * a condition, so two reconcilers running at once agree on who does what.
 */
export interface RecoveryStore {
  /** The record at `name` and its version (0 when absent). */
  load<T>(name: string): Promise<{ value: T | undefined; version: number }>;
  /** Writes `value` if the record is still at `version`; false when another run wrote it first. */
  save(name: string, value: unknown, version: number): Promise<boolean>;
  /** Claims `name` once for `ttlSeconds`; false when claimed already (by this or another run). */
  claim(name: string, ttlSeconds: number, now: Date): Promise<boolean>;
  /** Gives a claim back (its work failed, so a later run may do it). */
  unclaim(name: string): Promise<void>;
}

const RECORD_PREFIX = 'recovery#';

export const createDynamoRecoveryStore = (dynamo: JsonCall, tableName: string): RecoveryStore => {
  const key = (name: string) => ({ pk: { S: `${RECORD_PREFIX}${name}` } });
  return {
    async load<T>(name: string) {
      const { Item } = await dynamo<{ Item?: Record<string, unknown> }>('GetItem', {
        TableName: tableName,
        Key: key(name),
        ConsistentRead: true,
      });
      if (!Item) return { value: undefined, version: 0 };
      const row = fromItem(Item as never) as { value?: string; version?: number };
      return { value: row.value ? (JSON.parse(row.value) as T) : undefined, version: row.version ?? 0 };
    },

    async save(name, value, version) {
      try {
        await dynamo('PutItem', {
          TableName: tableName,
          // JSON in one string attribute: the shape is ours alone and never queried.
          Item: { ...key(name), ...toItem({ value: JSON.stringify(value), version: version + 1 }) },
          ConditionExpression: version === 0 ? 'attribute_not_exists(pk)' : 'version = :version',
          ...(version === 0 ? {} : { ExpressionAttributeValues: toItem({ ':version': version }) }),
        });
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    async claim(name, ttlSeconds, now) {
      const at = Math.floor(now.getTime() / 1000);
      try {
        await dynamo('PutItem', {
          TableName: tableName,
          Item: { ...key(name), ...toItem({ claimedAt: now.toISOString(), expiresAt: at + ttlSeconds }) },
          // TTL deletes late: an expired claim counts as gone.
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: toItem({ ':now': at }),
        });
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    async unclaim(name) {
      await dynamo('DeleteItem', { TableName: tableName, Key: key(name) });
    },
  };
};
