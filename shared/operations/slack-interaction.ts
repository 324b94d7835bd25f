import type { Logger } from '@aws-lambda-powertools/logger';
import type { OperationsConfig } from '../config/operations-config.ts';
import { answeringRefusals, RejectedRequestError } from '../http/errors.ts';
import type { RawRequest } from '../http/api-gateway.ts';
import type { SigningSecretSource } from '../slack/signing-secret.ts';
import type { ApprovalDecision, Approvals } from './approvals.ts';
import type { AuditLog } from './audit-log.ts';
import { authorize } from './slack-authorization.ts';
import { AUDIT_MISSING_NOTE, createSlackAudit, NOTHING_DONE_WITHOUT_AUDIT } from './slack-audit.ts';
import type { TaskTokens } from './slack-executions.ts';
import {
  ephemeral,
  readSignedForm,
  SLACK_CHANNEL_ID,
  SLACK_USER_ID,
  type SlackAnswer,
} from './slack-request.ts';
import type { ClickReplies } from './slack-response-url.ts';

/**
 * `POST /slack/interactions`: the Approve and Abort buttons of a waiting failover. The button
 * carries only the approval's opaque id; the task token stays in the operations table. At click
 * time: the clicker must be authorized (user and channel IDs from config), may not approve their
 * own request when `approverMustDiffer` (aborting it is always allowed), and the first decision
 * wins. The decision reaches the execution as `SendTaskSuccess(token, {"decision","by"})`.
 */
export interface Click {
  readonly decision: ApprovalDecision;
  readonly approvalId: string;
  readonly userId: string;
  readonly channelId: string | undefined;
  readonly responseUrl: string | undefined;
}

/** Approval ids are random hex from the approvals store; anything far off is not one of ours. */
const APPROVAL_ID = /^[A-Za-z0-9_-]{8,128}$/;

const bad = (message: string) => new RejectedRequestError(400, `payload: ${message}`);

/** Reads Slack's standard `block_actions` payload (form field `payload`, JSON). */
export const parseClick = (form: URLSearchParams): Click => {
  const raw = form.get('payload');
  if (!raw) throw bad('missing (expected the form field payload with Slack block_actions JSON)');
  let payload: unknown;
  try {
    payload = JSON.parse(raw);
  } catch {
    throw bad('not valid JSON');
  }
  if (typeof payload !== 'object' || payload === null) throw bad('expected a JSON object');
  const p = payload as {
    type?: unknown;
    user?: { id?: unknown };
    channel?: { id?: unknown } | null;
    container?: { channel_id?: unknown };
    actions?: unknown;
    response_url?: unknown;
  };
  if (p.type !== 'block_actions') throw bad(`type ${JSON.stringify(p.type)} is not block_actions`);
  const userId = p.user?.id;
  if (typeof userId !== 'string' || !SLACK_USER_ID.test(userId))
    throw bad('user.id: expected a Slack user ID');
  const channelId = p.channel?.id ?? p.container?.channel_id;
  if (channelId !== undefined && (typeof channelId !== 'string' || !SLACK_CHANNEL_ID.test(channelId)))
    throw bad('channel.id: expected a Slack channel ID');
  if (!Array.isArray(p.actions) || p.actions.length !== 1) throw bad('actions: expected exactly one action');
  const action = p.actions[0] as { action_id?: unknown; value?: unknown } | null;
  const decision = action?.action_id;
  if (decision !== 'approve' && decision !== 'abort')
    throw bad(`actions[0].action_id: expected approve or abort`);
  const approvalId = action?.value;
  if (typeof approvalId !== 'string' || !APPROVAL_ID.test(approvalId))
    throw bad('actions[0].value: expected an approval id');
  return {
    decision,
    approvalId,
    userId,
    channelId: channelId as string | undefined,
    responseUrl: typeof p.response_url === 'string' ? p.response_url : undefined,
  };
};

export interface SlackInteractionDeps {
  readonly signingSecret: SigningSecretSource;
  readonly operations: OperationsConfig;
  readonly approvals: Approvals;
  readonly tasks: TaskTokens;
  readonly audit: AuditLog;
  readonly replies: ClickReplies;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error' | 'appendKeys'>;
  readonly now?: () => Date;
}

const past = { approve: 'approved', abort: 'aborted' } as const;

