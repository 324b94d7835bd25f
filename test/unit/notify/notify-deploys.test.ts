import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowJobDetail } from '../../../shared/events/control-plane-events.ts';
import { createNotificationRules } from '../../../shared/notify/notification-rules.ts';
import { createDeployNotifier } from '../../../shared/notify/notify-deploys.ts';
import { createDynamoRunMessageStore } from '../../../shared/notify/run-message-store.ts';
import { createRouter } from '../../../shared/routing/route-job.ts';
import type { SlackClient } from '../../../shared/slack/slack-client.ts';
import { SlackApiError } from '../../../shared/slack/slack-errors.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

let db: Awaited<ReturnType<typeof startDynamoForTest>>;
beforeAll(async () => {
  db = await startDynamoForTest();
});
afterAll(async () => db?.close());

let nextRun = 1000;
const event = (
  runId: number,
  jobId: number,
  action: WorkflowJobDetail['action'],
  conclusion: string | null = null,
): WorkflowJobDetail => ({
  action,
  jobId,
  runId,
  runAttempt: 1,
  repository: 'acme/app',
  owner: 'acme',
  labels: ['deploy'],
  workflowName: 'app-deploy',
  headBranch: 'main',
  installationId: null,
  deliveryId: `d-${jobId}-${action}`,
  runnerName: null,
  conclusion,
  jobName: `job-${jobId}`,
  headSha: 'abc1234def',
  sender: 'octo',
  startedAt: action === 'queued' ? null : '2026-11-30T10:00:00Z',
  completedAt: action === 'completed' ? '2026-11-30T10:01:00Z' : null,
});

/** A Slack that takes `delayMs` per call (so workers overlap) and records every call. */
const fakeSlack = (delayMs = 5) => {
  const calls: { method: string; text: string; ts?: string }[] = [];
  let failNext = 0;
  const slack: SlackClient = {
    async postMessage(message) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (failNext-- > 0) throw new SlackApiError('transient', 'internal_error', 'chat.postMessage', 'down');
      calls.push({ method: 'chat.postMessage', text: message.text });
      return { channel: 'C0DEPLOYS', ts: `1.${calls.length}` };
    },
    async updateMessage(message) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (failNext-- > 0)
        throw new SlackApiError('rate_limited', 'ratelimited', 'chat.update', 'slow down', 30);
      calls.push({ method: 'chat.update', text: message.text, ts: message.ts });
      return { channel: message.channel, ts: message.ts };
    },
  };
  return { slack, calls, failNext: (n: number) => (failNext = n) };
};

const notifierWith = (slack: SlackClient) =>
  createDeployNotifier({
    rules: createNotificationRules(
      [{ name: 'deploys', workflow: '-deploy$', channel: '#deploys', mentionOnFailure: '<!subteam^S1>' }],
      createRouter([]),
    ),
    store: createDynamoRunMessageStore(db.call, 'DeployNotificationsTable'),
    slack,
    webUrl: 'https://ghes.example.com',
    renderLockSeconds: 30,
  });

const shuffle = <T>(items: T[]) =>
  items
    .map((v) => [Math.random(), v] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([, v]) => v);

describe('deploy notifier state and merge', () => {
  it('posts exactly one message for a run whose events arrive concurrently and out of order, and converges on the final state', async () => {
    // Prepare: 4 jobs, each queued → in_progress → completed, all 12 events at once in random order.
    // 40 ms a call: the other events merge while the first worker holds the render lock.
    const { slack, calls } = fakeSlack(40);
    const notifier = notifierWith(slack);
    const runId = nextRun++;
    const events = [1, 2, 3, 4].flatMap((job) => [
      event(runId, job, 'queued'),
      event(runId, job, 'in_progress'),
      event(runId, job, 'completed', 'success'),
    ]);

    // Act: as several Lambdas would, each event handled on its own.
    // Staggered 2 ms apart (inside the first 40 ms render), so most merge while another worker holds the render lock.
    await Promise.all(
      shuffle(events).map(async (e, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 2));
        await notifier.handle(e);
      }),
    );

    // Assess
    expect(calls.filter((c) => c.method === 'chat.postMessage')).toHaveLength(1);
    expect(calls.at(-1)!.text).toBe('app-deploy succeeded: acme/app@main');
  });

  it('never moves a job back: a late queued after completed leaves the message as it was', async () => {
    const { slack, calls } = fakeSlack(0);
    const notifier = notifierWith(slack);
    const runId = nextRun++;
    await notifier.handle(event(runId, 1, 'completed', 'success'));
    const before = calls.length;
    await notifier.handle(event(runId, 1, 'queued'));
    await notifier.handle(event(runId, 1, 'in_progress'));
    expect(calls.length).toBe(before);
    expect(calls.at(-1)!.text).toContain('succeeded');
  });

  it('keeps an update Slack refused, and renders it on the retry even though the state is already merged', async () => {
    const { slack, calls, failNext } = fakeSlack(0);
    const notifier = notifierWith(slack);
    const runId = nextRun++;
    await notifier.handle(event(runId, 1, 'queued'));
    failNext(1);
    const failed = event(runId, 1, 'completed', 'failure');
    await expect(notifier.handle(failed)).rejects.toMatchObject({
      kind: 'rate_limited',
      retryAfterSeconds: 30,
    });
    expect(calls.at(-1)!.text).toContain('queued');

    // Act: SQS delivers the same record again.
    await notifier.handle(failed);

    // Assess
    expect(calls.at(-1)!.text).toBe('<!subteam^S1> app-deploy failed: acme/app@main');
    expect(calls.filter((c) => c.method === 'chat.postMessage')).toHaveLength(1);
  });

  it('ignores a run no rule selects', async () => {
    const { slack, calls } = fakeSlack(0);
    await notifierWith(slack).handle({ ...event(nextRun++, 1, 'queued'), workflowName: 'CI' });
    expect(calls).toEqual([]);
  });
});
