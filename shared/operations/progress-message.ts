import type { KnownBlock } from '@slack/web-api';
import {
  DRY_RUN_STEPS,
  FAILOVER_STEPS,
  labelOf,
  stepSeconds,
  type OutcomeKind,
  type ProgressRecord,
  type StepRecord,
} from './progress-record.ts';

/**
 * The failover's one Slack message, rendered from its record: a header, a line per step with its
 * timing, the Approve/Abort buttons while the approval waits (their value is the approval's opaque
 * id, never the task token), and the outcome with what to do next. Pure: the same record gives the
 * same message, so every chat.update rewrites it whole.
 */
export const APPROVE_ACTION = 'approve';
export const ABORT_ACTION = 'abort';

const ICON: Record<StepRecord['status'] | 'pending', string> = {
  pending: ':white_small_square:',
  running: ':hourglass_flowing_sand:',
  succeeded: ':white_check_mark:',
  failed: ':x:',
  skipped: ':heavy_minus_sign:',
};

const OUTCOME_ICON: Record<OutcomeKind, string> = {
  succeeded: ':white_check_mark:',
  'dry-run': ':mag:',
  aborted: ':no_entry_sign:',
  failed: ':x:',
  'needs-operator': ':rotating_light:',
};

/** `0.4 s`, `12 s`, `3 min 05 s`. */
export const formatDuration = (seconds: number): string => {
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
};

const stepLine = (record: ProgressRecord, id: (typeof FAILOVER_STEPS)[number]['id'], now: Date) => {
  const step = record.steps[id];
  if (!step) return `${ICON.pending} ${labelOf(id)}`;
  const timing = formatDuration(stepSeconds(step, now));
  const detail = step.detail ? ` — ${step.detail}` : '';
  return `${ICON[step.status]} ${labelOf(id)} (${step.status === 'running' ? `${timing} so far` : timing})${detail}`;
};

const title = (record: ProgressRecord) => {
  const route = record.from && record.to ? ` ${record.from} → ${record.to}` : '';
  return record.dryRun ? `GHES failover dry run${route}` : `GHES failover${route}`;
};

export const renderProgress = (record: ProgressRecord, now: Date): { text: string; blocks: KnownBlock[] } => {
  const visible = FAILOVER_STEPS.filter((s) => !record.dryRun || DRY_RUN_STEPS.includes(s.id));
  const lines = visible.map((s) => stepLine(record, s.id, now));
  const blocks: KnownBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*${title(record)}*\nrequested by <@${record.requestedBy}> · execution \`${record.execution}\``,
      },
    },
    { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } },
  ];
  const waiting = record.approvalId && record.steps.approval?.status === 'running' && !record.outcome;
  if (waiting) {
    blocks.push({
      type: 'actions',
      block_id: 'failover-approval',
      elements: [
        {
          type: 'button',
          action_id: APPROVE_ACTION,
          style: 'primary',
          text: { type: 'plain_text', text: 'Approve' },
          value: record.approvalId!,
          confirm: {
            title: { type: 'plain_text', text: 'Fail over GHES?' },
            text: {
              type: 'mrkdwn',
              text: `Promote *${record.to ?? 'the replica'}* and point DNS at it. This cannot be undone from Slack.`,
            },
            confirm: { type: 'plain_text', text: 'Fail over' },
            deny: { type: 'plain_text', text: 'Cancel' },
          },
        },
        {
          type: 'button',
          action_id: ABORT_ACTION,
          style: 'danger',
          text: { type: 'plain_text', text: 'Abort' },
          value: record.approvalId!,
        },
      ],
    });
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `Waiting for an authorized operator to approve or abort${
            record.approvalExpiresAt
              ? `; unanswered by ${record.approvalExpiresAt.slice(11, 16)} UTC it is aborted`
              : ''
          }.`,
        },
      ],
    });
  }
  if (record.outcome) {
    const next = record.outcome.nextSteps.map((s, i) => `${i + 1}. ${s}`).join('\n');
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `${OUTCOME_ICON[record.outcome.kind]} *${record.outcome.summary}*${next ? `\n*What to do next*\n${next}` : ''}`.slice(
          0,
          3000,
        ),
      },
    });
  }
  const status = record.outcome
    ? record.outcome.summary
    : waiting
      ? 'waiting for approval'
      : (lines.find((l) => l.startsWith(ICON.running)) ?? 'starting');
  return { text: `${title(record)}: ${status}`.slice(0, 3000), blocks };
};