export const createSlackInteractions = (deps: SlackInteractionDeps) => {
  const now = deps.now ?? (() => new Date());
  const { logger } = deps;
  const audit = createSlackAudit(deps.audit, logger);

  /** The reply text for a click; what the clicker sees. */
  const decide = async (click: Click): Promise<string> => {
    const { decision, userId: user } = click;
    const entry = (action: string, operation: string, result: string, executionName?: string) => ({
      at: now(),
      actor: user,
      action,
      operation,
      result,
      ...(click.channelId ? { channelId: click.channelId } : {}),
      ...(executionName ? { executionName } : {}),
    });
    const refuse = async (operation: string, result: string, text: string, executionName?: string) => {
      logger.info('click refused', { result });
      const written = await audit.after(entry('refuse', operation, result, executionName));
      return `${text}${written ? '' : AUDIT_MISSING_NOTE}`;
    };

    // Who clicked is judged before the store is read: a click with no rights costs nothing more.
    const refusal = authorize(deps.operations.slack, user, click.channelId);
    if (refusal)
      return refuse(
        'approval',
        `refused: ${refusal.code === 'user' ? 'user not authorized' : 'channel not allowed'} (approval ${click.approvalId})`,
        `Refused: ${refusal.reason}. Your click changed nothing.`,
      );

    const request = await deps.approvals.get(click.approvalId);
    if (!request)
      return refuse(
        'approval',
        `refused: unknown approval ${click.approvalId}`,
        'This approval is unknown or has expired; your click changed nothing.',
      );
    const { operation, executionName } = request;
    logger.appendKeys({ executionName });
    if (Date.parse(request.expiresAt) <= now().getTime())
      return refuse(
        operation,
        'refused: approval expired',
        `This approval expired at ${request.expiresAt}: \`${executionName}\` no longer waits for it. Your click changed nothing.`,
        executionName,
      );
    if (decision === 'approve' && deps.operations.slack.approverMustDiffer && user === request.requestedBy)
      return refuse(
        operation,
        'refused: self-approval',
        `Refused: you asked for this ${operation}, so someone else must approve it (operations.slack.approverMustDiffer). You may still abort it.`,
        executionName,
      );

    try {
      await audit.before(entry(decision, operation, 'received', executionName));
    } catch {
      return NOTHING_DONE_WITHOUT_AUDIT;
    }
    const outcome = await deps.approvals.decide(click.approvalId, decision, user, now());
    if (outcome.outcome === 'unknown')
      return refuse(
        operation,
        'refused: unknown approval',
        'This approval is unknown or has expired; your click changed nothing.',
        executionName,
      );
    if (outcome.outcome === 'already')
      return refuse(
        operation,
        `refused: already decided by ${outcome.decidedBy} (${outcome.decision})`,
        `Already decided by <@${outcome.decidedBy}> (${outcome.decision}) at ${outcome.decidedAt}; your click changed nothing.`,
        executionName,
      );

    let answer;
    try {
      answer = await deps.tasks.succeed(outcome.taskToken, { decision, by: user });
    } catch (error) {
      // Recorded but not delivered: the execution keeps waiting and aborts at its timeout, which
      // changes nothing. Later clicks see the recorded decision, so the way forward is a new request.
      logger.error('decision recorded but not delivered to the execution', { error: error as Error });
      const written = await audit.after(
        entry(decision, operation, `decided, not delivered: ${(error as Error).name}`, executionName),
      );
      return (
        `Your ${decision} was recorded but Step Functions did not take it (${(error as Error).name}). ` +
        `\`${executionName}\` keeps waiting and aborts at ${request.expiresAt}, changing nothing; ask again with \`/ghes failover\` if it is still needed.` +
        (written ? '' : AUDIT_MISSING_NOTE)
      );
    }
    if (answer === 'expired') {
      const written = await audit.after(
        entry(decision, operation, 'expired: the execution no longer waits', executionName),
      );
      return `This approval expired: \`${executionName}\` no longer waits for it (timed out or ended). Your click changed nothing.${written ? '' : AUDIT_MISSING_NOTE}`;
    }
    logger.info('decision delivered', { decision });
    const written = await audit.after(entry(decision, operation, past[decision], executionName));
    const next =
      decision === 'approve'
        ? 'it continues; the message above shows each step.'
        : 'it stops without changing anything.';
    return `You ${past[decision]} \`${executionName}\`: ${next}${written ? '' : AUDIT_MISSING_NOTE}`;
  };

  const handle = async (request: RawRequest): Promise<SlackAnswer> => {
    const form = await readSignedForm(request, deps.signingSecret, now());
    const click = parseClick(form);
    logger.appendKeys({ slackUser: click.userId, slackChannel: click.channelId, decision: click.decision });
    const text = await decide(click);
    // Slack shows a click's reply only through response_url; the same text is the ack body, which
    // is what the sandbox and tests read.
    await deps.replies.reply(click.responseUrl, text);
    return ephemeral(text);
  };

  return {
    /** Always answers: refusals carry their status, anything unexpected is a generic 500. */
    receive: answeringRefusals(handle, logger, 'interaction failed'),
  };
};

export type SlackInteractions = ReturnType<typeof createSlackInteractions>;
