import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';
import { toItem } from '../aws/dynamo-item.ts';
import type { WorkflowJobEvent } from '../intake/workflow-job.ts';
import { statusRank, type JobStatus } from './job-status.ts';

/** One row per job id + run attempt: what GitHub told us, and (later) what we launched for it. */
export const jobKey = (jobId: number, runAttempt: number): string => `${jobId}#${runAttempt}`;

/**
 * How long a job's row outlives the last webhook about it (DynamoDB TTL on `expiresAt`). A workflow
 * run may last 35 days, the longest GitHub allows (waiting on approvals included,
 * https://docs.github.com/actions/reference/limits), and GitHub redelivers for 3 days after that:
 * 45 days keeps the row of every job GitHub can still tell us about, with a week to spare, while a
 * finished job's row goes away on its own instead of growing the table forever.
 */
export const JOB_RETENTION_SECONDS = 45 * 24 * 3600;

export interface RecordedBy {
  readonly deliveryId: string;
  readonly bodyHash: string;
  readonly receivedAt: Date;
}

export interface JobLedger {
  /** Applies a webhook to the job's row. `changed: false` when the row is already at or past it. */
  recordWebhook(event: WorkflowJobEvent, by: RecordedBy): Promise<{ changed: boolean }>;
}

const timestampField: Record<WorkflowJobEvent['action'], string> = {
  waiting: 'queuedAt',
  queued: 'queuedAt',
  in_progress: 'startedAt',
  completed: 'completedAt',
};

/**
 * The conditional update that applies a webhook to its job's row: as an `UpdateItem` request, or as
 * the `Update` of a transaction (the intake writes it together with its delivery claims).
 */
export const webhookUpdate = (tableName: string, event: WorkflowJobEvent, by: RecordedBy) => {
  const status: JobStatus = event.action;
  const rank = statusRank[status];
  const at = by.receivedAt.toISOString();
  const expiresAt = Math.floor(by.receivedAt.getTime() / 1000) + JOB_RETENTION_SECONDS;
  const values: Record<string, unknown> = {
    ':status': status,
    ':rank': rank,
    ':jobId': event.jobId,
    ':runId': event.runId,
    ':runAttempt': event.runAttempt,
    ':jobName': event.jobName,
    ':repository': event.repository,
    ':owner': event.owner,
    ':labels': event.labels,
    ':workflowName': event.workflowName,
    ':headBranch': event.headBranch,
    ':installationId': event.installationId,
    ':bodyHash': by.bodyHash,
    ':deliveryId': by.deliveryId,
    ':at': at,
    ':expiresAt': expiresAt,
  };
  const sets = [
    '#status = :status',
    '#rank = :rank',
    // The pending-by-age index's key: the rank again, on every row that may still need a runner.
    'pendingRank = :rank',
    'jobId = :jobId',
    'runId = :runId',
    'runAttempt = :runAttempt',
    'jobName = :jobName',
    'repository = :repository',
    '#owner = :owner',
    'labels = :labels',
    'workflowName = :workflowName',
    'headBranch = :headBranch',
    'installationId = if_not_exists(installationId, :installationId)',
    'lastBodyHash = :bodyHash',
    'lastDeliveryId = :deliveryId',
    'updatedAt = :at',
    // Each webhook pushes expiry back: the row lives as long as GitHub may still send news of it.
    'expiresAt = :expiresAt',
    // The first time a state is seen is when it happened; a redelivery does not move it.
    `${timestampField[event.action]} = if_not_exists(${timestampField[event.action]}, :at)`,
  ];
  // GitHub fills runner_name on some queued payloads with a stale value; only a started job has one.
  if (event.runnerName && (event.action === 'in_progress' || event.action === 'completed')) {
    sets.push('runnerName = :runnerName');
    values[':runnerName'] = event.runnerName;
  }
  if (event.conclusion) {
    sets.push('conclusion = :conclusion');
    values[':conclusion'] = event.conclusion;
  }
  // A runner has the job: why an earlier dispatch attempt launched nothing is no longer true. (A job
  // cancelled before any runner goes straight to `completed` and keeps its reason.)
  const started = event.action === 'in_progress';
  // Forward only. A retried delivery of the same body (our own earlier attempt failed after this
  // write) passes again, so its event is published rather than lost.
  const conditions = ['attribute_not_exists(pk)', '#rank < :rank', 'lastBodyHash = :bodyHash'];
  if (rank === 0) {
    conditions.push('(#rank = :rank AND #status <> :status)');
    // `dispatched` is ours, not GitHub's: a new waiting/queued after it (an environment
    // approval) is news, and the dispatcher then checks whether the runner it started is alive.
    // The launch fields stay; a redelivered body is caught by the intake's dedupe before this.
    conditions.push('#status = :dispatched');
    values[':dispatched'] = 'dispatched';
  }
  return {
    TableName: tableName,
    Key: { pk: { S: jobKey(event.jobId, event.runAttempt) } },
    UpdateExpression: `SET ${sets.join(', ')}${started ? ' REMOVE #reason' : ''}`,
    ConditionExpression: conditions.join(' OR '),
    ExpressionAttributeNames: {
      ...{ '#status': 'status', '#rank': 'statusRank', '#owner': 'owner' },
      ...(started ? { '#reason': 'reason' } : {}),
    },
    ExpressionAttributeValues: toItem(values),
  };
};

export const createDynamoJobLedger = (dynamo: JsonCall, tableName: string): JobLedger => ({
  async recordWebhook(event, by) {
    try {
      await dynamo('UpdateItem', webhookUpdate(tableName, event, by));
      return { changed: true };
    } catch (error) {
      if (isConditionFailure(error)) {
        return { changed: false };
      }
      throw error;
    }
  },
});
