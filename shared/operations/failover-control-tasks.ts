import type { AlertSink } from '../alerts/alert-sink.ts';
import type { OperationsConfig } from '../config/operations-config.ts';
import type { SlackClient } from '../slack/slack-client.ts';
import type { Approvals } from './approvals.ts';
import type { FailoverProgress } from './failover-progress.ts';
import { decideOutcome } from './failover-outcome.ts';
import {
  describeCaught,
  FailoverInputError,
  failoverInputSchema,
  parseFailoverState,
  preflightOf,
  runOf,
  type FailoverRun,
} from './failover-state.ts';
import type { OperationLocks } from './operation-lock.ts';
import { runningSteps, withStep, type OutcomeKind } from './progress-record.ts';
import type { TopologyStore } from './topology.ts';

/**
 * The failover's bookkeeping tasks: the lock, the approval, the topology record, the outcome. They
 * touch DynamoDB, Slack and the alerts bus, never an appliance or DNS (functions/ghes-failover-control).
 */
export const LOCK_NAME = 'ghes';

export class LockHeldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LockHeld';
  }
}

export interface ControlDeps {
  readonly operations: OperationsConfig;
  readonly locks: OperationLocks;
  readonly approvals: Approvals;
  readonly topology: TopologyStore;
  readonly progress: FailoverProgress;
  readonly slack: SlackClient;
  readonly alerts: AlertSink;
  readonly now?: () => Date;
}

/**
 * The lock must outlive every bounded wait of the run, or a second failover could start while the
 * first is still promoting: approval + drain + settle + replication + promote, plus 15 min for the
 * rest (DNS sync, verification, Lambda retries).
 */
export const lockSeconds = (operations: OperationsConfig, approvalTimeoutSeconds: number): number => {
  const f = operations.failover;
  return (
    approvalTimeoutSeconds +
    f.drainTimeoutSeconds +
    30 +
    f.replicationTimeoutSeconds +
    f.promoteTimeoutMinutes * 60 +
    900
  );
};

