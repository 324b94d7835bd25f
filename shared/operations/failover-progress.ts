import type { Logger } from '@aws-lambda-powertools/logger';
import type { SlackClient } from '../slack/slack-client.ts';
import { SlackApiError } from '../slack/slack-errors.ts';
import type { AuditLog } from './audit-log.ts';
import { formatDuration, renderProgress } from './progress-message.ts';
import {
  labelOf,
  newProgress,
  stepSeconds,
  withStep,
  type Outcome,
  type ProgressRecord,
  type StepId,
  type StepStatus,
} from './progress-record.ts';
import type { ProgressStore } from './progress-store.ts';

/**
 * The failover's Slack message and audit trail. Every change is written to the store first (so a
 * later task, or the cleanup after a crash, knows what ran), then the message is posted once and
 * edited in place; each step's end and the outcome go to the audit log.
 *
 * Slack and the audit log are reported, never in the way: a failover must not stop halfway because
 * chat.update was rate limited. The two exceptions ask for it: the approval (`requireMessage`: the
 * buttons are the only way to approve) and the loud alert (`finish` of `needs-operator`).
 */
export interface FailoverProgress {
  begin(p: {
    execution: string;
    channel: string;
    requestedBy: string;
    dryRun: boolean;
  }): Promise<ProgressRecord>;
  get(execution: string): Promise<ProgressRecord | null>;
  /** Applies `change` and shows the result. */
  update(
    execution: string,
    change: (record: ProgressRecord, now: Date) => ProgressRecord,
    options?: { requireMessage?: boolean },
  ): Promise<ProgressRecord>;
  step(execution: string, id: StepId, status: StepStatus, detail?: string): Promise<ProgressRecord>;
  finish(execution: string, outcome: Outcome): Promise<ProgressRecord>;
}

export interface ProgressDeps {
  readonly store: ProgressStore;
  readonly slack: SlackClient;
  readonly audit: AuditLog;
  readonly logger: Pick<Logger, 'warn' | 'error'>;
  readonly now?: () => Date;
}

const operationOf = (record: ProgressRecord) => (record.dryRun ? 'failover --dry-run' : 'failover');

export const createFailoverProgress = (deps: ProgressDeps): FailoverProgress => {
  const now = deps.now ?? (() => new Date());

  const audit = async (record: ProgressRecord, action: string, result: string) => {
    try {
      await deps.audit.record({
        at: now(),
        actor: 'state-machine',
        action,
        operation: operationOf(record),
        executionName: record.execution,
        result,
        channelId: record.channel,
      });
    } catch (error) {
      // The failover goes on; the log line is the audit trail's fallback.
      deps.logger.error('audit row not written', { action, result, error: String(error) });
    }
  };

  /** Writes with the store's version; retried when another writer moved the row on. */
  const save = async (execution: string, change: (r: ProgressRecord) => ProgressRecord) => {
    for (let attempt = 1; ; attempt++) {
      const current = await deps.store.get(execution);
      if (!current) throw new Error(`no progress record for execution ${execution}`);
      const next = change(current.record);
      if (await deps.store.put(next, current.version)) return { before: current.record, after: next };
      if (attempt >= 5) throw new Error(`progress record of ${execution} kept changing under us`);
    }
  };

  const show = async (record: ProgressRecord, requireMessage: boolean): Promise<ProgressRecord> => {
    const message = { channel: record.channel, ...renderProgress(record, now()) };
    try {
      if (record.ts) {
        try {
          await deps.slack.updateMessage({ ...message, ts: record.ts });
          return record;
        } catch (error) {
          // Someone deleted the message: post it again rather than lose the run's progress.
          if (!(error instanceof SlackApiError && error.kind === 'message_not_found')) throw error;
        }
      }
      const posted = await deps.slack.postMessage(message);
      return (await save(record.execution, (r) => ({ ...r, channel: posted.channel, ts: posted.ts }))).after;
    } catch (error) {
      if (requireMessage) throw error;
      deps.logger.warn('failover message not updated', { execution: record.execution, error: String(error) });
      return record;
    }
  };

  const progress: FailoverProgress = {
    async begin({ execution, channel, requestedBy, dryRun }) {
      const existing = await deps.store.get(execution);
      if (existing) return existing.record; // a retried first task
      const record = newProgress({ execution, channel, requestedBy, dryRun, now: now() });
      if (!(await deps.store.put(record, 0))) return (await deps.store.get(execution))!.record;
      return show(record, false);
    },

    async get(execution) {
      return (await deps.store.get(execution))?.record ?? null;
    },

    async update(execution, change, options) {
      const { after } = await save(execution, (r) => change(r, now()));
      return show(after, options?.requireMessage ?? false);
    },

    async step(execution, id, status, detail) {
      const { before, after } = await save(execution, (r) => withStep(r, id, status, now(), detail));
      const ended = after.steps[id]!;
      // One audit row per step result; a retried task that ends it again adds none.
      if (status !== 'running' && before.steps[id]?.status !== status)
        await audit(
          after,
          'step',
          `${labelOf(id)}: ${status} in ${formatDuration(stepSeconds(ended, now()))}${ended.detail ? ` (${ended.detail})` : ''}`,
        );
      return show(after, false);
    },

    async finish(execution, outcome) {
      const { before, after } = await save(execution, (r) => ({ ...r, outcome, approvalId: null }));
      if (before.outcome?.kind !== outcome.kind)
        await audit(after, 'result', `${outcome.kind}: ${outcome.summary}`);
      return show(after, outcome.kind === 'needs-operator');
    },
  };
  return progress;
};
