import type { Logger } from '@aws-lambda-powertools/logger';
import type { OperationsConfig } from '../config/operations-config.ts';
import { answeringRefusals, RejectedRequestError } from '../http/errors.ts';
import type { RawRequest } from '../http/api-gateway.ts';
import type { SigningSecretSource } from '../slack/signing-secret.ts';
import type { AuditLog } from './audit-log.ts';
import { authorize } from './slack-authorization.ts';
import { AUDIT_MISSING_NOTE, createSlackAudit, NOTHING_DONE_WITHOUT_AUDIT } from './slack-audit.ts';
import { operationName, type FailoverStarter } from './slack-failover-start.ts';
import {
  ephemeral,
  escapeMrkdwn,
  readSignedForm,
  SLACK_CHANNEL_ID,
  SLACK_USER_ID,
  type SlackAnswer,
} from './slack-request.ts';
import { describeHolder, renderStatus, type StatusDeps } from './slack-status.ts';

/**
 * `POST /slack/commands`: the `/ghes` slash command. The signature is checked before anything else
 * (401 otherwise); a signed `ssl_check` is a bare 200. Every answer to a signed, well-formed command
 * is the HTTP 200 body Slack shows the asker only (`response_type: ephemeral`), refusals included,
 * and comes within Slack's 3 s: the failover itself runs in Step Functions, which posts its own
 * progress message.
 */
export const SLASH_COMMAND = '/ghes';

export interface SlackCommandDeps {
  readonly signingSecret: SigningSecretSource;
  readonly operations: OperationsConfig;
  readonly audit: AuditLog;
  readonly startFailover: FailoverStarter;
  readonly status: Pick<StatusDeps, 'topology' | 'locks'>;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error' | 'appendKeys'>;
  readonly now?: () => Date;
}

type Verb = { verb: 'help'; problem?: string } | { verb: 'status' } | { verb: 'failover'; dryRun: boolean };

const HELP = [
  '*`/ghes` — GHES operations*',
  '• `/ghes status`: which appliance is primary, the operation lock, what is known of replication and maintenance.',
  '• `/ghes failover --dry-run`: checks replication, the primary and DNS, and reports; changes nothing.',
  '• `/ghes failover`: promotes the replica and points DNS at it, after a second authorized person approves.',
  '• `/ghes help`: this text.',
  'Operations are open to the people and channels in `operations.slack` of the deployment config.',
].join('\n');

/** The text after the command; only these exact words do anything. */
export const parseCommandText = (text: string): Verb => {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [first, ...rest] = words;
  if (first === undefined || (first === 'help' && rest.length === 0)) return { verb: 'help' };
  if (first === 'status' && rest.length === 0) return { verb: 'status' };
  if (first === 'failover' && rest.length === 0) return { verb: 'failover', dryRun: false };
  if (first === 'failover' && rest.length === 1 && rest[0] === '--dry-run')
    return { verb: 'failover', dryRun: true };
  // Echoed back, escaped and cut short: only the asker sees it, but a mention must stay text.
  const shown = escapeMrkdwn(text.trim().slice(0, 80));
  return { verb: 'help', problem: `\`${shown}\` is not a \`${SLASH_COMMAND}\` command I know.` };
};

