/**
 * Second-person approvals. The state machine's approval task stores its Step Functions task token
 * here under an opaque random id (128 bits, hex); only that id travels in Slack's button `value`. The
 * token never leaves the server: not in a message, not in a URL. The first decision wins (a
 * conditional write); later clicks learn who decided. Rows live in the operations table
 * (`pk = approval#<id>`) with a TTL attribute well past their timeout.
 *
 * Contract only: the DynamoDB implementation lands with the failover state machine.
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
