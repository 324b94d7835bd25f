import type { Logger } from '@aws-lambda-powertools/logger';
import type { InstanceItem, InstanceMaintenance, InstanceReport } from './instance-maintenance.ts';
import type { MaintenancePlan, MaintenanceRun } from './maintenance-plan.ts';

/**
 * The one task Lambda of the pool-maintenance state machine: each Task state names its step in
 * `action`. One function keeps one role for one concern (ec2/ssm on the pool's instances, its leases).
 */
export type MaintenanceTask =
  | { readonly action: 'plan'; readonly pool: string; readonly execution: string }
  | {
      readonly action: 'claim' | 'start' | 'checkReady' | 'sendCommand' | 'pollCommand' | 'stop' | 'release';
      readonly item: InstanceItem;
    }
  | { readonly action: 'report'; readonly run: MaintenanceRun; readonly results: InstanceReport[][] };

export interface MaintenanceSummary {
  readonly pool: string;
  readonly execution: string;
  readonly ok: number;
  readonly failed: number;
  readonly skipped: number;
  readonly instances: InstanceReport[];
}

const ITEM_ACTIONS = ['claim', 'start', 'checkReady', 'sendCommand', 'pollCommand', 'stop', 'release'];

/** A malformed task input is the state machine's bug: named, and not retried (Catch sees its name). */
export class BadMaintenanceTaskError extends Error {
  override name = 'BadMaintenanceTask';
}

export const parseMaintenanceTask = (event: unknown): MaintenanceTask => {
  const e = (event ?? {}) as Record<string, unknown>;
  const action = e.action;
  if (action === 'plan') {
    if (typeof e.pool !== 'string' || !e.pool)
      throw new BadMaintenanceTaskError('pool: expected a pool name');
    if (typeof e.execution !== 'string' || !e.execution)
      throw new BadMaintenanceTaskError('execution: expected the execution name');
    return { action, pool: e.pool, execution: e.execution };
  }
  if (action === 'report') {
    if (!Array.isArray(e.results)) throw new BadMaintenanceTaskError('results: expected an array');
    return e as unknown as MaintenanceTask;
  }
  if (typeof action === 'string' && ITEM_ACTIONS.includes(action)) {
    const item = e.item as Partial<InstanceItem> | undefined;
    if (typeof item?.instanceId !== 'string' || !/^i-[0-9a-f]{8,17}$/.test(item.instanceId))
      throw new BadMaintenanceTaskError('item.instanceId: expected an instance id');
    if (typeof item.run?.execution !== 'string') throw new BadMaintenanceTaskError('item.run: missing');
    return e as unknown as MaintenanceTask;
  }
  throw new BadMaintenanceTaskError(`action: unknown "${String(action)}"`);
};

export const summarize = (run: MaintenanceRun, results: InstanceReport[][]): MaintenanceSummary => {
  const instances = results.flat();
  const count = (outcome: InstanceReport['outcome']) => instances.filter((i) => i.outcome === outcome).length;
  return {
    pool: run.pool,
    execution: run.execution,
    ok: count('ok'),
    failed: count('failed'),
    skipped: count('skipped'),
    instances,
  };
};

export const createMaintenanceTasks = (deps: {
  plan: (pool: string, execution: string) => Promise<MaintenancePlan>;
  instances: InstanceMaintenance;
  logger: Pick<Logger, 'info' | 'error'>;
}) => {
  return async (task: MaintenanceTask): Promise<unknown> => {
    switch (task.action) {
      case 'plan':
        return deps.plan(task.pool, task.execution);
      case 'report': {
        const summary = summarize(task.run, task.results);
        // One line a run; a failed instance is an error an alarm on the log metric can catch.
        (summary.failed > 0 ? deps.logger.error : deps.logger.info).call(deps.logger, 'pool maintenance', {
          ...summary,
          instances: summary.instances.map(({ output: _output, ...line }) => line),
        });
        return summary;
      }
      default:
        return deps.instances[task.action](task.item);
    }
  };
};