export const createSlackCommands = (deps: SlackCommandDeps) => {
  const now = deps.now ?? (() => new Date());
  const { logger } = deps;
  const audit = createSlackAudit(deps.audit, logger);

  const handle = async (request: RawRequest): Promise<SlackAnswer> => {
    const form = await readSignedForm(request, deps.signingSecret, now());
    // Slack checks the endpoint's certificate with a signed `ssl_check=1`: answered with nothing.
    if (form.get('ssl_check') === '1') return { status: 200 };

    const command = form.get('command');
    const user = form.get('user_id') ?? '';
    const channel = form.get('channel_id') ?? '';
    if (!command) throw new RejectedRequestError(400, 'missing command field');
    if (!SLACK_USER_ID.test(user)) throw new RejectedRequestError(400, 'user_id: expected a Slack user ID');
    if (!SLACK_CHANNEL_ID.test(channel))
      throw new RejectedRequestError(400, 'channel_id: expected a Slack channel ID');
    const parsed: Verb =
      command === SLASH_COMMAND
        ? parseCommandText(form.get('text') ?? '')
        : {
            verb: 'help',
            problem: `\`${escapeMrkdwn(command.slice(0, 40))}\` is not a command this app serves.`,
          };
    logger.appendKeys({ slackUser: user, slackChannel: channel, verb: parsed.verb });
    const entry = (action: string, operation: string, result: string, executionName?: string) => ({
      at: now(),
      actor: user,
      action,
      operation,
      result,
      channelId: channel,
      ...(executionName ? { executionName } : {}),
    });

    if (parsed.verb === 'help') {
      await audit.after(entry('request', 'help', parsed.problem ? 'answered: unknown command' : 'answered'));
      return ephemeral(parsed.problem ? `${parsed.problem}\n${HELP}` : HELP);
    }

    const operation = parsed.verb === 'status' ? 'status' : operationName(parsed.dryRun);
    const refusal = authorize(deps.operations.slack, user, channel);
    if (refusal) {
      logger.warn('command refused', { reason: refusal.code, operation });
      const written = await audit.after(
        entry(
          'refuse',
          operation,
          `refused: ${refusal.code === 'user' ? 'user not authorized' : 'channel not allowed'}`,
        ),
      );
      return ephemeral(
        `Refused: ${refusal.reason}. Nothing was started.${written ? '' : AUDIT_MISSING_NOTE}`,
      );
    }

    if (parsed.verb === 'status') {
      const text = await renderStatus({ ...deps.status, operations: deps.operations, now });
      const written = await audit.after(entry('request', 'status', 'answered'));
      return ephemeral(written ? text : `${text}${AUDIT_MISSING_NOTE}`);
    }

    try {
      await audit.before(entry('request', operation, 'received'));
    } catch {
      return ephemeral(NOTHING_DONE_WITHOUT_AUDIT);
    }
    let start;
    try {
      start = await deps.startFailover({ dryRun: parsed.dryRun, requestedBy: user, channelId: channel });
    } catch (error) {
      // The lock store did not answer: nothing was taken, nothing started.
      logger.error('could not take the operation lock', { error: error as Error });
      const written = await audit.after(
        entry('result', operation, `failed: lock not taken (${(error as Error).name})`),
      );
      return ephemeral(
        `Could not start \`${operation}\`: the operation lock could not be taken (${(error as Error).name}). Nothing was started; try again.${written ? '' : AUDIT_MISSING_NOTE}`,
      );
    }

    if (start.outcome === 'locked') {
      const { holder } = start;
      logger.info('command refused: lock held', { holder: holder.owner });
      const written = await audit.after(
        entry(
          'refuse',
          operation,
          `refused: lock held by ${holder.owner} (${holder.operation}, asked by ${holder.requestedBy}, since ${holder.acquiredAt})`,
        ),
      );
      return ephemeral(
        `Refused: another operation is running: ${describeHolder(start.holder)}. Nothing was started.${written ? '' : AUDIT_MISSING_NOTE}`,
      );
    }

    logger.appendKeys({ executionName: start.executionName });
    if (start.outcome === 'failed') {
      logger.error('could not start the execution', { error: start.error, lockReleased: start.released });
      const written = await audit.after(
        entry('result', operation, `failed to start: ${start.error.name}`, start.executionName),
      );
      return ephemeral(
        `Could not start \`${operation}\`: Step Functions answered ${start.error.name}. Nothing was started; ` +
          (start.released
            ? 'the lock was released, so you can try again.'
            : 'the lock could not be released either; the next request frees it after a minute.') +
          (written ? '' : AUDIT_MISSING_NOTE),
      );
    }

    logger.info('execution started');
    const written = await audit.after(entry('start', operation, 'started', start.executionName));
    const what = parsed.dryRun
      ? 'Dry run started: it checks replication, the primary and DNS, reports here, and changes nothing.'
      : 'Failover started: nothing changes until a second authorized person approves in the message that follows.';
    return ephemeral(`${what} Execution \`${start.executionName}\`.${written ? '' : AUDIT_MISSING_NOTE}`);
  };

  return {
    /** Always answers: refusals carry their status, anything unexpected is a generic 500. */
    receive: answeringRefusals(handle, logger, 'command failed'),
  };
};

export type SlackCommands = ReturnType<typeof createSlackCommands>;
