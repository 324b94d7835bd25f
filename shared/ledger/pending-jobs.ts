import { fromItem, type Item } from '../aws/dynamo-item.ts';
import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';
import type { WorkflowJobDetail } from '../events/control-plane-events.ts';
import type { EarlierLaunch } from './dispatch-records.ts';

/**
 * The jobs table's index of rows that may still need a runner, by rank (`pendingRank`: the status
 * rank, absent once a job is unmatched or failed), oldest `queuedAt` first (infra/dynamodb-tables.json).
 */
export const PENDING_INDEX = 'pending-by-age';

/** A ledger row of a job that has no runner yet: what a dispatch needs, and why it has none. */
export interface PendingJob {
  readonly detail: WorkflowJobDetail;
  readonly status: string;
  /** Why the last dispatch launched nothing; absent when no dispatcher has finished with it. */
  readonly reason: string | null;
  readonly updatedAt: Date;
  /** When the intake recorded the job queued (the index's sort key); absent on rows that lack it. */
  readonly queuedAt?: Date;
  /** Epoch seconds until which a dispatcher holds the job, if one does. */
  readonly dispatchLeaseUntil: number | null;
}

/** Unmatched and failed rows wait for a config change or a new attempt, not for capacity. */
const RETRIED: ReadonlySet<string> = new Set(['queued', 'waiting']);

/**
 * Whether a job should be dispatched again now: queued or waiting, held by no dispatcher, and either
 * left with a reason (a dispatcher finished with it and launched nothing) or quiet for `quietSeconds`
 * (its own event never came).
 */
export const waitingForRunner = (job: PendingJob, now: Date, quietSeconds: number): boolean => {
  if (!RETRIED.has(job.status)) return false;
  if (job.dispatchLeaseUntil !== null && job.dispatchLeaseUntil * 1000 > now.getTime()) return false;
  return job.reason !== null || now.getTime() - job.updatedAt.getTime() >= quietSeconds * 1000;
};

/** A job recorded `dispatched`: what was launched for it, and when. */
export interface DispatchedJob extends PendingJob {
  readonly launch: EarlierLaunch;
  readonly dispatchedAt: Date;
}

