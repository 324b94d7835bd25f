import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';
import { toItem } from '../aws/dynamo-item.ts';
import type { JobStatus } from './job-status.ts';

/**
 * The dispatcher's writes to the job ledger. Before launching, a dispatcher takes a short lease on
 * the job row; only a job still pending (`queued`/`waiting`/`unmatched`) with no resource can be
 * taken. So two deliveries of one queued job (`queued → waiting → queued`, or an SQS redelivery)
 * never launch twice, and a dispatcher that died mid-way leaves a lease that runs out.
 */
export type DispatchClaim =
  | { readonly claimed: true }
  /** `retry`: another dispatcher holds an unexpired lease; it may still die, so try again later. */
  | {
      readonly claimed: false;
      readonly why: string;
      readonly retry: boolean;
      readonly earlier?: EarlierLaunch;
    };

/**
 * The job is pending on GitHub again (an environment approval came after our launch) and holds
 * an earlier launch: the dispatcher relaunches only if that runner is gone.
 */
export interface EarlierLaunch {
  readonly pool: string;
  readonly provider: string;
  readonly resourceId: string;
  /** The runner GHES registered for the launch's JIT config, when it had one. */
  readonly runnerId?: number;
  /** Where the launch's credentials wait in Parameter Store, when the name is not derived (CodeBuild). */
  readonly credentialsParameter?: string;
}

export interface DispatchRecords {
  /**
   * Leases the job to `owner` until `now + leaseSeconds`. The owner calling again renews its lease
   * (or takes the job back if it ran out and nobody else took it): the dispatcher does so right
   * before each launch, so one whose lease went to another dispatcher launches nothing.
   */
  claim(jobKey: string, owner: string, now: Date, leaseSeconds: number): Promise<DispatchClaim>;
  /** Takes the job over from an earlier launch that is gone: its resource is set aside, the job leased. */
  reclaim(
    jobKey: string,
    owner: string,
    earlierResourceId: string,
    now: Date,
    leaseSeconds: number,
  ): Promise<boolean>;
  dispatched(
    jobKey: string,
    owner: string,
    launch: {
      pool: string;
      provider: string;
      resourceId: string;
      at: Date;
      /** Each pool and candidate tried before this launch and why it was passed over, in order. */
      path?: readonly string[];
      /** The runner its JIT config registered, so a launch that never runs can be deregistered. */
      runnerId?: number;
      /** Its credentials' parameter, deleted if the launch dies before its runner does so itself. */
      credentialsParameter?: string;
    },
  ): Promise<void>;
  /**
   * Sends a dispatched job back to `queued` with the reason, its launch set aside, because that
   * launch never became a runner; false when the row moved on meanwhile.
   */
  reopen(jobKey: string, resourceId: string, reason: string, at: Date): Promise<boolean>;
  /** Closes a job GitHub says is closed, whose own `completed` never reached us. */
  closeAsOnGithub(jobKey: string, reason: string, at: Date): Promise<void>;
  /**
   * Gives the lease back with the reason, setting the status when given (`queued` with no capacity,
   * `unmatched`, `failed`) and keeping it otherwise.
   */
  notLaunched(
    jobKey: string,
    owner: string,
    status: Extract<JobStatus, 'queued' | 'unmatched' | 'failed'> | null,
    reason: string,
    at: Date,
  ): Promise<void>;
}

/**
 * Lease times in seconds with millisecond decimals (DynamoDB numbers keep them). Whole seconds would
 * cut up to a second off every lease: a 1.9 s lease (the twin's at timeScale 0.01) could run out
 * 0.9 s after it was taken, under an invocation that may still launch.
 */
const leaseClock = (now: Date) => now.getTime() / 1000;

/** A launch path is read by a person on the dashboard; bounded so a long chain cannot bloat the row. */
const MAX_PATH_STEPS = 12;
const MAX_STEP_LENGTH = 300;
const boundedPath = (path: readonly string[]): string[] => {
  const steps = path.map((step) =>
    step.length <= MAX_STEP_LENGTH ? step : `${step.slice(0, MAX_STEP_LENGTH - 1)}…`,
  );
  return steps.length <= MAX_PATH_STEPS
    ? steps
    : [...steps.slice(0, MAX_PATH_STEPS - 1), `(+${steps.length - MAX_PATH_STEPS + 1} more)`];
};

