import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFailoverProgress } from '../../../shared/operations/failover-progress.ts';
import { formatDuration, renderProgress } from '../../../shared/operations/progress-message.ts';
import { createDynamoProgressStore } from '../../../shared/operations/progress-store.ts';
import { newProgress, withStep } from '../../../shared/operations/progress-record.ts';
import { SlackApiError } from '../../../shared/slack/slack-errors.ts';
import type { SlackClient } from '../../../shared/slack/slack-client.ts';
import type { AuditEntry } from '../../../shared/operations/audit-log.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

describe('the failover progress message', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  beforeEach(async () => {
    db = await startDynamoForTest();
  });
  afterEach(async () => db.close());

  const setup = (slack: Partial<SlackClient>) => {
    const audit: AuditEntry[] = [];
    const warnings: string[] = [];
    let clock = Date.parse('2026-11-30T02:00:00Z');
    const progress = createFailoverProgress({
      store: createDynamoProgressStore(db.call, 'OperationsTable'),
      slack: {
        postMessage: async (m) => ({ channel: m.channel, ts: '1.0001' }),
        updateMessage: async (m) => ({ channel: m.channel, ts: m.ts }),
        ...slack,
      },
      audit: { record: async (e) => void audit.push(e) },
      logger: { warn: (m: string) => void warnings.push(m), error: () => {} },
      now: () => new Date(clock),
    });
    const tick = (seconds: number) => void (clock += seconds * 1000);
    return { progress, audit, warnings, tick };
  };
  const begin = { execution: 'failover-x', channel: 'C0OPS0001', requestedBy: 'U0OPS0001', dryRun: false };

  it('times each step from its first start to its end and audits each result once', async () => {
    const { progress, audit, tick } = setup({});
    await progress.begin(begin);
    await progress.step('failover-x', 'drain', 'running', '3 active connections');
    tick(10);
    await progress.step('failover-x', 'drain', 'running', '1 active connections');
    tick(2.5);
    await progress.step('failover-x', 'drain', 'succeeded');
    tick(1);
    await progress.step('failover-x', 'drain', 'succeeded'); // a retried task ending it again
    const record = (await progress.get('failover-x'))!;
    expect(record.steps.drain).toMatchObject({ status: 'succeeded', detail: '1 active connections' });
    expect(Date.parse(record.steps.drain!.endedAt!) - Date.parse(record.steps.drain!.startedAt)).toBe(12_500);
    expect(audit.map((a) => a.result)).toEqual([
      'Active connections drained: succeeded in 13 s (1 active connections)',
    ]);
    expect(audit[0]).toMatchObject({
      actor: 'state-machine',
      action: 'step',
      operation: 'failover',
      executionName: 'failover-x',
    });
  });

  it('goes on when Slack fails, but not for the approval, whose buttons are the only way to approve', async () => {
    const down = new SlackApiError('transient', 'http_503', 'chat.update', 'chat.update: HTTP 503');
    const { progress, warnings } = setup({
      updateMessage: async () => {
        throw down;
      },
    });
    await progress.begin(begin);
    await expect(progress.step('failover-x', 'lock', 'succeeded')).resolves.toBeDefined();
    expect(warnings).toEqual(['failover message not updated']);
    await expect(
      progress.update('failover-x', (r, t) => withStep(r, 'approval', 'running', t), {
        requireMessage: true,
      }),
    ).rejects.toBe(down);
  });

  it('posts the message again when someone deleted it, and edits the new one from then on', async () => {
    const updates: string[] = [];
    let posts = 0;
    const { progress } = setup({
      postMessage: async (m) => ({ channel: m.channel, ts: `2.000${++posts}` }),
      updateMessage: async (m) => {
        if (m.ts === '2.0001')
          throw new SlackApiError('message_not_found', 'message_not_found', 'chat.update', 'gone');
        updates.push(m.ts);
        return { channel: m.channel, ts: m.ts };
      },
    });
    await progress.begin(begin);
    await progress.step('failover-x', 'lock', 'succeeded');
    await progress.step('failover-x', 'preflight', 'running');
    expect(posts).toBe(2);
    expect(updates).toEqual(['2.0002']);
    expect((await progress.get('failover-x'))!.ts).toBe('2.0002');
  });
});

describe('rendering', () => {
  it('formats durations as an operator reads them', () => {
    expect([0.42, 9.96, 12.4, 65, 3 * 60 + 5].map(formatDuration)).toEqual([
      '0.4 s',
      '10.0 s',
      '12 s',
      '1 min 05 s',
      '3 min 05 s',
    ]);
  });

  it('shows Approve and Abort with the approval id only while the approval runs', () => {
    const now = new Date('2026-11-30T02:00:00Z');
    const base = {
      ...newProgress({
        ...{ execution: 'e', channel: 'C0OPS0001', requestedBy: 'U0OPS0001', dryRun: false },
        now,
      }),
      approvalId: 'ab'.repeat(16),
      approvalExpiresAt: '2026-11-30T02:30:00.000Z',
    };
    const waiting = renderProgress(withStep(base, 'approval', 'running', now), now);
    const actions = waiting.blocks.find((b) => b.type === 'actions') as {
      elements: { action_id: string; value: string }[];
    };
    expect(actions.elements.map((e) => [e.action_id, e.value])).toEqual([
      ['approve', 'ab'.repeat(16)],
      ['abort', 'ab'.repeat(16)],
    ]);
    expect(waiting.text).toContain('waiting for approval');
    expect(JSON.stringify(waiting.blocks)).toContain('unanswered by 02:30 UTC it is aborted');
    const decided = renderProgress(
      withStep(withStep(base, 'approval', 'running', now), 'approval', 'succeeded', now),
      now,
    );
    expect(decided.blocks.some((b) => b.type === 'actions')).toBe(false);
  });
});