export interface PendingJobs {
  /** Rows at rank 0 (queued, waiting, unmatched, failed) without a resource, oldest first. */
  oldest(limit: number): Promise<PendingJob[]>;
  /**
   * Rows at rank 1 (`dispatched`: launched, no runner has reported the job yet), oldest first;
   * with `notCheckedSince`, only those the reconciler has not re-checked since then.
   */
  oldestDispatched(limit: number, notCheckedSince?: Date): Promise<DispatchedJob[]>;
  /**
   * Rows at rank 2 (`in_progress`: a runner has the job) last changed and last re-checked before
   * `before`, oldest first: where a lost `completed` leaves a job that GitHub has long finished.
   */
  runningSince(before: Date, limit: number): Promise<DispatchedJob[]>;
  /** Notes that the reconciler re-checked the job against GitHub at `at` (it then skips it a while). */
  noteChecked(jobKey: string, at: Date): Promise<void>;
  /** The ledger status of a job (`<jobId>#<attempt>`), undefined when it has no row. */
  statusOf(jobKey: string): Promise<string | undefined>;
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const integer = (value: unknown): number | null => (typeof value === 'number' ? value : null);

/** A row the intake wrote carries every field a dispatch reads; one that does not is skipped. */
const toPendingJob = (row: Record<string, unknown>): PendingJob | undefined => {
  const jobId = integer(row.jobId);
  const runId = integer(row.runId);
  const runAttempt = integer(row.runAttempt);
  const repository = text(row.repository);
  const owner = text(row.owner);
  if (jobId === null || runId === null || runAttempt === null || !repository || !owner) return undefined;
  if (!Array.isArray(row.labels) || row.labels.some((label) => typeof label !== 'string')) return undefined;
  return {
    detail: {
      action: 'queued',
      jobId,
      runId,
      runAttempt,
      repository,
      owner,
      labels: row.labels as string[],
      workflowName: text(row.workflowName),
      headBranch: text(row.headBranch),
      installationId: integer(row.installationId),
      runnerName: null,
      conclusion: null,
      deliveryId: text(row.lastDeliveryId) ?? 'reconciler',
    },
    status: text(row.status) ?? 'queued',
    reason: text(row.reason),
    updatedAt: new Date(text(row.updatedAt) ?? 0),
    ...(text(row.queuedAt) ? { queuedAt: new Date(text(row.queuedAt)!) } : {}),
    dispatchLeaseUntil: typeof row.dispatchLeaseUntil === 'number' ? row.dispatchLeaseUntil : null,
  };
};

const toDispatchedJob = (row: Record<string, unknown>): DispatchedJob | undefined => {
  const job = toPendingJob(row);
  const [pool, provider, resourceId] = [text(row.pool), text(row.provider), text(row.resourceId)];
  if (!job || !pool || !provider || !resourceId) return undefined;
  const runnerId = integer(row.runnerId);
  const credentialsParameter = text(row.credentialsParameter);
  return {
    ...job,
    launch: {
      pool,
      provider,
      resourceId,
      ...(runnerId === null ? {} : { runnerId }),
      ...(credentialsParameter === null ? {} : { credentialsParameter }),
    },
    dispatchedAt: new Date(text(row.dispatchedAt) ?? 0),
  };
};

const notCheckedFilter = (since: Date) => ({
  expression: 'attribute_not_exists(checkedAt) OR checkedAt < :checked',
  values: { ':checked': { S: since.toISOString() } } as Item,
});

/** One page after another of the index at `rank`, oldest first, until `limit` rows are kept. */
const queryRank = async <T>(
  dynamo: JsonCall,
  tableName: string,
  rank: number,
  limit: number,
  filter: { readonly expression: string; readonly values?: Item } | undefined,
  toJob: (row: Record<string, unknown>) => T | undefined,
): Promise<T[]> => {
  const jobs: T[] = [];
  let ExclusiveStartKey: Item | undefined;
  do {
    const page = await dynamo<{ Items?: Item[]; LastEvaluatedKey?: Item }>('Query', {
      TableName: tableName,
      IndexName: PENDING_INDEX,
      KeyConditionExpression: '#rank = :rank',
      ...(filter ? { FilterExpression: filter.expression } : {}),
      ExpressionAttributeNames: { '#rank': 'pendingRank' },
      ExpressionAttributeValues: { ':rank': { N: String(rank) }, ...filter?.values },
      ScanIndexForward: true,
      Limit: limit,
      ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
    });
    for (const item of page.Items ?? []) {
      const job = toJob(fromItem(item));
      if (job) jobs.push(job);
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey && jobs.length < limit);
  return jobs.slice(0, limit);
};

export const createDynamoPendingJobs = (dynamo: JsonCall, tableName: string): PendingJobs => ({
  // A row at rank 0 with a resource is a launch an approval sent back to waiting: the dispatcher's
  // own business when GitHub says queued again.
  oldest: (limit) =>
    queryRank(dynamo, tableName, 0, limit, { expression: 'attribute_not_exists(resourceId)' }, toPendingJob),
  // Re-checked rows are skipped a while, so a few long-lived ones cannot fill every page read.
  oldestDispatched: (limit, notCheckedSince) =>
    queryRank(
      dynamo,
      tableName,
      1,
      limit,
      notCheckedSince && notCheckedFilter(notCheckedSince),
      toDispatchedJob,
    ),
  runningSince: (before, limit) =>
    queryRank(
      dynamo,
      tableName,
      2,
      limit,
      {
        expression: `updatedAt < :before AND (${notCheckedFilter(before).expression})`,
        values: { ':before': { S: before.toISOString() }, ...notCheckedFilter(before).values },
      },
      toDispatchedJob,
    ),
  async noteChecked(jobKey, at) {
    try {
      await dynamo('UpdateItem', {
        TableName: tableName,
        Key: { pk: { S: jobKey } },
        UpdateExpression: 'SET checkedAt = :at',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':at': { S: at.toISOString() } },
      });
    } catch (error) {
      if (!isConditionFailure(error)) throw error; // the row expired meanwhile: nothing to note
    }
  },
  async statusOf(jobKey) {
    const { Item } = await dynamo<{ Item?: { status?: { S?: string } } }>('GetItem', {
      TableName: tableName,
      Key: { pk: { S: jobKey } },
      ProjectionExpression: '#status',
      ExpressionAttributeNames: { '#status': 'status' },
      ConsistentRead: true,
    });
    return Item ? (Item.status?.S ?? 'queued') : undefined;
  },
});
