import type { ApplianceConfig } from '../config/operations-config.ts';

/**
 * What the failover needs from an appliance, in its own terms. The GHES command layer
 * (`shared/ghes/`: SSM documents, parsers, the Manage API, the `/status` probe) implements it through
 * an adapter; the failover's tests use fakes. Keeping the port this small is what lets the state
 * machine be tested without SSM and the command layer without the state machine.
 */
export interface ReplicationState {
  /** `ghe-repl-status`'s verdict; its exit code is authoritative. */
  readonly health: 'ok' | 'warning' | 'critical' | 'not-running';
  /** A replica `ghe-repl-promote` can promote (replication configured on it, it is not a primary). */
  readonly promotable: boolean;
  /** One line for Slack, e.g. `OK: mysql, redis, git, pages, elasticsearch` or the failing services. */
  readonly summary: string;
}

export interface MaintenanceState {
  readonly enabled: boolean;
  /** Connections still open to the appliance (the Manage API's `connection_services`); null when unknown. */
  readonly activeConnections: number | null;
}

/** The `/status` probe: 200 only on the active primary. */
export type StatusAnswer = { readonly status: number } | { readonly unreachable: string };

export type PromoteState =
  | { readonly state: 'running' }
  | { readonly state: 'done'; readonly exitCode: number; readonly output: string };

export interface ApplianceOperations {
  replicationStatus(appliance: ApplianceConfig): Promise<ReplicationState>;
  maintenanceStatus(appliance: ApplianceConfig): Promise<MaintenanceState>;
  /** `ghe-maintenance -s` / `-u`; resolves once the appliance has confirmed it. */
  setMaintenance(appliance: ApplianceConfig, on: boolean): Promise<void>;
  /** Sends `ghe-repl-promote` and returns at once: promote takes minutes, the state machine polls. */
  startPromote(appliance: ApplianceConfig): Promise<{ readonly commandId: string }>;
  pollPromote(appliance: ApplianceConfig, commandId: string): Promise<PromoteState>;
  probeStatus(appliance: ApplianceConfig): Promise<StatusAnswer>;
}

/**
 * `startPromote` refused before anything reached the appliance (SSM rejected the command, the agent is
 * offline). Only this error lets the failover undo maintenance mode and stop: after any other failure
 * of `startPromote` the promote may be running, and the old primary must stay in maintenance.
 */
export class PromoteNotStartedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PromoteNotStarted';
  }
}
