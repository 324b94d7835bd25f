import { randomBytes } from 'node:crypto';
import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';

/**
 * Second-person approvals. The state machine's approval task stores its Step Functions task token
 * here under an opaque random id (128 bits, hex); only that id travels in Slack's button `value`. The
 * token never leaves the server: not in a message, not in a URL. The first decision wins (a
 * conditional write); later clicks learn who decided. Rows live in the operations table
 * (`pk = approval#<id>`) with a TTL attribute well past their timeout.
 *
 * `createDynamoApprovals` below is the implementation.
 */
export type ApprovalDecision = 'approve' | 'abort';

export interface ApprovalRequest {
  readonly id: string;
  readonly executionName: string;
  /** `failover` */
  readonly operation: string;
  /** Slack user ID of who asked. */
  readonly requestedBy: string;
  readonly channelId: string;
  readonly createdAt: string;
  /** After this the state machine times out the wait and aborts. */
  readonly expiresAt: string;
}

export interface OpenApproval {
  readonly executionName: string;
  readonly operation: string;
  readonly requestedBy: string;
  readonly channelId: string;
  readonly taskToken: string;
  readonly timeoutSeconds: number;
  readonly now: Date;
}

export type DecideOutcome =
  | { readonly outcome: 'decided'; readonly request: ApprovalRequest; readonly taskToken: string }
  | {
      readonly outcome: 'already';
      readonly request: ApprovalRequest;
      readonly decision: ApprovalDecision;
      readonly decidedBy: string;
      readonly decidedAt: string;
    }
  | { readonly outcome: 'unknown' };

export interface Approvals {
  open(request: OpenApproval): Promise<{ readonly id: string }>;
  /** Looks the request up without deciding (to authorize the clicker first). */
  get(id: string): Promise<ApprovalRequest | null>;
  /** Records the first decision; `already` for every later one. */
  decide(id: string, decision: ApprovalDecision, by: string, now: Date): Promise<DecideOutcome>;
}

/** Rows outlive their timeout by a week, so a late click still learns what happened. */
const APPROVAL_ROW_TTL_MARGIN_SECONDS = 7 * 24 * 3600;
/** 128 random bits in hex: unguessable, and the only thing a Slack button carries. */
const APPROVAL_ID = /^[0-9a-f]{32}$/;

interface ApprovalRow {
  executionName?: { S: string };
  operation?: { S: string };
  requestedBy?: { S: string };
  channelId?: { S: string };
  createdAt?: { S: string };
  expiresAt?: { S: string };
  taskToken?: { S: string };
  decision?: { S: string };
  decidedBy?: { S: string };
  decidedAt?: { S: string };
}

const requestOf = (id: string, row: ApprovalRow): ApprovalRequest => ({
  id,
  executionName: row.executionName?.S ?? '',
  operation: row.operation?.S ?? '',
  requestedBy: row.requestedBy?.S ?? '',
  channelId: row.channelId?.S ?? '',
  createdAt: row.createdAt?.S ?? '',
  expiresAt: row.expiresAt?.S ?? '',
});

/**
 * Approvals on the operations table (`pk = approval#<id>`). The task token is written once and read
 * back only by `decide`, to the caller that won the decision (who hands it to SendTaskSuccess); `get`
 * never returns it. An id that is not 32 hex characters is `unknown` without a read.
 *
 * @example
 * const approvals = createDynamoApprovals(dynamo, env.operationsTable);
 * const { id } = await approvals.open({ executionName, operation: 'failover', requestedBy,
 *   channelId, taskToken, timeoutSeconds: 1800, now: new Date() });
 * // …the button's value is `id`; at click time:
 * const outcome = await approvals.decide(id, 'approve', 'U0OPS0002', new Date());
 */
export const createDynamoApprovals = (dynamo: JsonCall, tableName: string): Approvals => {
  const key = (id: string) => ({ pk: { S: `approval#${id}` } });
  const read = async (id: string) =>
    (
      await dynamo<{ Item?: ApprovalRow }>('GetItem', {
        TableName: tableName,
        Key: key(id),
        ConsistentRead: true,
      })
    ).Item;

  return {
    async open({ executionName, operation, requestedBy, channelId, taskToken, timeoutSeconds, now }) {
      if (!taskToken) throw new Error('an approval needs the task token of the waiting state');
      if (!(timeoutSeconds > 0)) throw new RangeError(`approval timeoutSeconds must be positive`);
      const id = randomBytes(16).toString('hex');
      const expiresAtMs = now.getTime() + timeoutSeconds * 1000;
      await dynamo('PutItem', {
        TableName: tableName,
        Item: {
          ...key(id),
          executionName: { S: executionName },
          operation: { S: operation },
          requestedBy: { S: requestedBy },
          channelId: { S: channelId },
          taskToken: { S: taskToken },
          createdAt: { S: now.toISOString() },
          expiresAt: { S: new Date(expiresAtMs).toISOString() },
          expiresAtEpoch: { N: String(Math.ceil(expiresAtMs / 1000) + APPROVAL_ROW_TTL_MARGIN_SECONDS) },
        },
        // 128 random bits do not collide; the condition makes sure no row is ever overwritten.
        ConditionExpression: 'attribute_not_exists(pk)',
      });
      return { id };
    },

    async get(id) {
      if (!APPROVAL_ID.test(id)) return null;
      const row = await read(id);
      return row ? requestOf(id, row) : null;
    },

    async decide(id, decision, by, now) {
      if (!APPROVAL_ID.test(id)) return { outcome: 'unknown' };
      try {
        const { Attributes: row } = await dynamo<{ Attributes?: ApprovalRow }>('UpdateItem', {
          TableName: tableName,
          Key: key(id),
          UpdateExpression: 'SET decision = :decision, decidedBy = :by, decidedAt = :at',
          // The first decision wins; every later one (and a click on a row that does not exist) fails here.
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(decision)',
          ExpressionAttributeValues: {
            ':decision': { S: decision },
            ':by': { S: by },
            ':at': { S: now.toISOString() },
          },
          ReturnValues: 'ALL_NEW',
        });
        return { outcome: 'decided', request: requestOf(id, row!), taskToken: row!.taskToken!.S };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const row = await read(id);
      if (!row) return { outcome: 'unknown' };
      return {
        outcome: 'already',
        request: requestOf(id, row),
        decision: row.decision?.S as ApprovalDecision,
        decidedBy: row.decidedBy?.S ?? '',
        decidedAt: row.decidedAt?.S ?? '',
      };
    },
  };
};
