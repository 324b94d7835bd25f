import { randomUUID } from 'node:crypto';
import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';

/**
 * Dedupe for webhook deliveries. The delivery id and the body hash are claimed together in one
 * DynamoDB transaction, so a GitHub redelivery (same id) and a captured body replayed under a new
 * id (same hash) both find their claim taken.
 *
 * A claim is `pending` while its delivery is being handled and `done` once the event is on the
 * bus. A pending claim whose lease ran out belonged to an invocation that died mid-way (timeout,
 * crash): a redelivery may take it over, so a crash never turns into a lost job.
 */
export interface DeliveryClaim {
  readonly deliveryId: string;
  readonly bodyHash: string;
  readonly owner: string;
}

export interface DeliveryClaims {
  claim(deliveryId: string, bodyHash: string, now: Date): Promise<DeliveryClaim | 'duplicate'>;
  complete(claim: DeliveryClaim, now: Date): Promise<void>;
  /** Gives the claim back after a failure, so GitHub's redelivery is handled, not deduped. */
  release(claim: DeliveryClaim): Promise<void>;
}

export interface DeliveryClaimOptions {
  /** Longer than the webhook Lambda's timeout (10 s), so a live invocation never loses its claim. */
  readonly leaseSeconds?: number;
  /** DynamoDB TTL: GitHub keeps deliveries for 3 days, so a redelivery cannot come later. */
  readonly retentionSeconds?: number;
}

const keysOf = (deliveryId: string, bodyHash: string) => [
  { pk: { S: `delivery#${deliveryId}` } },
  { pk: { S: `body#${bodyHash}` } },
];

const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

export const createDynamoDeliveryClaims = (
  dynamo: JsonCall,
  tableName: string,
  options: DeliveryClaimOptions = {},
): DeliveryClaims => {
  const leaseSeconds = options.leaseSeconds ?? 60;
  const retentionSeconds = options.retentionSeconds ?? 3 * 24 * 3600;

  return {
    async claim(deliveryId, bodyHash, now) {
      const owner = randomUUID();
      const nowSeconds = epochSeconds(now);
      const record = (key: { pk: { S: string } }) => ({
        Put: {
          TableName: tableName,
          Item: {
            ...key,
            deliveryId: { S: deliveryId },
            bodyHash: { S: bodyHash },
            claimState: { S: 'pending' },
            claimOwner: { S: owner },
            leaseUntil: { N: String(nowSeconds + leaseSeconds) },
            claimedAt: { S: now.toISOString() },
            expiresAt: { N: String(nowSeconds + retentionSeconds) },
          },
          ConditionExpression: 'attribute_not_exists(pk) OR (claimState = :pending AND leaseUntil < :now)',
          ExpressionAttributeValues: { ':pending': { S: 'pending' }, ':now': { N: String(nowSeconds) } },
        },
      });
      try {
        await dynamo('TransactWriteItems', { TransactItems: keysOf(deliveryId, bodyHash).map(record) });
        return { deliveryId, bodyHash, owner };
      } catch (error) {
        if (isConditionFailure(error)) return 'duplicate';
        throw error;
      }
    },

    async complete(claim, now) {
      await dynamo('TransactWriteItems', {
        TransactItems: keysOf(claim.deliveryId, claim.bodyHash).map((Key) => ({
          Update: {
            TableName: tableName,
            Key,
            UpdateExpression: 'SET claimState = :done, completedAt = :at REMOVE leaseUntil',
            ConditionExpression: 'claimOwner = :owner',
            ExpressionAttributeValues: {
              ':done': { S: 'done' },
              ':at': { S: now.toISOString() },
              ':owner': { S: claim.owner },
            },
          },
        })),
      });
    },

    async release(claim) {
      await dynamo('TransactWriteItems', {
        TransactItems: keysOf(claim.deliveryId, claim.bodyHash).map((Key) => ({
          Delete: {
            TableName: tableName,
            Key,
            ConditionExpression: 'claimOwner = :owner',
            ExpressionAttributeValues: { ':owner': { S: claim.owner } },
          },
        })),
      });
    },
  };
};