export const createControlTasks = (deps: ControlDeps) => {
  const now = deps.now ?? (() => new Date());
  const { progress } = deps;

  return {
    /** AcquireLock: re-takes (extends) the lock the Slack command took; posts the message. */
    async acquireLock(input: { state: unknown; execution: string }): Promise<FailoverRun> {
      const parsed = failoverInputSchema.safeParse(input.state);
      if (!parsed.success)
        throw new FailoverInputError(
          `failover input: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      const request = parsed.data;
      const run: FailoverRun = {
        execution: input.execution,
        owner: request.lockOwner ?? input.execution,
        dryRun: request.dryRun,
        requestedBy: request.requestedBy,
        channelId: request.channelId,
        approvalTimeoutSeconds:
          request.approvalTimeoutSeconds ?? deps.operations.failover.approvalTimeoutMinutes * 60,
      };
      await progress.begin({
        execution: run.execution,
        channel: run.channelId,
        requestedBy: run.requestedBy,
        dryRun: run.dryRun,
      });
      await progress.step(run.execution, 'lock', 'running');
      const taken = await deps.locks.acquire({
        name: LOCK_NAME,
        owner: run.owner,
        operation: run.dryRun ? 'failover --dry-run' : 'failover',
        requestedBy: run.requestedBy,
        ttlSeconds: lockSeconds(deps.operations, run.approvalTimeoutSeconds),
        now: now(),
      });
      if (!taken.acquired) {
        const { holder } = taken;
        const held = `held by ${holder.owner} (${holder.operation}, asked by <@${holder.requestedBy}>) since ${holder.acquiredAt}`;
        await progress.step(run.execution, 'lock', 'failed', held);
        throw new LockHeldError(`lock ${LOCK_NAME} is ${held}`);
      }
      await progress.step(run.execution, 'lock', 'succeeded', `owner ${run.owner}`);
      return run;
    },

    /** RequestApproval (waitForTaskToken): stores the token server-side, shows the buttons. */
    async requestApproval(input: { state: unknown; taskToken: string }): Promise<{ approvalId: string }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      if (!input.taskToken) throw new FailoverInputError('RequestApproval: no task token');
      const at = now();
      const { id } = await deps.approvals.open({
        executionName: run.execution,
        operation: 'failover',
        requestedBy: run.requestedBy,
        channelId: run.channelId,
        taskToken: input.taskToken,
        timeoutSeconds: run.approvalTimeoutSeconds,
        now: at,
      });
      const expiresAt = new Date(at.getTime() + run.approvalTimeoutSeconds * 1000).toISOString();
      // The buttons are the only way to approve: a message Slack refused fails the step (→ aborted).
      await progress.update(
        run.execution,
        (record, t) => ({
          ...withStep(record, 'approval', 'running', t),
          approvalId: id,
          approvalExpiresAt: expiresAt,
        }),
        { requireMessage: true },
      );
      return { approvalId: id };
    },

    /** RecordDecision: the approval step ends with who decided; the buttons go. */
    async recordDecision(input: { state: unknown }): Promise<{ decision: string }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      if (!state.approval) throw new FailoverInputError('RecordDecision: no approval in the state');
      const { decision, by } = state.approval;
      await progress.step(
        run.execution,
        'approval',
        decision === 'approve' ? 'succeeded' : 'failed',
        decision === 'approve' ? `approved by <@${by}>` : `aborted by <@${by}>`,
      );
      return { decision };
    },

    /** RecordTopology: the replica is now primary (conditional on the primary this run started from). */
    async recordTopology(input: { state: unknown }): Promise<{ primary: string; replica: string }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      const preflight = preflightOf(state);
      await progress.step(run.execution, 'topology', 'running');
      const topology = await deps.topology.record({
        primary: preflight.replica,
        replica: preflight.primary,
        expectedPrimary: preflight.primary,
        changedBy: run.execution,
        now: now(),
      });
      await progress.step(
        run.execution,
        'topology',
        'succeeded',
        `primary ${topology.primary}, replica ${topology.replica}`,
      );
      return { primary: topology.primary, replica: topology.replica };
    },

    /**
     * ReportOutcome: every path ends here. Steps an error interrupted are marked failed, the outcome
     * and what to do next go into the message, the audit log gets the result; a state only a person
     * can finish is also raised on the alerts topic and announced in the channel.
     */
    async reportOutcome(input: { state: unknown; execution: string }): Promise<{ outcome: OutcomeKind }> {
      const state = parseFailoverState(input.state);
      const execution = state.run?.execution ?? input.execution;
      const record = await progress.get(execution);
      if (!record) throw new Error(`no progress record for ${execution}: AcquireLock never started`);
      const error = describeCaught(state.error);
      // Decided on the record as the run left it: a step still running (promote) is what matters.
      const outcome = decideOutcome(state, record, deps.operations);
      for (const id of runningSteps(record)) {
        const detail =
          id === 'approval' && state.stop?.reason === 'approval-timeout'
            ? 'no decision in time'
            : error || 'interrupted';
        await progress.step(execution, id, 'failed', detail);
      }
      await progress.finish(execution, outcome);
      if (outcome.kind === 'needs-operator') {
        const detail = [outcome.summary, ...outcome.nextSteps.map((s, i) => `${i + 1}. ${s}`)].join('\n');
        await Promise.all([
          deps.alerts.raise({ kind: 'failover-needs-operator', summary: outcome.summary, detail }),
          deps.slack.postMessage({
            channel: record.channel,
            text: `<!here> :rotating_light: GHES failover \`${execution}\` needs an operator: ${detail}`.slice(
              0,
              3000,
            ),
          }),
        ]);
      }
      return { outcome: outcome.kind };
    },

    /** ReleaseLock: only this run's own lock; a lock that expired or moved on is left alone. */
    async releaseLock(input: { state: unknown; execution: string }): Promise<{ released: boolean }> {
      const state = parseFailoverState(input.state);
      const execution = state.run?.execution ?? input.execution;
      const owner = state.run?.owner ?? state.lockOwner ?? execution;
      const hasRecord = (await progress.get(execution)) !== null;
      if (hasRecord) await progress.step(execution, 'unlock', 'running');
      const released = await deps.locks.release(LOCK_NAME, owner);
      if (hasRecord)
        await progress.step(
          execution,
          'unlock',
          released ? 'succeeded' : 'skipped',
          released ? undefined : 'not held by this run (expired, or never taken)',
        );
      return { released };
    },
  };
};

export type ControlTasks = ReturnType<typeof createControlTasks>;
