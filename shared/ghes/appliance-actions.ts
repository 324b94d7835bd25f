import type { ApplianceConfig } from '../config/operations-config.ts';
import type { ApplianceCommands } from './appliance-commands.ts';
import { parseMaintenanceChange } from './maintenance-status.ts';
import { parsePromoteOutput, type PromoteOutcome } from './repl-promote.ts';

/**
 * The two changes a failover makes to appliances, over SSM: maintenance mode on/off (seconds, one
 * Lambda call) and promote (minutes: started once, then polled from the state machine's Wait loop,
 * one Lambda call per poll). Outcomes come back parsed; failures to run throw ApplianceCommandError.
 */
export interface ApplianceActions {
  /** `ghe-maintenance -s` (on) or `-u` (off); `ok: false` carries the exit code and reason. */
  setMaintenance(
    appliance: ApplianceConfig,
    mode: 'on' | 'off',
  ): Promise<{ readonly ok: boolean; readonly exitCode: number; readonly summary: string }>;
  /** Sends `ghe-repl-promote`; returns the SSM command ID to poll. */
  startPromote(
    appliance: ApplianceConfig,
    options: { timeoutSeconds: number; comment?: string },
  ): Promise<string>;
  pollPromote(
    appliance: ApplianceConfig,
    commandId: string,
  ): Promise<
    | { readonly state: 'running'; readonly status: string }
    | { readonly state: 'done'; readonly outcome: PromoteOutcome }
  >;
}

export const createApplianceActions = (deps: {
  readonly commands: ApplianceCommands;
  /** @default 120000: ghe-maintenance -s can take a minute on a busy appliance. */
  readonly maintenanceDeadlineMs?: number;
}): ApplianceActions => ({
  async setMaintenance(appliance, mode) {
    const flag = mode === 'on' ? '-s' : '-u';
    const output = await deps.commands.run(
      appliance.instanceId,
      { name: 'ghe-maintenance', mode: flag },
      { deadlineMs: deps.maintenanceDeadlineMs ?? 120_000, acceptAnyExitCode: true },
    );
    return parseMaintenanceChange(flag, output);
  },

  startPromote(appliance, options) {
    return deps.commands.send(
      appliance.instanceId,
      { name: 'ghe-repl-promote' },
      {
        executionTimeoutSeconds: options.timeoutSeconds,
        ...(options.comment ? { comment: options.comment } : {}),
      },
    );
  },

  async pollPromote(appliance, commandId) {
    const result = await deps.commands.poll(commandId, appliance.instanceId);
    return result.state === 'running' ? result : { state: 'done', outcome: parsePromoteOutput(result) };
  },
});
