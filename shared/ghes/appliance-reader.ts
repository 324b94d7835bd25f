import type { ApplianceConfig } from '../config/operations-config.ts';
import type { ApplianceCommands } from './appliance-commands.ts';
import { ManageApiError, type ManageApi } from './manage-api.ts';
import {
  parseMaintenanceStatusOutput,
  parseManageMaintenance,
  type MaintenanceStatus,
} from './maintenance-status.ts';
import {
  parseManageReplicationStatus,
  parseReplStatusOutput,
  type ReplicationStatus,
} from './replication-status.ts';

/**
 * What the failover's tasks and `/ghes status` ask of an appliance, answered by its Manage API when
 * the config gives one (`manageApi`) and by SSM commands otherwise. Failures to ask (agent offline,
 * API unreachable, password refused) throw ApplianceCommandError / ManageApiError; an answer that
 * cannot be read is a status with health / state `unknown`.
 */
export interface ApplianceReader {
  /** Replication as the replica sees it; `promotable` is what the failover checks before promote. */
  replicationStatus(
    appliance: ApplianceConfig,
    options?: { verbosity?: 'none' | '-v' | '-vv' },
  ): Promise<ReplicationStatus>;
  /** Maintenance mode and active connections (the drain check). */
  maintenanceStatus(appliance: ApplianceConfig): Promise<MaintenanceStatus>;
}

export interface ApplianceReaderDeps {
  readonly commands: ApplianceCommands;
  /** Needed only when some appliance has `manageApi`. */
  readonly manageApi?: ManageApi;
  /** How long an SSM read may take inside one Lambda call. @default 60000 */
  readonly deadlineMs?: number;
}

export const createApplianceReader = (deps: ApplianceReaderDeps): ApplianceReader => {
  const deadlineMs = deps.deadlineMs ?? 60_000;

  const viaManageApi = async <T>(
    appliance: ApplianceConfig,
    path: '/manage/v1/replication/status' | '/manage/v1/maintenance',
    parse: (body: unknown) => T,
    unreadable: (summary: string) => T,
  ): Promise<T> => {
    if (!deps.manageApi)
      throw new Error(`appliance ${appliance.name} has manageApi but no Manage API client was given`);
    try {
      return parse(await deps.manageApi.get(appliance.manageApi!, path));
    } catch (error) {
      // A 200 that is not JSON is an answer we cannot read, like garbled command output.
      if (error instanceof ManageApiError && error.reason === 'invalid-json')
        return unreadable(error.message);
      throw error;
    }
  };

  return {
    async replicationStatus(appliance, options = {}) {
      if (appliance.manageApi)
        return viaManageApi(
          appliance,
          '/manage/v1/replication/status',
          parseManageReplicationStatus,
          (summary) => ({
            health: 'unknown',
            promotable: false,
            services: [],
            summary,
            source: 'manage-api',
          }),
        );
      const output = await deps.commands.run(
        appliance.instanceId,
        { name: 'ghe-repl-status', verbosity: options.verbosity ?? 'none' },
        { deadlineMs },
      );
      return parseReplStatusOutput(output);
    },

    async maintenanceStatus(appliance) {
      if (appliance.manageApi)
        return viaManageApi(
          appliance,
          '/manage/v1/maintenance',
          (body) => parseManageMaintenance(body),
          (summary) => ({
            state: 'unknown',
            activeConnections: null,
            connections: [],
            summary,
            source: 'manage-api',
          }),
        );
      const output = await deps.commands.run(
        appliance.instanceId,
        { name: 'ghe-maintenance-status' },
        { deadlineMs },
      );
      return parseMaintenanceStatusOutput(output);
    },
  };
};
