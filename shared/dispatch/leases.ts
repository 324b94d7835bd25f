import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';

/**
 * Leases in one DynamoDB table: pool capacity slots and EC2 instance claims. Every claim is a
 * conditional write, so two dispatchers can never take the same slot or instance; counting
 * instances instead races (terraform-aws-github-runner #5026).
 */
export interface Leases {
  /**
   * Takes one of the pool's `max` slots for the job; false when the pool is full. A job holds at
   * most one slot: a retried dispatch gets its slot back, and a slot left in another pool by a
   * dispatcher that died is given back first.
   */
  claimSlot(pool: string, jobKey: string, max: number): Promise<boolean>;
  /** Frees the job's slot in that pool; a second release changes nothing. */
  releaseSlot(pool: string, jobKey: string): Promise<void>;
  /** The pool whose slot the job holds, found without the ledger (its write may be what failed). */
  slotOf(jobKey: string): Promise<string | undefined>;
  /** Claims an instance for a job until `until` (epoch seconds); false if someone else holds it. */
  claimInstance(instanceId: string, jobKey: string, now: number, until: number): Promise<boolean>;
  releaseInstance(instanceId: string, jobKey: string): Promise<void>;
  /** The instance this job already holds, if a previous attempt claimed one. */
  instanceOf(jobKey: string): Promise<string | undefined>;
  slotsInUse(pool: string): Promise<number>;
  /** Jobs holding a slot, up to `limit` (the reconciler frees those whose job has closed). */
  heldSlots(limit: number): Promise<{ jobKey: string; pool: string }[]>;
}

/**
 * DynamoDB TTL (`expiresAt`, epoch seconds) on the lease rows that are safe to lose.
 *
 * Instance leases (`instance#…`) and their `joblease#…` index go a day after `leaseUntil`. TTL
 * never deletes before `expiresAt`, and after `leaseUntil` the row is dead anyway (another job may
 * take the instance, the claim's condition checks `leaseUntil`, not existence); the day lets a job
 * that outran its lease still find and release the instance when it completes.
 *
 * Capacity slots (`slot#…`) and the pools' `inUse` counters have no TTL: the counter is only
 * consistent because a slot's delete and its decrement happen in one transaction (`releaseSlot`).
 * A slot that TTL deleted would leave `inUse` counting it forever and the pool one runner smaller
 * for good. Making that safe needs a stream consumer that decrements on TTL deletes; until then a
 * slot lives until its job completes.
 */
const INSTANCE_LEASE_TTL_MARGIN_SECONDS = 24 * 3600;

