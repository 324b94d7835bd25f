import { randomUUID } from 'node:crypto';
import { AwsServiceError, isConditionFailure, type JsonCall } from '../aws/json-client.ts';
import { webhookUpdate, type RecordedBy } from '../ledger/job-ledger.ts';
import type { WorkflowJobEvent } from './workflow-job.ts';
import { claimDeletes, claimPuts, type DeliveryClaim, type DeliveryClaimOptions } from './delivery-claims.ts';

/**
 * Records an accepted delivery in one DynamoDB transaction: its two claims (delivery id, body hash)
 * and the job's ledger change. One call instead of three (claim, ledger, complete), and no state in
 * between: either the delivery is claimed and its change applied, or nothing is.
 *
 * The ledger row is the outbox. If the event then cannot be put on the bus, the intake gives the
 * claim back and answers 500, and GitHub's redelivery (or the reconciler's) publishes it: the row
 * takes the same body again. If the process dies before publishing, the reconciler finds the row
 * (`queued` with no dispatch, or `completed` with its slot still held) and acts on it.
 */
export type RecordOutcome =
  | { readonly outcome: 'duplicate' }
  | { readonly outcome: 'recorded'; readonly changed: boolean; readonly claim: DeliveryClaim };

export interface DeliveryRecorder {
  record(job: WorkflowJobEvent, by: RecordedBy): Promise<RecordOutcome>;
  /** Gives the claim back after a failure, so GitHub's redelivery is handled, not deduped. */
  release(claim: DeliveryClaim): Promise<void>;
}

export interface DeliveryRecorderTables {
  readonly deliveries: string;
  readonly jobs: string;
}

/** Which items of a cancelled transaction failed their condition (DynamoDB lists one reason per item). */
const failedConditions = (error: unknown): boolean[] | undefined => {
  if (!(error instanceof AwsServiceError) || error.name !== 'TransactionCanceledException') return undefined;
  const reasons = (error.body.CancellationReasons ?? []) as { Code?: string }[];
  return reasons.map((reason) => reason.Code === 'ConditionalCheckFailed');
};

export const createDynamoDeliveryRecorder = (
  dynamo: JsonCall,
  tables: DeliveryRecorderTables,
  options: DeliveryClaimOptions = {},
): DeliveryRecorder => ({
  async record(job, by) {
    const claim = { deliveryId: by.deliveryId, bodyHash: by.bodyHash, owner: randomUUID() };
    const claims = claimPuts(tables.deliveries, claim, by.receivedAt, options);
    try {
      await dynamo('TransactWriteItems', {
        TransactItems: [...claims, { Update: webhookUpdate(tables.jobs, job, by) }],
      });
      return { outcome: 'recorded', changed: true, claim };
    } catch (error) {
      const failed = failedConditions(error);
      if (!failed?.some(Boolean)) throw error;
      if (failed[0] || failed[1]) return { outcome: 'duplicate' };
    }
    // Only the ledger refused: the job is already at or past this status (a late `queued` after
    // `in_progress`). The delivery is still claimed, so its redelivery is a duplicate too.
    try {
      await dynamo('TransactWriteItems', { TransactItems: claims });
      return { outcome: 'recorded', changed: false, claim };
    } catch (error) {
      if (isConditionFailure(error)) return { outcome: 'duplicate' }; // the same delivery, at the same moment
      throw error;
    }
  },

  async release(claim) {
    await dynamo('TransactWriteItems', { TransactItems: claimDeletes(tables.deliveries, claim) });
  },
});
