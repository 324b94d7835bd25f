import { randomBytes } from 'node:crypto';
import type { JsonCall } from '../aws/json-client.ts';
import { toItem } from '../aws/dynamo-item.ts';

/**
 * Who asked for what, who approved, what ran and how it ended: one row per event in the audit table,
 * kept (no TTL) for the auditors. Written by the Slack functions (requests, refusals, decisions) and by
 * the state machine's tasks (each step's result and the outcome).
 */
export interface AuditEntry {
  readonly at: Date;
  /** Slack user ID, or `state-machine` for what the execution did itself. */
  readonly actor: string;
  /** `request`, `refuse`, `approve`, `abort`, `step`, `result`, … */
  readonly action: string;
  /** `failover`, `failover --dry-run`, `status`, `help`. */
  readonly operation: string;
  readonly executionName?: string;
  /** `started`, `refused: not authorized`, `succeeded`, `failed: promote exit 1`, … */
  readonly result: string;
  readonly channelId?: string;
}

export interface AuditLog {
  record(entry: AuditEntry): Promise<void>;
}

/** The audit write failed: whoever asked is told, and nothing that needed the row was done. */
export class AuditWriteError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuditWriteError';
  }
}

/** DynamoDB items stop at 400 KB; an error message quoted in `result` has no need to come close. */
const MAX_RESULT_LENGTH = 1_000;

/**
 * The audit table: `pk = audit#<YYYY-MM-DD>` (UTC day of `at`), `sk = <ISO time>#<8 hex>`, so one
 * day's events read back in order with a single Query and two events in the same millisecond never
 * share a key. A row is only ever added (the condition refuses to overwrite one), never changed.
 * Errors are thrown as `AuditWriteError`; the caller decides what an unwritten row stops.
 *
 * @example
 * const audit = createDynamoAuditLog(dynamo, env.auditTable);
 * await audit.record({ at: new Date(), actor: 'U0OPS0001', action: 'request', operation: 'failover', result: 'received' });
 */
export const createDynamoAuditLog = (
  dynamo: JsonCall,
  tableName: string,
  options: { random?: () => string } = {},
): AuditLog => {
  const random = options.random ?? (() => randomBytes(4).toString('hex'));
  return {
    async record(entry) {
      const at = entry.at.toISOString();
      const item = toItem({
        pk: `audit#${at.slice(0, 10)}`,
        sk: `${at}#${random()}`,
        at,
        actor: entry.actor,
        action: entry.action,
        operation: entry.operation,
        result:
          entry.result.length > MAX_RESULT_LENGTH
            ? `${entry.result.slice(0, MAX_RESULT_LENGTH)}…`
            : entry.result,
        executionName: entry.executionName,
        channelId: entry.channelId,
      });
      try {
        await dynamo('PutItem', {
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        });
      } catch (error) {
        throw new AuditWriteError(
          `could not write the audit row (${entry.action} ${entry.operation} by ${entry.actor}): ${(error as Error).message}`,
          { cause: error },
        );
      }
    },
  };
};
