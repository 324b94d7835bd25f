import * as z from 'zod/mini';

/**
 * The failover execution's state as the ASL (state-machines/ghes-failover.asl.json) builds it: the
 * Slack command's input, then each task's result under its own key. Every task receives the whole
 * state (`"state.$": "$"`) and reads what it needs; a key a task needs that an earlier state did not
 * write is a bug in the ASL, named by the parse error.
 */
const slackUser = z.string().check(z.regex(/^[UW][A-Z0-9]{2,}$/, 'expected a Slack user ID'));
const slackChannel = z.string().check(z.regex(/^[CG][A-Z0-9]{2,}$/, 'expected a Slack channel ID'));

/** What the Slack command starts the execution with (the contract in issue 14). */
export const failoverInputSchema = z.object({
  operation: z._default(z.literal('failover'), 'failover'),
  dryRun: z._default(z.boolean(), false),
  requestedBy: slackUser,
  channelId: slackChannel,
  /** The execution name the Slack command took the lock as; the execution's own name otherwise. */
  lockOwner: z.optional(z.string().check(z.minLength(1), z.maxLength(80))),
  approvalTimeoutSeconds: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(86_400))),
});

const runSchema = z.object({
  execution: z.string(),
  owner: z.string(),
  dryRun: z.boolean(),
  requestedBy: z.string(),
  channelId: z.string(),
  approvalTimeoutSeconds: z.number(),
});
export type FailoverRun = z.infer<typeof runSchema>;

const preflightSchema = z.object({
  ok: z.boolean(),
  reason: z.string(),
  primary: z.string(),
  replica: z.string(),
  primaryReachable: z.boolean(),
  primaryMaintenanceBefore: z.nullable(z.boolean()),
  summary: z.string(),
});
export type Preflight = z.infer<typeof preflightSchema>;

const pollSchema = z.object({ attempt: z.number(), done: z.boolean(), giveUp: z.boolean() });
export type Poll = z.infer<typeof pollSchema>;

/** A caught error as Step Functions puts it at the Catch's ResultPath. */
const caughtSchema = z.object({ Error: z.optional(z.string()), Cause: z.optional(z.string()) });
export type Caught = z.infer<typeof caughtSchema>;

export const STOP_REASONS = [
  'preflight-refused',
  'approval-aborted',
  'approval-timeout',
  'replication-not-in-sync',
  'promote-failed',
  'promote-timeout',
  'not-verified',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export const failoverStateSchema = z.object({
  ...failoverInputSchema.shape,
  run: z.optional(runSchema),
  preflight: z.optional(preflightSchema),
  approval: z.optional(z.object({ decision: z.enum(['approve', 'abort']), by: z.string() })),
  maintenance: z.optional(z.object({ setByUs: z.boolean() })),
  drain: z.optional(pollSchema),
  replication: z.optional(pollSchema),
  promote: z.optional(z.object({ commandId: z.string() })),
  promotePoll: z.optional(pollSchema),
  dnsChange: z.optional(z.object({ changeId: z.string() })),
  dnsSync: z.optional(pollSchema),
  verify: z.optional(pollSchema),
  undo: z.optional(z.object({ undone: z.boolean(), detail: z.string() })),
  stop: z.optional(z.object({ reason: z.enum(STOP_REASONS) })),
  error: z.optional(caughtSchema),
  undoError: z.optional(caughtSchema),
});
export type FailoverState = z.infer<typeof failoverStateSchema>;

/** Thrown for a task input the ASL should never produce; not retried, caught as any error. */
export class FailoverInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FailoverInputError';
  }
}

export const parseFailoverState = (state: unknown): FailoverState => {
  const parsed = failoverStateSchema.safeParse(state);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(state)'}: ${i.message}`);
  throw new FailoverInputError(`failover state: ${problems.join('; ')}`);
};

/** The run's context, which every task after AcquireLock needs. */
export const runOf = (state: FailoverState): FailoverRun => {
  if (!state.run) throw new FailoverInputError('failover state: run missing (AcquireLock did not run)');
  return state.run;
};

export const preflightOf = (state: FailoverState): Preflight => {
  if (!state.preflight) throw new FailoverInputError('failover state: preflight missing');
  return state.preflight;
};

/**
 * What a Lambda error looks like to a person: Step Functions gives the Cause as the Lambda's error
 * JSON (`{"errorType","errorMessage",…}`); the message is what matters.
 */
export const describeCaught = (caught: Caught | undefined): string => {
  if (!caught) return '';
  let message = caught.Cause ?? '';
  try {
    const parsed = JSON.parse(message) as { errorMessage?: string };
    if (parsed.errorMessage) message = parsed.errorMessage;
  } catch {
    // a plain-text cause
  }
  return [caught.Error, message].filter(Boolean).join(': ').slice(0, 500);
};
