import { randomUUID } from 'node:crypto';
import type { WorkflowJobDetail } from '../events/control-plane-events.ts';
import type { SlackClient } from '../slack/slack-client.ts';
import { SlackApiError } from '../slack/slack-errors.ts';
import type { NotificationRules } from './notification-rules.ts';
import { renderRunMessage } from './render-run-message.ts';
import type { RunKey, RunMessageStore } from './run-message-store.ts';
import type { JobStatus, RunJob } from './run-state.ts';

export interface DeployNotifier {
  /** Applies one job event to every run message it belongs to; throws when Slack must be retried. */
  handle(job: WorkflowJobDetail): Promise<{ rules: readonly string[] }>;
}

export interface DeployNotifierDeps {
  readonly rules: NotificationRules;
  readonly store: RunMessageStore;
  readonly slack: SlackClient;
  /** GHES's web address for links. */
  readonly webUrl: string;
  /**
   * How long a worker may hold a run's render lock: longer than the Lambda's timeout, so a live
   * worker never loses it, and shorter than the queue's visibility timeout, so the retry of a
   * crashed worker's message finds it expired.
   */
  readonly renderLockSeconds: number;
  readonly now?: () => Date;
}

/** Rounds of render → re-read before giving the message back to SQS; each round renders newer state. */
const MAX_ROUNDS = 5;

const TRACKED = new Set<string>(['queued', 'waiting', 'in_progress', 'completed']);

/** The message is behind and this worker could not catch it up in `MAX_ROUNDS`: let SQS retry. */
export class RunMessageBehindError extends Error {
  override name = 'RunMessageBehindError';
}

const jobOf = (detail: WorkflowJobDetail): RunJob => ({
  jobId: detail.jobId,
  name: detail.jobName ?? '',
  status: detail.action as JobStatus,
  conclusion: detail.conclusion,
  createdAt: detail.createdAt ?? null,
  startedAt: detail.startedAt ?? null,
  completedAt: detail.completedAt ?? null,
});

/**
 * Deploy notifications: one Slack message per matching run, posted when its first job event
 * arrives and edited in place as jobs start and finish. See run-message-store.ts for why exactly one
 * message is posted and why it converges on the latest state whatever order events arrive in.
 */
export const createDeployNotifier = (deps: DeployNotifierDeps): DeployNotifier => {
  const now = deps.now ?? (() => new Date());

  /** Renders the run until its message shows the latest stored state, or another worker holds it. */
  const publish = async (key: RunKey, channel: string, mention: string | undefined) => {
    const owner = randomUUID();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const at = now();
      const state = await deps.store.acquireRender(
        key,
        owner,
        at,
        new Date(at.getTime() + deps.renderLockSeconds * 1000),
      );
      // Held by another worker: it reads the state again after letting go, and sees this merge.
      if (!state) return;
      if (state.renderedVersion >= state.version) {
        await deps.store.release(key, owner);
      } else {
        const message = renderRunMessage(state, {
          webUrl: deps.webUrl,
          now: at,
          ...(mention ? { mentionOnFailure: mention } : {}),
        });
        let posted;
        try {
          posted = state.message
            ? await deps.slack
                .updateMessage({ ...message, channel: state.message.channel, ts: state.message.ts })
                .catch((error: unknown) => {
                  // Someone deleted the message: post it again rather than never showing the run.
                  if (error instanceof SlackApiError && error.kind === 'message_not_found')
                    return deps.slack.postMessage({ ...message, channel });
                  throw error;
                })
            : await deps.slack.postMessage({ ...message, channel });
        } catch (error) {
          // Let the next attempt (this message's SQS retry, or another event's worker) render at once.
          await deps.store.release(key, owner).catch(() => undefined);
          throw error;
        }
        // Lost the lock (this invocation overran it): the new holder renders from the stored state.
        if (!(await deps.store.recordRendered(key, owner, state.version, posted))) return;
      }
      const after = await deps.store.read(key);
      if (!after || after.renderedVersion >= after.version) return;
    }
    throw new RunMessageBehindError(
      `run ${key.repository}#${key.runId}: message still behind after ${MAX_ROUNDS} rounds`,
    );
  };

  return {
    async handle(detail) {
      if (!TRACKED.has(detail.action)) return { rules: [] };
      const rules = deps.rules.match(detail);
      for (const rule of rules) {
        const key: RunKey = {
          repository: detail.repository,
          runId: detail.runId,
          runAttempt: detail.runAttempt,
          rule: rule.name,
        };
        await deps.store.mergeJob(
          key,
          {
            workflow: detail.workflowName ?? '',
            channel: rule.channel,
            branch: detail.headBranch,
            headSha: detail.headSha ?? null,
            sender: detail.sender ?? null,
          },
          jobOf(detail),
          now(),
        );
        // Also when nothing changed: a retry of a message whose render failed must render now.
        await publish(key, rule.channel, rule.mentionOnFailure);
      }
      return { rules: rules.map((rule) => rule.name) };
    },
  };
};
