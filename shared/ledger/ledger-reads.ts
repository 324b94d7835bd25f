import { fromItem, type Item } from '../aws/dynamo-item.ts';
import type { JsonCall } from '../aws/json-client.ts';
import { PENDING_INDEX } from './pending-jobs.ts';

/** What the reconciler's GitHub recovery reads from the job ledger. */
export interface JobLaunchRow {
  readonly status: string;
  /** The runner the recorded launch's JIT config registered, when known. */
  readonly runnerId: number | null;
  /** Epoch seconds until which a dispatcher holds the job (it may be registering a runner now). */
  readonly dispatchLeaseUntil: number | null;
}

export interface RecentRepository {
  readonly repository: string;
  readonly owner: string;
  readonly installationId: number | null;
}

export interface LedgerReads {
  /** The row of `<jobId>#<attempt>`, or undefined when the ledger never saw the job. */
  launchOf(jobKey: string): Promise<JobLaunchRow | undefined>;
  /**
   * Repositories of jobs first queued after `since` (ISO), one entry each: read from the
   * `pending-by-age` index (every rank, `queuedAt > since`), so a run reads only the rows written
   * since the previous run, not the whole table.
   */
  repositoriesQueuedSince(since: string, limit: number): Promise<RecentRepository[]>;
}

/** The ranks of every status (job-status.ts): the index is partitioned by rank. */
const RANKS = [0, 1, 2, 3];

export const createDynamoLedgerReads = (dynamo: JsonCall, tableName: string): LedgerReads => ({
  async launchOf(jobKey) {
    const { Item } = await dynamo<{ Item?: Item }>('GetItem', {
      TableName: tableName,
      Key: { pk: { S: jobKey } },
      ProjectionExpression: '#status, runnerId, dispatchLeaseUntil',
      ExpressionAttributeNames: { '#status': 'status' },
      ConsistentRead: true,
    });
    if (!Item) return undefined;
    const row = fromItem(Item) as Record<string, unknown>;
    return {
      status: typeof row.status === 'string' ? row.status : 'queued',
      runnerId: typeof row.runnerId === 'number' ? row.runnerId : null,
      dispatchLeaseUntil: typeof row.dispatchLeaseUntil === 'number' ? row.dispatchLeaseUntil : null,
    };
  },

  async repositoriesQueuedSince(since, limit) {
    const found = new Map<string, RecentRepository>();
    for (const rank of RANKS) {
      let ExclusiveStartKey: Item | undefined;
      do {
        const page = await dynamo<{ Items?: Item[]; LastEvaluatedKey?: Item }>('Query', {
          TableName: tableName,
          IndexName: PENDING_INDEX,
          KeyConditionExpression: '#rank = :rank AND queuedAt > :since',
          ProjectionExpression: 'repository, #owner, installationId',
          ExpressionAttributeNames: { '#rank': 'pendingRank', '#owner': 'owner' },
          ExpressionAttributeValues: { ':rank': { N: String(rank) }, ':since': { S: since } },
          ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
        });
        for (const item of page.Items ?? []) {
          const row = fromItem(item) as Record<string, unknown>;
          if (typeof row.repository !== 'string' || typeof row.owner !== 'string') continue;
          // A row from a hook without `installation` must not hide the id another row of the repository has.
          const installationId =
            typeof row.installationId === 'number'
              ? row.installationId
              : (found.get(row.repository)?.installationId ?? null);
          found.set(row.repository, { repository: row.repository, owner: row.owner, installationId });
        }
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey && found.size < limit);
    }
    return [...found.values()].slice(0, limit);
  },
});
