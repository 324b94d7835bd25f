import type { OperationsConfig } from '../config/operations-config.ts';
import type { LockHolder, OperationLocks } from './operation-lock.ts';
import { GHES_LOCK } from './slack-failover-start.ts';

/**
 * `/ghes status`: which appliance is primary, whether an operation holds the lock, and what was last
 * known of replication and maintenance. Slack wants an answer within 3 s, so only DynamoDB reads
 * happen here (tens of ms); asking the appliances (SSM Run Command: send, then poll) takes seconds,
 * which is what `/ghes failover --dry-run` is for. What is not read live is labelled as such.
 */

/** The `topology#ghes` row the failover writes when it changes which appliance is primary. */
export interface TopologyRecord {
  /** Appliance names (`operations.appliances[].name`). */
  readonly primary: string;
  readonly replica: string;
  readonly updatedAt: string;
  /** Slack user ID, or the execution name, of what changed it. */
  readonly changedBy: string;
  /**
   * What the last check saw, if a task recorded it (optional): replication health as
   * `ghe-repl-status` reported it and maintenance mode per appliance.
   */
  readonly lastKnown?: {
    readonly at: string;
    readonly replication?: string;
    readonly maintenance?: Readonly<Record<string, boolean>>;
  };
}

export interface TopologySource {
  /** Null while no failover has ever recorded one: the config's `initialRole`s hold. */
  current(): Promise<TopologyRecord | null>;
}

export interface StatusDeps {
  readonly operations: OperationsConfig;
  readonly topology: TopologySource;
  readonly locks: Pick<OperationLocks, 'holder'>;
  readonly now: () => Date;
}

type Read<T> = { ok: true; value: T } | { ok: false; error: string };
const settle = <T>(promise: Promise<T>): Promise<Read<T>> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error: (error as Error).name || 'Error' }),
  );

export const describeHolder = (holder: LockHolder): string =>
  `\`${holder.operation}\` (execution \`${holder.owner}\`), asked by <@${holder.requestedBy}>, holding the lock since ${holder.acquiredAt} (expires ${holder.expiresAt})`;

/** Never fails: a read that did not answer is shown as unknown, with the rest still useful. */
export const renderStatus = async (deps: StatusDeps): Promise<string> => {
  const now = deps.now();
  const [topology, holder] = await Promise.all([
    settle(deps.topology.current()),
    settle(deps.locks.holder(GHES_LOCK, now)),
  ]);
  const record = topology.ok ? topology.value : null;
  const roleOf = (name: string, initialRole: string) =>
    record
      ? record.primary === name
        ? 'primary'
        : record.replica === name
          ? 'replica'
          : 'not in the topology'
      : initialRole;
  const maintenance = record?.lastKnown?.maintenance;

  const lines = [`*GHES status* (${now.toISOString()})`];
  for (const appliance of deps.operations.appliances) {
    const inMaintenance = maintenance?.[appliance.name];
    lines.push(
      `• *${appliance.name}* (\`${appliance.instanceId}\`): ${roleOf(appliance.name, appliance.initialRole)}` +
        (inMaintenance === undefined ? '' : `, maintenance ${inMaintenance ? 'on' : 'off'} (last known)`),
    );
  }
  lines.push(
    !topology.ok
      ? `Roles: the topology record could not be read (${topology.error}); shown as configured (\`initialRole\`), which may be out of date.`
      : record
        ? `Roles: as recorded at ${record.updatedAt} by ${/^[UW][A-Z0-9]+$/.test(record.changedBy) ? `<@${record.changedBy}>` : `\`${record.changedBy}\``}.`
        : 'Roles: as configured (`initialRole`): no failover has recorded a topology yet.',
  );
  const lastKnown = record?.lastKnown;
  lines.push(
    lastKnown?.replication
      ? `Replication: ${lastKnown.replication} (last known, checked ${lastKnown.at}; not read live).`
      : 'Replication and maintenance: not read live here (asking the appliances takes longer than Slack waits); `/ghes failover --dry-run` checks them now and changes nothing.',
  );
  lines.push(
    !holder.ok
      ? `Operation lock: could not be read (${holder.error}).`
      : holder.value
        ? `Operation lock: held, ${describeHolder(holder.value)}.`
        : 'Operation lock: free (no operation running).',
  );
  return lines.join('\n');
};
