import type { ApplianceActions } from '../ghes/appliance-actions.ts';
import type { ApplianceReader } from '../ghes/appliance-reader.ts';
import { ApplianceCommandError } from '../ghes/command-errors.ts';
import type { StatusProbeResult } from '../ghes/status-probe.ts';
import { PromoteNotStartedError, type ApplianceOperations } from './appliance-port.ts';

/**
 * The failover's appliance port over the GHES command layer (shared/ghes): the reader (Manage API or
 * SSM), the actions (ghe-maintenance, ghe-repl-promote) and the `/status` probe. What the layer
 * cannot read comes back `unknown`; for a failover that is not in sync, so it counts as critical.
 */
export const createGhesApplianceOperations = (deps: {
  readonly reader: ApplianceReader;
  readonly actions: ApplianceActions;
  readonly probe: (statusUrl: string) => Promise<StatusProbeResult>;
  /** The promote document's executionTimeout: config `promoteTimeoutMinutes`. */
  readonly promoteTimeoutSeconds: number;
}): ApplianceOperations => ({
  async replicationStatus(appliance) {
    const status = await deps.reader.replicationStatus(appliance);
    return {
      health: status.health === 'unknown' ? 'critical' : status.health,
      // shared/ghes's `promotable` means "in sync, safe now"; the failover's means "a replica that
      // can be promoted at all". With the primary down, replication is critical and the failover
      // must still go ahead; with the primary up, the replication wait after the drain decides.
      // Replication not running means no replica (never set up, or already promoted).
      promotable: status.health !== 'not-running',
      summary: status.summary,
    };
  },
  async maintenanceStatus(appliance) {
    const status = await deps.reader.maintenanceStatus(appliance);
    return { enabled: status.state === 'on', activeConnections: status.activeConnections };
  },
  async setMaintenance(appliance, on) {
    const result = await deps.actions.setMaintenance(appliance, on ? 'on' : 'off');
    if (!result.ok)
      throw new ApplianceCommandError(
        'failed',
        `ghe-maintenance ${on ? '-s' : '-u'} on ${appliance.name} exited ${result.exitCode}: ${result.summary}`,
        { instanceId: appliance.instanceId, exitCode: result.exitCode },
      );
  },
  async startPromote(appliance) {
    try {
      const commandId = await deps.actions.startPromote(appliance, {
        timeoutSeconds: deps.promoteTimeoutSeconds,
        comment: 'ghes-control-plane failover',
      });
      return { commandId };
    } catch (error) {
      // SSM refused the command (agent offline, instance unknown, throttled to the end): not sent.
      if (
        error instanceof ApplianceCommandError &&
        (error.kind === 'undeliverable' || error.kind === 'throttled')
      )
        throw new PromoteNotStartedError(error.message, { cause: error });
      throw error;
    }
  },
  async pollPromote(appliance, commandId) {
    const result = await deps.actions.pollPromote(appliance, commandId);
    if (result.state === 'running') return { state: 'running' };
    const { outcome } = result;
    return {
      state: 'done',
      // The exit code is authoritative; a zero exit without the success line is not a promote.
      exitCode: outcome.promoted ? 0 : outcome.exitCode || 1,
      output: outcome.summary,
    };
  },
  async probeStatus(appliance) {
    const result = await deps.probe(appliance.statusUrl);
    return 'status' in result
      ? { status: result.status }
      : { unreachable: `${result.unreachable}: ${result.message}` };
  },
});
