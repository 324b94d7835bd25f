/**
 * Who asked for what, who approved, what ran and how it ended: one row per event in the audit table,
 * kept (no TTL) for the auditors. Written by the Slack functions (requests, refusals, decisions) and by
 * the state machine's tasks (each step's result and the outcome).
 *
 * Contract only: the DynamoDB implementation lands with the Slack functions.
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
