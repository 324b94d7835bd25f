import type { ApplianceConfig, OperationsConfig } from '../config/operations-config.ts';
import type { ApplianceOperations, StatusAnswer } from './appliance-port.ts';
import type { FailoverProgress } from './failover-progress.ts';
import { parseFailoverState, preflightOf, runOf, type Poll, type Preflight } from './failover-state.ts';
import type { DnsRecords } from './route53-records.ts';
import type { TopologyStore } from './topology.ts';

/**
 * The failover's appliance tasks that change nothing irreversible: preflight, maintenance mode on
 * and off, the drain and replication waits, the new primary's `/status`
 * (functions/ghes-failover-appliance). Each wait is one check per invocation; the ASL's Wait state
 * loops it, and the attempt count (from the state) bounds it: attempts, not clock time, so the
 * sandbox's scaled Wait states shorten the bound with them.
 */
export interface ApplianceTaskDeps {
  readonly operations: OperationsConfig;
  readonly appliances: ApplianceOperations;
  readonly topology: TopologyStore;
  readonly dns: Pick<DnsRecords, 'read'>;
  readonly progress: FailoverProgress;
}

export const describeStatus = (answer: StatusAnswer) =>
  'status' in answer ? `answered ${answer.status}` : `unreachable (${answer.unreachable})`;

/** Polls needed to cover `seconds` at `intervalSeconds` apart, the first one at once. */
export const attemptsFor = (seconds: number, intervalSeconds: number) =>
  Math.max(1, Math.ceil(seconds / Math.max(1, intervalSeconds))) + 1;