export const createDynamoDispatchRecords = (dynamo: JsonCall, tableName: string): DispatchRecords => {
  const key = (jobKey: string) => ({ pk: { S: jobKey } });
  // `pool` and `status` are DynamoDB reserved words; every ledger attribute we set goes through a name.
  const names = { '#status': 'status', '#rank': 'statusRank' };
  const launchNames = { '#pool': 'pool', '#provider': 'provider', '#reason': 'reason' };

  return {
    async claim(jobKey, owner, now, leaseSeconds) {
      const nowSeconds = leaseClock(now);
      try {
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: key(jobKey),
          UpdateExpression: 'SET dispatchOwner = :owner, dispatchLeaseUntil = :until',
          ConditionExpression:
            'attribute_exists(pk) AND #rank = :zero AND attribute_not_exists(resourceId) AND ' +
            '(attribute_not_exists(dispatchLeaseUntil) OR dispatchLeaseUntil < :now OR dispatchOwner = :owner)',
          ExpressionAttributeNames: { '#rank': 'statusRank' },
          ExpressionAttributeValues: toItem({
            ':owner': owner,
            ':until': nowSeconds + leaseSeconds,
            ':now': nowSeconds,
            ':zero': 0,
          }),
        });
        return { claimed: true };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const row = await dynamo<{ Item?: Record<string, { S?: string; N?: string }> }>('GetItem', {
        TableName: tableName,
        Key: key(jobKey),
        ConsistentRead: true,
      });
      const item = row.Item;
      if (!item) return { claimed: false, why: 'the job is not in the ledger', retry: false };
      const rank = Number(item.statusRank?.N ?? 0);
      if (item.resourceId) {
        const why = `already dispatched to ${item.resourceId.S}`;
        // Back to waiting/queued after our launch: the caller decides whether that runner is gone.
        const earlier =
          rank === 0 && item.pool?.S && item.provider?.S
            ? { pool: item.pool.S, provider: item.provider.S, resourceId: item.resourceId.S! }
            : undefined;
        return { claimed: false, why, retry: false, ...(earlier ? { earlier } : {}) };
      }
      if (rank > 0) return { claimed: false, why: `the job is already ${item.status?.S}`, retry: false };
      return { claimed: false, why: 'another dispatcher holds the job', retry: true };
    },

    async reclaim(jobKey, owner, earlierResourceId, now, leaseSeconds) {
      const nowSeconds = leaseClock(now);
      try {
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: key(jobKey),
          UpdateExpression:
            'SET dispatchOwner = :owner, dispatchLeaseUntil = :until, earlierResourceId = :rid ' +
            'REMOVE resourceId, #pool, #provider, dispatchedAt',
          ConditionExpression:
            'resourceId = :rid AND #rank = :zero AND ' +
            '(attribute_not_exists(dispatchLeaseUntil) OR dispatchLeaseUntil < :now OR dispatchOwner = :owner)',
          ExpressionAttributeNames: { '#rank': 'statusRank', '#pool': 'pool', '#provider': 'provider' },
          ExpressionAttributeValues: toItem({
            ':owner': owner,
            ':until': nowSeconds + leaseSeconds,
            ':now': nowSeconds,
            ':zero': 0,
            ':rid': earlierResourceId,
          }),
        });
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false; // another dispatcher, or the job moved on
        throw error;
      }
    },

    async dispatched(jobKey, owner, launch) {
      const launchValues = {
        ':pool': launch.pool,
        ':provider': launch.provider,
        ':resourceId': launch.resourceId,
        ':at': launch.at.toISOString(),
        ':owner': owner,
        ':path': boundedPath(launch.path ?? []),
        ...(launch.runnerId === undefined ? {} : { ':runnerId': launch.runnerId }),
        ...(launch.credentialsParameter === undefined ? {} : { ':parameter': launch.credentialsParameter }),
      };
      const sets =
        '#pool = :pool, #provider = :provider, resourceId = :resourceId, dispatchedAt = :at, updatedAt = :at, launchPath = :path' +
        (launch.runnerId === undefined ? '' : ', runnerId = :runnerId') +
        (launch.credentialsParameter === undefined ? '' : ', credentialsParameter = :parameter');
      try {
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: key(jobKey),
          UpdateExpression: `SET #status = :dispatched, #rank = :one, pendingRank = :one, ${sets} REMOVE dispatchOwner, dispatchLeaseUntil, #reason`,
          ConditionExpression: 'dispatchOwner = :owner AND #rank = :zero',
          ExpressionAttributeNames: { ...names, ...launchNames },
          ExpressionAttributeValues: toItem({
            ...launchValues,
            ':dispatched': 'dispatched',
            ':one': 1,
            ':zero': 0,
          }),
        });
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        // The runner was faster than us and the job already moved on: record what ran it, keep its status.
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: key(jobKey),
          UpdateExpression: `SET ${sets} REMOVE dispatchOwner, dispatchLeaseUntil, #reason`,
          ConditionExpression: 'dispatchOwner = :owner',
          ExpressionAttributeNames: launchNames,
          ExpressionAttributeValues: toItem(launchValues),
        });
      }
    },

    async reopen(jobKey, resourceId, reason, at) {
      try {
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: key(jobKey),
          UpdateExpression:
            'SET #status = :queued, #rank = :zero, pendingRank = :zero, earlierResourceId = :rid, #reason = :reason, updatedAt = :at ' +
            'REMOVE resourceId, #pool, #provider, dispatchedAt, launchPath, runnerId, credentialsParameter, dispatchOwner, dispatchLeaseUntil',
          ConditionExpression: '#rank = :one AND resourceId = :rid',
          ExpressionAttributeNames: { ...names, ...launchNames },
          ExpressionAttributeValues: toItem({
            ':queued': 'queued',
            ':zero': 0,
            ':one': 1,
            ':rid': resourceId,
            ':reason': reason.slice(0, 500),
            ':at': at.toISOString(),
          }),
        });
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false; // a runner took it, or another reconciler did this
        throw error;
      }
    },

    async closeAsOnGithub(jobKey, reason, at) {
      try {
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: key(jobKey),
          UpdateExpression:
            'SET #status = :completed, #rank = :three, pendingRank = :three, #reason = :reason, updatedAt = :at, ' +
            'completedAt = if_not_exists(completedAt, :at) REMOVE dispatchOwner, dispatchLeaseUntil',
          ConditionExpression: '#rank < :three',
          ExpressionAttributeNames: { ...names, '#reason': 'reason' },
          ExpressionAttributeValues: toItem({
            ':completed': 'completed',
            ':three': 3,
            ':reason': reason.slice(0, 500),
            ':at': at.toISOString(),
          }),
        });
      } catch (error) {
        if (!isConditionFailure(error)) throw error; // already closed
      }
    },

    async notLaunched(jobKey, owner, status, reason, at) {
      try {
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: key(jobKey),
          // An unmatched or failed job leaves the pending-by-age index: left there, such rows (kept
          // 45 days) would fill every page the reconciler reads before any job still waiting.
          UpdateExpression: `SET ${status ? '#status = :status, ' : ''}#reason = :reason, updatedAt = :at REMOVE dispatchOwner, dispatchLeaseUntil${status === 'unmatched' || status === 'failed' ? ', pendingRank' : ''}`,
          ConditionExpression: 'dispatchOwner = :owner AND #rank = :zero',
          ExpressionAttributeNames: {
            ...(status ? names : { '#rank': 'statusRank' }),
            '#reason': 'reason',
          },
          ExpressionAttributeValues: toItem({
            ...(status ? { ':status': status } : {}),
            ':reason': reason.slice(0, 500),
            ':at': at.toISOString(),
            ':owner': owner,
            ':zero': 0,
          }),
        });
      } catch (error) {
        if (!isConditionFailure(error)) throw error; // the job moved on meanwhile: nothing to record
      }
    },
  };
};
