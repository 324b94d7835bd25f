import type { JsonCall } from '../aws/json-client.ts';
import { fromItem, type Item } from '../aws/dynamo-item.ts';
import type { Approvals } from './approvals.ts';
import type { OperationLocks } from './operation-lock.ts';
import type { TopologyRecord, TopologySource } from './slack-status.ts';

/**
 * The operations-table stores the Slack functions use, in one place.
 *
 * The lock and approval stores are implemented with the failover state machine
 * (shared/operations/operation-lock.ts, approvals.ts). Until those land, the placeholders below
 * refuse every call with `StoreNotAvailableError`: the Slack functions then answer the
 * caller with an error and never start or decide anything. Wiring the real ones is this
 * function's two lines and nothing else.
 */
export class StoreNotAvailableError extends Error {
  constructor(what: string) {
    super(`${what} is not wired yet (it lands with the failover state machine)`);
    this.name = 'StoreNotAvailableError';
  }
}

const notYet = (what: string) => () => Promise.reject(new StoreNotAvailableError(what));

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
  locks: {
    acquire: notYet('the operation lock store'),
    release: notYet('the operation lock store'),
    holder: notYet('the operation lock store'),
  } satisfies OperationLocks as OperationLocks,
  approvals: {
    open: notYet('the approvals store'),
    get: notYet('the approvals store'),
    decide: notYet('the approvals store'),
  } satisfies Approvals as Approvals,
  topology: createDynamoTopologySource(dynamo, tableName),
});
