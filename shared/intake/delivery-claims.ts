/**
 * Dedupe for webhook deliveries. The delivery id and the body hash are claimed together, so a GitHub
 * redelivery (same id) and a captured body replayed under a new id (same hash) both find their claim
 * taken. The claims are written in the same transaction as the job's ledger change
 * (shared/intake/delivery-recorder.ts): a claim exists exactly when its delivery was recorded.
 *
 * Claims are written `done`. Rows an earlier version wrote `pending` (claimed, not yet published)
 * whose lease ran out belonged to an invocation that died mid-way: a redelivery may still take them.
 */
export interface DeliveryClaim {
  readonly deliveryId: string;
  readonly bodyHash: string;
  readonly owner: string;
}

export interface DeliveryClaimOptions {
  /** DynamoDB TTL: GitHub keeps deliveries for 3 days, so a redelivery cannot come later. */
  readonly retentionSeconds?: number;
}

const keysOf = (deliveryId: string, bodyHash: string) => [
  { pk: { S: `delivery#${deliveryId}` } },
  { pk: { S: `body#${bodyHash}` } },
];

const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** The two `Put`s of a claim, for a transaction; each fails its condition when already claimed. */
export const claimPuts = (
  tableName: string,
  claim: DeliveryClaim,
  now: Date,
  options: DeliveryClaimOptions = {},
) => {
  const nowSeconds = epochSeconds(now);
  const retentionSeconds = options.retentionSeconds ?? 3 * 24 * 3600;
  return keysOf(claim.deliveryId, claim.bodyHash).map((key) => ({
    Put: {
      TableName: tableName,
      Item: {
        ...key,
        deliveryId: { S: claim.deliveryId },
        bodyHash: { S: claim.bodyHash },
        claimState: { S: 'done' },
        claimOwner: { S: claim.owner },
        claimedAt: { S: now.toISOString() },
        expiresAt: { N: String(nowSeconds + retentionSeconds) },
      },
      ConditionExpression: 'attribute_not_exists(pk) OR (claimState = :pending AND leaseUntil < :now)',
      ExpressionAttributeValues: { ':pending': { S: 'pending' }, ':now': { N: String(nowSeconds) } },
    },
  }));
};

/** The two `Delete`s that give a claim back, only while it is still this owner's. */
export const claimDeletes = (tableName: string, claim: DeliveryClaim) =>
  keysOf(claim.deliveryId, claim.bodyHash).map((Key) => ({
    Delete: {
      TableName: tableName,
      Key,
      ConditionExpression: 'claimOwner = :owner',
      ExpressionAttributeValues: { ':owner': { S: claim.owner } },
    },
  }));