export const createApplianceTasks = (deps: ApplianceTaskDeps) => {
  const { progress, operations } = deps;
  const byName = (name: string): ApplianceConfig => {
    const appliance = operations.appliances.find((a) => a.name === name);
    if (!appliance) throw new Error(`appliance ${name} is not in the config`);
    return appliance;
  };
  const settled = async <T>(promise: Promise<T>) =>
    promise.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({
        ok: false as const,
        error: error instanceof Error ? error.message : String(error),
      }),
    );

  return {
    /**
     * Preflight: which way the failover goes (topology), the replica's replication, the primary's
     * `/status` and maintenance mode, the DNS record. An unreachable primary is not a refusal — that is
     * when a failover is needed most — it only means no maintenance mode. Refused: a replica that
     * cannot be promoted, a DNS record that points at neither appliance's value for the primary.
     */
    async preflight(input: { state: unknown }): Promise<Preflight> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      await progress.step(run.execution, 'preflight', 'running');
      const topology = await deps.topology.current();
      const primary = byName(topology.primary);
      const replica = byName(topology.replica);
      await progress.update(run.execution, (record) => ({ ...record, from: primary.name, to: replica.name }));

      const [replication, status, record] = await Promise.all([
        deps.appliances.replicationStatus(replica), // no replica status, no failover: errors go up
        deps.appliances.probeStatus(primary),
        deps.dns.read(operations.dns.hostedZoneId, operations.dns.recordName, operations.dns.type),
      ]);
      const primaryReachable = 'status' in status;
      const maintenance = primaryReachable ? await settled(deps.appliances.maintenanceStatus(primary)) : null;
      const primaryMaintenanceBefore = maintenance?.ok ? maintenance.value.enabled : null;

      const dnsLine = record
        ? `${operations.dns.recordName} → ${record.values.join(', ')} (TTL ${record.ttl})`
        : `${operations.dns.recordName}: no ${operations.dns.type} record`;
      const lines = [
        `replica ${replica.name}: replication ${replication.health} (${replication.summary})`,
        `primary ${primary.name}: /status ${describeStatus(status)}${
          primaryReachable ? '' : ' — the failover will proceed without maintenance mode'
        }${primaryMaintenanceBefore ? ', already in maintenance mode' : ''}`,
        `DNS: ${dnsLine}`,
      ];
      let reason = '';
      if (!replication.promotable) reason = `${replica.name} cannot be promoted (${replication.summary})`;
      else if (record && !record.values.includes(primary.dnsValue))
        reason = record.values.includes(replica.dnsValue)
          ? `${operations.dns.recordName} already points at ${replica.name}, while the topology says ${primary.name} is primary: check /ghes status before failing over`
          : `${operations.dns.recordName} points at ${record.values.join(', ')}, neither appliance's address: fix DNS first`;
      const summary = lines.join('; ');
      await progress.step(
        run.execution,
        'preflight',
        reason ? 'failed' : 'succeeded',
        reason ? `${reason}; ${summary}` : summary,
      );
      return {
        ok: !reason,
        reason,
        primary: primary.name,
        replica: replica.name,
        primaryReachable,
        primaryMaintenanceBefore,
        summary,
      };
    },

    /** MaintenanceOn: `ghe-maintenance -s` on the primary, unless it was already on (then not ours to undo). */
    async maintenanceOn(input: { state: unknown }): Promise<{ setByUs: boolean }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      const preflight = preflightOf(state);
      await progress.step(run.execution, 'maintenance', 'running');
      if (preflight.primaryMaintenanceBefore) {
        await progress.step(run.execution, 'maintenance', 'succeeded', 'already on before the failover');
        return { setByUs: false };
      }
      await deps.appliances.setMaintenance(byName(preflight.primary), true);
      await progress.step(
        run.execution,
        'maintenance',
        'succeeded',
        `${preflight.primary} in maintenance mode`,
      );
      return { setByUs: true };
    },

    /** CheckDrain: active connections on the primary; 0, or the bound reached (then the failover goes on). */
    async checkDrain(input: {
      state: unknown;
      intervalSeconds: number;
    }): Promise<Poll & { connections: number | null }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      const preflight = preflightOf(state);
      const attempt = (state.drain?.attempt ?? 0) + 1;
      const max = attemptsFor(operations.failover.drainTimeoutSeconds, input.intervalSeconds);
      const { activeConnections } = await deps.appliances.maintenanceStatus(byName(preflight.primary));
      if (activeConnections === 0 || activeConnections === null) {
        await progress.step(
          run.execution,
          'drain',
          'succeeded',
          activeConnections === 0 ? 'no active connections' : 'the appliance does not report connections',
        );
        await progress.step(run.execution, 'settle', 'running');
        return { attempt, done: true, giveUp: false, connections: activeConnections };
      }
      if (attempt >= max) {
        await progress.step(
          run.execution,
          'drain',
          'skipped',
          `${activeConnections} connections still open after ${operations.failover.drainTimeoutSeconds} s; going on`,
        );
        await progress.step(run.execution, 'settle', 'running');
        return { attempt, done: true, giveUp: true, connections: activeConnections };
      }
      await progress.step(run.execution, 'drain', 'running', `${activeConnections} active connections`);
      return { attempt, done: false, giveUp: false, connections: activeConnections };
    },

    /** CheckReplication: every replicated service OK on the replica, within the configured bound. */
    async checkReplication(input: {
      state: unknown;
      intervalSeconds: number;
    }): Promise<Poll & { health: string }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      const preflight = preflightOf(state);
      const attempt = (state.replication?.attempt ?? 0) + 1;
      const max = attemptsFor(operations.failover.replicationTimeoutSeconds, input.intervalSeconds);
      if (attempt === 1) await progress.step(run.execution, 'settle', 'succeeded');
      const replication = await deps.appliances.replicationStatus(byName(preflight.replica));
      if (replication.health === 'ok') {
        await progress.step(run.execution, 'replication', 'succeeded', replication.summary);
        return { attempt, done: true, giveUp: false, health: replication.health };
      }
      if (attempt >= max) {
        await progress.step(
          run.execution,
          'replication',
          'failed',
          `not in sync after ${operations.failover.replicationTimeoutSeconds} s: ${replication.summary}`,
        );
        return { attempt, done: false, giveUp: true, health: replication.health };
      }
      await progress.step(
        run.execution,
        'replication',
        'running',
        `${replication.health}: ${replication.summary}`,
      );
      return { attempt, done: false, giveUp: false, health: replication.health };
    },

    /** VerifyPrimary: the promoted replica's own `/status` answers 200, within `verifyAttempts` tries. */
    async verifyPrimary(input: { state: unknown }): Promise<Poll & { answer: string }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      const preflight = preflightOf(state);
      const attempt = (state.verify?.attempt ?? 0) + 1;
      const max = operations.failover.verifyAttempts;
      const answer = await deps.appliances.probeStatus(byName(preflight.replica));
      const said = describeStatus(answer);
      if ('status' in answer && answer.status === 200) {
        await progress.step(run.execution, 'verify', 'succeeded', `${preflight.replica} /status 200`);
        return { attempt, done: true, giveUp: false, answer: said };
      }
      if (attempt >= max) {
        await progress.step(
          run.execution,
          'verify',
          'failed',
          `${preflight.replica} /status ${said} on ${attempt} tries`,
        );
        return { attempt, done: false, giveUp: true, answer: said };
      }
      await progress.step(run.execution, 'verify', 'running', `try ${attempt} of ${max}: ${said}`);
      return { attempt, done: false, giveUp: false, answer: said };
    },

    /**
     * UndoMaintenance: on every stop before promote succeeded. Takes the old primary out of
     * maintenance mode only if this run put it there (or tried to: a `-s` that failed midway may have
     * taken effect); one that was in maintenance before the failover is left as it was.
     */
    async undoMaintenance(input: {
      state: unknown;
      execution: string;
    }): Promise<{ undone: boolean; detail: string }> {
      const state = parseFailoverState(input.state);
      const execution = state.run?.execution ?? input.execution;
      const record = await progress.get(execution);
      const tried = record?.steps.maintenance !== undefined && record.steps.maintenance.status !== 'skipped';
      if (
        !state.preflight ||
        !tried ||
        state.preflight.primaryMaintenanceBefore ||
        state.maintenance?.setByUs === false
      )
        return { undone: false, detail: 'nothing to undo' };
      await deps.appliances.setMaintenance(byName(state.preflight.primary), false);
      await progress.step(
        execution,
        'maintenance',
        record!.steps.maintenance!.status === 'running' ? 'failed' : record!.steps.maintenance!.status,
        `${state.preflight.primary} taken out of maintenance mode again`,
      );
      return { undone: true, detail: `${state.preflight.primary} out of maintenance mode` };
    },
  };
};

export type ApplianceTasks = ReturnType<typeof createApplianceTasks>;