export const createDynamoLeases = (dynamo: JsonCall, tableName: string): Leases => {
  const key = (pk: string) => ({ pk: { S: pk } });
  const leases: Leases = {
    async claimSlot(pool, jobKey, max) {
      for (let attempt = 0; ; attempt++) {
        try {
          await dynamo('TransactWriteItems', {
            TransactItems: [
              {
                Put: {
                  TableName: tableName,
                  Item: { ...key(`slot#${jobKey}`), pool: { S: pool } },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              {
                Update: {
                  TableName: tableName,
                  Key: key(`pool#${pool}`),
                  UpdateExpression: 'ADD inUse :one',
                  ConditionExpression: 'attribute_not_exists(inUse) OR inUse < :max',
                  ExpressionAttributeValues: { ':one': { N: '1' }, ':max': { N: String(max) } },
                },
              },
            ],
          });
          return true;
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
        // Either the pool is full, or this job already holds a slot (a retried dispatch).
        const held = await leases.slotOf(jobKey);
        if (held === undefined) return false;
        if (held === pool) return true;
        if (attempt > 0) return false;
        await leases.releaseSlot(held, jobKey); // a crashed attempt's slot in another pool of the chain
      }
    },

    async releaseSlot(pool, jobKey) {
      try {
        await dynamo('TransactWriteItems', {
          TransactItems: [
            {
              Delete: {
                TableName: tableName,
                Key: key(`slot#${jobKey}`),
                ConditionExpression: '#pool = :pool',
                ExpressionAttributeNames: { '#pool': 'pool' },
                ExpressionAttributeValues: { ':pool': { S: pool } },
              },
            },
            {
              Update: {
                TableName: tableName,
                Key: key(`pool#${pool}`),
                UpdateExpression: 'ADD inUse :minusOne',
                ConditionExpression: 'inUse > :zero',
                ExpressionAttributeValues: { ':minusOne': { N: '-1' }, ':zero': { N: '0' } },
              },
            },
          ],
        });
      } catch (error) {
        if (!isConditionFailure(error)) throw error; // already released
      }
    },

    async slotOf(jobKey) {
      const out = await dynamo<{ Item?: { pool?: { S: string } } }>('GetItem', {
        TableName: tableName,
        Key: key(`slot#${jobKey}`),
        ConsistentRead: true,
      });
      return out.Item?.pool?.S;
    },

    async claimInstance(instanceId, jobKey, now, until) {
      const expiresAt = { N: String(until + INSTANCE_LEASE_TTL_MARGIN_SECONDS) };
      try {
        await dynamo('TransactWriteItems', {
          TransactItems: [
            {
              Put: {
                TableName: tableName,
                Item: {
                  ...key(`instance#${instanceId}`),
                  jobKey: { S: jobKey },
                  leaseUntil: { N: String(until) },
                  expiresAt,
                },
                // The lease expiry is in the condition: TTL deletes late and is no lock expiry.
                ConditionExpression: 'attribute_not_exists(pk) OR leaseUntil < :now OR jobKey = :job',
                ExpressionAttributeValues: { ':now': { N: String(now) }, ':job': { S: jobKey } },
              },
            },
            {
              Put: {
                TableName: tableName,
                Item: { ...key(`joblease#${jobKey}`), instanceId: { S: instanceId }, expiresAt },
              },
            },
          ],
        });
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    async releaseInstance(instanceId, jobKey) {
      try {
        await dynamo('TransactWriteItems', {
          TransactItems: [
            {
              Delete: {
                TableName: tableName,
                Key: key(`instance#${instanceId}`),
                ConditionExpression: 'jobKey = :job',
                ExpressionAttributeValues: { ':job': { S: jobKey } },
              },
            },
            { Delete: { TableName: tableName, Key: key(`joblease#${jobKey}`) } },
          ],
        });
      } catch (error) {
        if (!isConditionFailure(error)) throw error; // held by another job now, or already released
      }
    },

    async instanceOf(jobKey) {
      const out = await dynamo<{ Item?: { instanceId?: { S: string } } }>('GetItem', {
        TableName: tableName,
        Key: key(`joblease#${jobKey}`),
        ConsistentRead: true,
      });
      return out.Item?.instanceId?.S;
    },

    async heldSlots(limit) {
      const held: { jobKey: string; pool: string }[] = [];
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await dynamo<{
          Items?: { pk: { S: string }; pool?: { S: string } }[];
          LastEvaluatedKey?: Record<string, unknown>;
        }>('Scan', {
          TableName: tableName,
          FilterExpression: 'begins_with(pk, :slot)',
          ExpressionAttributeValues: { ':slot': { S: 'slot#' } },
          ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
        });
        for (const item of page.Items ?? []) {
          if (item.pool?.S) held.push({ jobKey: item.pk.S.slice('slot#'.length), pool: item.pool.S });
        }
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey && held.length < limit);
      return held.slice(0, limit);
    },

    async slotsInUse(pool) {
      const out = await dynamo<{ Item?: { inUse?: { N: string } } }>('GetItem', {
        TableName: tableName,
        Key: key(`pool#${pool}`),
        ConsistentRead: true,
      });
      return Number(out.Item?.inUse?.N ?? 0);
    },
  };
  return leases;
};
