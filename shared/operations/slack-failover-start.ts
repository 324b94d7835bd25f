import { randomBytes } from 'node:crypto';
import type { OperationsConfig } from '../config/operations-config.ts';
import type { LockHolder, OperationLocks } from './operation-lock.ts';
import type { OperationExecutions } from './slack-executions.ts';

/** One lock per GHES deployment (shared/operations/operation-lock.ts). */
export const GHES_LOCK = 'ghes';

/**
 * A lock whose owner never became an execution (the starting Lambda died between the lock and
 * StartExecution) is taken over after this long. Safe because no Slack function lives this long:
 * API Gateway gives up on a Lambda after 30 s, so its starter is certainly gone by then.
 */
export const ORPHANED_LOCK_GRACE_SECONDS = 60;

export interface FailoverRequest {
  readonly dryRun: boolean;
  readonly requestedBy: string;
  readonly channelId: string;
}

/** What the state machine gets as input (issue 14 contract). */
export interface FailoverInput {
  readonly operation: 'failover';
  readonly dryRun: boolean;
  readonly requestedBy: string;
  readonly channelId: string;
  readonly lockOwner: string;
  /** The approval task's `TimeoutSeconds`: an unanswered approval aborts the failover. */
  readonly approvalTimeoutSeconds: number;
}

export type FailoverStart =
  | { readonly outcome: 'started'; readonly executionName: string; readonly executionArn: string }
  | { readonly outcome: 'locked'; readonly holder: LockHolder }
  | {
      readonly outcome: 'failed';
      readonly executionName: string;
      readonly error: Error;
      /** False when the lock could not be released either: it is freed by the next request after the grace. */
      readonly released: boolean;
    };

export interface FailoverStarterDeps {
  readonly locks: OperationLocks;
  readonly executions: OperationExecutions;
  readonly failover: OperationsConfig['failover'];
  readonly now: () => Date;
  readonly newExecutionName?: (now: Date) => string;
  /** Told when an orphaned lock was taken over, so it reaches the log and the audit. */
  readonly onOrphanedLock?: (
    holder: LockHolder,
    presence: 'missing' | 'stopped',
    request: FailoverRequest,
  ) => Promise<void> | void;
}

/** `failover-20261130T101500-a1b2c3`: sortable, unique, and a valid Step Functions execution name. */
export const failoverExecutionName = (now: Date): string =>
  `failover-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, '')}-${randomBytes(3).toString('hex')}`;

/**
 * How long the lock is taken for: long enough to cover every bounded wait of a whole failover
 * (approval, drain, replication, promote) plus 15 minutes for the steps between them, so it cannot
 * expire under a running execution; a dry run only does the preflight. The state machine releases
 * it on every path; the expiry is for a machine that could not.
 */
export const lockSecondsFor = (failover: OperationsConfig['failover'], dryRun: boolean): number =>
  dryRun
    ? 15 * 60
    : failover.approvalTimeoutMinutes * 60 +
      failover.drainTimeoutSeconds +
      failover.replicationTimeoutSeconds +
      failover.promoteTimeoutMinutes * 60 +
      15 * 60;

export const operationName = (dryRun: boolean) => (dryRun ? 'failover --dry-run' : 'failover');

/**
 * Takes the `ghes` lock with the new execution's name as owner, then starts the execution; if the
 * start fails the lock is given back, so a failed start never blocks the next attempt. A lock held by
 * a failover execution that has stopped, or that never started (after the grace), is released and
 * taken: otherwise a starter that crashed would block an emergency failover until the lock expired.
 */
export const createFailoverStarter = (deps: FailoverStarterDeps) => {
  const newName = deps.newExecutionName ?? failoverExecutionName;

  /** The holder's execution can no longer release the lock itself. */
  const orphaned = async (holder: LockHolder, now: Date): Promise<'missing' | 'stopped' | null> => {
    if (!holder.owner.startsWith('failover-')) return null; // another operation's machine: not ours to judge
    // Step Functions not answering is no proof of anything: the holder keeps its lock.
    const presence = await deps.executions.presence(holder.owner).catch(() => 'running' as const);
    if (presence === 'stopped') return 'stopped';
    const age = (now.getTime() - Date.parse(holder.acquiredAt)) / 1000;
    return presence === 'missing' && age > ORPHANED_LOCK_GRACE_SECONDS ? 'missing' : null;
  };

  return async (request: FailoverRequest): Promise<FailoverStart> => {
    const now = deps.now();
    const executionName = newName(now);
    const operation = operationName(request.dryRun);
    const acquire = () =>
      deps.locks.acquire({
        name: GHES_LOCK,
        owner: executionName,
        operation,
        requestedBy: request.requestedBy,
        ttlSeconds: lockSecondsFor(deps.failover, request.dryRun),
        now,
      });
    let taken = await acquire();
    if (!taken.acquired) {
      const stale = await orphaned(taken.holder, now);
      if (!stale) return { outcome: 'locked', holder: taken.holder };
      await deps.onOrphanedLock?.(taken.holder, stale, request);
      // Released only if that owner still holds it: a lock that moved on meanwhile is left alone.
      await deps.locks.release(GHES_LOCK, taken.holder.owner);
      taken = await acquire();
      if (!taken.acquired) return { outcome: 'locked', holder: taken.holder };
    }
    const input: FailoverInput = {
      operation: 'failover',
      dryRun: request.dryRun,
      requestedBy: request.requestedBy,
      channelId: request.channelId,
      lockOwner: executionName,
      approvalTimeoutSeconds: deps.failover.approvalTimeoutMinutes * 60,
    };
    try {
      const { executionArn } = await deps.executions.start(executionName, input);
      return { outcome: 'started', executionName, executionArn };
    } catch (error) {
      // An answer lost on the way back (a timeout) can hide a start that happened: that execution
      // re-takes the lock as its owner, so it must keep it.
      const presence = await deps.executions.presence(executionName).catch(() => 'missing' as const);
      if (presence === 'running')
        return { outcome: 'started', executionName, executionArn: deps.executions.arnOf(executionName) };
      const released = await deps.locks.release(GHES_LOCK, executionName).catch(() => false);
      return { outcome: 'failed', executionName, error: error as Error, released };
    }
  };
};

export type FailoverStarter = ReturnType<typeof createFailoverStarter>;
