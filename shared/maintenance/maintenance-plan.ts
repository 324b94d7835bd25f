import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { MaintenanceConfig, PoolConfig } from '../config/deployment-config.ts';
import { PARAMETER_PREFIX_TAG } from '../providers/ec2-wake-provider.ts';

/** The tag the dispatcher wakes a pool's instances by (dispatch-job.ts `poolTarget`). */
export const POOL_TAG_KEY = 'ghes-cp:pool';

/** What every step of one maintenance run needs; carried through the state machine as `run`. */
export interface MaintenanceRun {
  readonly pool: string;
  readonly execution: string;
  readonly document: string;
  /** SendCommand's Parameters: every value one string, each held to the document's allowedPattern. */
  readonly parameters: Record<string, [string]>;
  /** How long each instance is leased: the run's budget, after which a lease left behind is free. */
  readonly leaseSeconds: number;
  /** The command's own execution timeout, inside the budget. */
  readonly commandTimeoutSeconds: number;
  /** Polls of the command (30 s apart) before the run gives up on it. */
  readonly maxPolls: number;
}

export interface MaintenancePlan {
  readonly run: MaintenanceRun;
  /** Instance ids, `batchSize` at a time; batches run one after another. */
  readonly batches: string[][];
}

/** Poll interval of the state machine's WaitForCommand state. */
export const COMMAND_POLL_SECONDS = 30;

export class MaintenanceNotConfiguredError extends Error {
  override name = 'MaintenanceNotConfiguredError';
}

export const maintenanceOf = (pools: readonly PoolConfig[], poolName: string) => {
  const pool = pools.find((p) => p.name === poolName);
  if (!pool?.maintenance || pool.provider !== 'ec2-wake') {
    throw new MaintenanceNotConfiguredError(`pool "${poolName}" has no maintenance configured`);
  }
  return { pool, maintenance: pool.maintenance };
};

/** The document's parameters for these settings (see infra/ssm-pool-maintenance.yaml). */
export const commandParameters = (
  m: MaintenanceConfig,
  timeoutSeconds: number,
): Record<string, [string]> => ({
  tasks: [m.tasks.join(',')],
  runnerVersion: [m.tasks.includes('runner-update') ? m.runnerVersion! : 'none'],
  runnerSha256: [m.tasks.includes('runner-update') ? m.runnerSha256! : 'none'],
  executionTimeout: [String(timeoutSeconds)],
});

export const chunk = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/**
 * Lists the pool's stopped instances — the same tag filters the dispatcher wakes by — and splits them
 * into batches. Instances are not claimed here: each is claimed just before its batch starts, so the
 * rest of the pool stays free for jobs meanwhile.
 */
export const planMaintenance = async (deps: {
  ec2: EC2Client;
  pools: readonly PoolConfig[];
  parameterPrefix: string;
  document: string;
  pool: string;
  execution: string;
}): Promise<MaintenancePlan> => {
  const { pool, maintenance } = maintenanceOf(deps.pools, deps.pool);
  const instanceIds: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = await deps.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${POOL_TAG_KEY}`, Values: [pool.ec2?.tagValue ?? pool.name] },
          { Name: `tag:${PARAMETER_PREFIX_TAG}`, Values: [deps.parameterPrefix] },
          { Name: 'instance-state-name', Values: ['stopped'] },
        ],
        ...(NextToken ? { NextToken } : {}),
      }),
    );
    for (const r of page.Reservations ?? [])
      for (const i of r.Instances ?? []) instanceIds.push(i.InstanceId!);
    NextToken = page.NextToken;
  } while (NextToken);
  const leaseSeconds = maintenance.budgetMinutes * 60;
  // Boot, agent and stop take minutes; the command gets at most half the budget.
  const commandTimeoutSeconds = Math.floor(leaseSeconds / 2);
  return {
    run: {
      pool: pool.name,
      execution: deps.execution,
      document: deps.document,
      parameters: commandParameters(maintenance, commandTimeoutSeconds),
      leaseSeconds,
      commandTimeoutSeconds,
      maxPolls: Math.ceil(commandTimeoutSeconds / COMMAND_POLL_SECONDS) + 2,
    },
    batches: chunk(instanceIds.sort(), maintenance.batchSize),
  };
};
