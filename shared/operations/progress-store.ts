import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';
import { fromItem, toItem, type Item } from '../aws/dynamo-item.ts';
import type { ProgressRecord } from './progress-record.ts';

/**
 * The progress record of each execution, in the operations table (`pk = message#<execution>`), with
 * a version so two writers (a retried task and its first attempt still running) cannot lose each
 * other's step. Rows go 30 days after the run (TTL), the audit table keeps the history.
 */
export interface ProgressStore {
  get(execution: string): Promise<{ record: ProgressRecord; version: number } | null>;
  /** Writes `record` if the row is still at `version` (0: no row yet); false when it moved on. */
  put(record: ProgressRecord, version: number): Promise<boolean>;
}

const ROW_TTL_SECONDS = 30 * 24 * 3600;

export const createDynamoProgressStore = (dynamo: JsonCall, tableName: string): ProgressStore => {
  const key = (execution: string) => ({ pk: { S: `message#${execution}` } });
  return {
    async get(execution) {
      const { Item } = await dynamo<{ Item?: Item }>('GetItem', {
        TableName: tableName,
        Key: key(execution),
        ConsistentRead: true,
      });
      if (!Item) return null;
      const { version, record } = fromItem(Item) as { version: number; record: ProgressRecord };
      return { record, version };
    },

    async put(record, version) {
      try {
        await dynamo('PutItem', {
          TableName: tableName,
          Item: {
            ...key(record.execution),
            // channel and ts at the top level too: the contract's `message#<execution>` {channel, ts}.
            ...toItem({
              channel: record.channel,
              ts: record.ts ?? undefined,
              version: version + 1,
              record,
              expiresAtEpoch: Math.ceil(Date.parse(record.startedAt) / 1000) + ROW_TTL_SECONDS,
            }),
          },
          ConditionExpression: version === 0 ? 'attribute_not_exists(pk)' : 'version = :version',
          ...(version === 0 ? {} : { ExpressionAttributeValues: { ':version': { N: String(version) } } }),
        });
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },
  };
};
