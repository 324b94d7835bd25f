import type { JsonCall } from '../aws/json-client.ts';
import { fromItem, type Item } from '../aws/dynamo-item.ts';
import { createDynamoApprovals } from './approvals.ts';
import { createDynamoOperationLocks } from './operation-lock.ts';
import type { TopologyRecord, TopologySource } from './slack-status.ts';

/**
 * The operations-table stores the Slack functions use, in one place.
 *
 * The lock and approvals are the DynamoDB ones the failover state machine uses too
 * (shared/operations/operation-lock.ts, approvals.ts).
 */
export const TOPOLOGY_KEY = 'topology#ghes';

/** Reads `topology#ghes` (written by the failover's record-topology step); strongly consistent. */
export const createDynamoTopologySource = (dynamo: JsonCall, tableName: string): TopologySource => ({
  async current() {
    const out = await dynamo<{ Item?: Item }>('GetItem', {
      TableName: tableName,
      Key: { pk: { S: TOPOLOGY_KEY } },
      ConsistentRead: true,
    });
    if (!out.Item) return null;
    const row = fromItem(out.Item);
    if (typeof row.primary !== 'string' || typeof row.replica !== 'string') return null;
    return row as unknown as TopologyRecord;
  },
});

export const createOperationStores = (dynamo: JsonCall, tableName: string) => ({
  locks: createDynamoOperationLocks(dynamo, tableName),
  approvals: createDynamoApprovals(dynamo, tableName),
  topology: createDynamoTopologySource(dynamo, tableName),
});
