import type { OperationsConfig } from '../config/operations-config.ts';
import { PromoteNotStartedError, type ApplianceOperations } from './appliance-port.ts';
import { attemptsFor } from './failover-appliance-tasks.ts';
import type { FailoverProgress } from './failover-progress.ts';
import { parseFailoverState, preflightOf, runOf, type Poll } from './failover-state.ts';
import type { StepId } from './progress-record.ts';

/**
 * `ghe-repl-promote` on the replica: the one irreversible step, in a function of its own
 * (functions/ghes-failover-promote) whose role alone may send the promote document.
 */
export interface PromoteTaskDeps {
  readonly operations: OperationsConfig;
  readonly appliances: Pick<ApplianceOperations, 'startPromote' | 'pollPromote'>;
  readonly progress: FailoverProgress;
}

const SKIPPED_WITHOUT_PRIMARY: readonly StepId[] = ['maintenance', 'drain', 'settle', 'replication'];

export const createPromoteTasks = (deps: PromoteTaskDeps) => {
  const { progress, operations } = deps;
  const byName = (name: string) => {
    const appliance = operations.appliances.find((a) => a.name === name);
    if (!appliance) throw new Error(`appliance ${name} is not in the config`);
    return appliance;
  };

  return {
    /**
     * StartPromote: sends the command and returns its id. Not retried after it may have been sent; a
     * refusal before sending is `PromoteNotStarted` (the ASL undoes maintenance mode and stops), any
     * other error leaves the promote's fate unknown and the ASL alerts instead.
     */
    async startPromote(input: { state: unknown }): Promise<{ commandId: string }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      const preflight = preflightOf(state);
      if (!preflight.primaryReachable) {
        const record = await progress.get(run.execution);
        for (const id of SKIPPED_WITHOUT_PRIMARY)
          if (!record?.steps[id])
            await progress.step(
              run.execution,
              id,
              'skipped',
              `${preflight.primary} unreachable: failing over without maintenance mode`,
            );
      }
      await progress.step(run.execution, 'promote', 'running', `ghe-repl-promote on ${preflight.replica}`);
      try {
        const { commandId } = await deps.appliances.startPromote(byName(preflight.replica));
        await progress.step(
          run.execution,
          'promote',
          'running',
          `ghe-repl-promote on ${preflight.replica} (command ${commandId})`,
        );
        return { commandId };
      } catch (error) {
        if (error instanceof PromoteNotStartedError)
          await progress.step(run.execution, 'promote', 'failed', `not started: ${error.message}`);
        throw error;
      }
    },

    /** PollPromote: one look at the command; bounded by promoteTimeoutMinutes. */
    async pollPromote(input: {
      state: unknown;
      intervalSeconds: number;
    }): Promise<Poll & { succeeded: boolean; exitCode: number | null }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      const preflight = preflightOf(state);
      if (!state.promote) throw new Error('PollPromote: no command id in the state');
      const attempt = (state.promotePoll?.attempt ?? 0) + 1;
      const max = attemptsFor(operations.failover.promoteTimeoutMinutes * 60, input.intervalSeconds);
      const result = await deps.appliances.pollPromote(byName(preflight.replica), state.promote.commandId);
      if (result.state === 'done') {
        const succeeded = result.exitCode === 0;
        const lastLine = result.output.trim().split('\n').pop()?.slice(0, 300) ?? '';
        await progress.step(
          run.execution,
          'promote',
          succeeded ? 'succeeded' : 'failed',
          succeeded
            ? `${preflight.replica} promoted`
            : `ghe-repl-promote exited ${result.exitCode}${lastLine ? `: ${lastLine}` : ''}`,
        );
        return { attempt, done: true, giveUp: false, succeeded, exitCode: result.exitCode };
      }
      if (attempt >= max) {
        await progress.step(
          run.execution,
          'promote',
          'failed',
          `no result after ${operations.failover.promoteTimeoutMinutes} min (command ${state.promote.commandId})`,
        );
        return { attempt, done: false, giveUp: true, succeeded: false, exitCode: null };
      }
      return { attempt, done: false, giveUp: false, succeeded: false, exitCode: null };
    },
  };
};

export type PromoteTasks = ReturnType<typeof createPromoteTasks>;
