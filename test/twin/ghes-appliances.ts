import { createServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { TwinClock } from './clock.ts';
import type { FaultInjector } from './faults.ts';
import type { CommandHost, CommandResult } from './ssm-commands.ts';
import {
  maintenanceOutput,
  maintenanceStatusOutput,
  manageMaintenance,
  manageReplication,
  promoteBusyOutput,
  promoteFailedOutput,
  promoteNotReplicaOutput,
  promoteOutput,
  replStatusOutput,
  REPLICATION_HEALTHS,
  type ReplicationHealth,
} from './ghes-outputs.ts';

/**
 * The GHES primary and replica as the control plane reaches them: SSM command hosts for the GHES
 * documents (infra/ssm-ghes-*.yaml) and a loopback HTTP server with each node's `/status` and Manage
 * API (`/<name>/status`, `/<name>/manage/v1/maintenance`, `/<name>/manage/v1/replication/status`).
 * They keep state and take simulated time:
 * - `/status` is 200 only on the node that is primary, not in maintenance and not mid-promote; 503 else;
 * - maintenance on (`ghe-maintenance -s`) drains the node's active connections to 0 over `drainMs`;
 * - the replica's replication is ok, catching-up (ok after `catchUpMs`), critical or not-running;
 * - `ghe-repl-promote` on the replica puts the primary in maintenance (when it answers), runs for
 *   `promoteMs`, then the replica is primary and the old primary is not (its replication not running).
 * Faults: `appliance:<name>` `Unreachable` (SSM SendCommand → InvalidInstanceId, `/status` connection
 * reset) or `Timeout` (the same for SSM, `/status` never answers); `ssm:<command>` with `exitCode`
 * (`ssm:ghe-repl-promote`, `ssm:ghe-repl-status`, `ssm:ghe-maintenance` (+ `mode`),
 * `ssm:ghe-maintenance-status`; + `appliance` to pick one node) fails that command with that code.
 */
export type ApplianceCommandName =
  'ghe-repl-status' | 'ghe-repl-promote' | 'ghe-maintenance' | 'ghe-maintenance-status';

export interface ApplianceView {
  readonly name: string;
  readonly instanceId: string;
  readonly role: 'primary' | 'replica';
  readonly maintenance: boolean;
  /** The replica's replication health; null on the primary. */
  readonly replication: ReplicationHealth | null;
  readonly activeConnections: number;
  readonly promoting: boolean;
  /** False while an `appliance:<name>` fault is armed (SSM and /status do not reach it). */
  readonly reachable: boolean;
  /** What `/status` answers now (0: no answer, the node is unreachable). */
  readonly status: number;
}

export interface GhesAppliances {
  /** `http://127.0.0.1:<port>`: `/<name>/status` and `/<name>/manage/v1/…` are under it. */
  readonly url: string;
  statusUrl(name: string): string;
  /** The Manage API base a config's `manageApi.url` is replaced with. */
  manageUrl(name: string): string;
  hostOf(instanceId: string): CommandHost | undefined;
  instanceIds(): string[];
  list(): ApplianceView[];
  /** `POST /sandbox/appliances`: set a node's replication health or active connections. */
  update(name: string, changes: unknown): ApplianceView;
  close(): Promise<void>;
}

export class ApplianceUpdateError extends Error {
  override name = 'ApplianceUpdateError';
}

export interface GhesAppliancesOptions {
  readonly clock: TwinClock;
  readonly faults: FaultInjector;
  readonly appliances: readonly { name: string; instanceId: string; initialRole: 'primary' | 'replica' }[];
  /** Deployed document name → the GHES command it runs. */
  readonly documents: Readonly<Record<string, ApplianceCommandName>>;
  /** Simulated durations (before timeScale). */
  readonly durations: { promoteMs: number; drainMs: number; replicationCatchUpMs: number };
  /** Active connections on the primary before maintenance (Git operations in flight). */
  readonly activeConnections: number;
  readonly replication: ReplicationHealth;
  /** The Management Console password the Manage API wants (`api_key:<password>`). */
  readonly managePassword: string;
}

interface Node {
  readonly name: string;
  readonly instanceId: string;
  role: 'primary' | 'replica';
  maintenanceSince: number | null;
  replication: ReplicationHealth | null;
  catchUpUntil: number | null;
  baseConnections: number;
  promoting: boolean;
}

/** Simulated time the small commands take. */
const QUICK_MS = { status: 2_000, maintenance: 5_000, query: 1_000 };

export const startGhesAppliances = async (options: GhesAppliancesOptions): Promise<GhesAppliances> => {
  const { clock, faults } = options;
  const nodes = options.appliances.map((a): Node => ({
    name: a.name,
    instanceId: a.instanceId,
    role: a.initialRole,
    maintenanceSince: null,
    replication: a.initialRole === 'replica' ? options.replication : null,
    catchUpUntil: null,
    baseConnections: a.initialRole === 'primary' ? options.activeConnections : 0,
    promoting: false,
  }));
  const scaled = (simulatedMs: number) => simulatedMs * clock.timeScale;
  const names = nodes.map((n) => n.name);

  for (const node of nodes)
    faults.define(`appliance:${node.name}`, {
      errors: { Unreachable: 0, Timeout: 0 },
      defaultError: 'Unreachable',
    });
  for (const command of ['ghe-repl-status', 'ghe-repl-promote', 'ghe-maintenance', 'ghe-maintenance-status'])
    faults.define(`ssm:${command}`, {
      errors: { CommandFailed: 0 },
      defaultError: 'CommandFailed',
      settings: ['exitCode'],
      filters: { appliance: names, ...(command === 'ghe-maintenance' ? { mode: ['-q', '-s', '-u'] } : {}) },
    });

  const replicationOf = (node: Node): ReplicationHealth | null => {
    if (node.replication === 'catching-up' && node.catchUpUntil !== null && Date.now() >= node.catchUpUntil) {
      node.replication = 'ok';
      node.catchUpUntil = null;
    }
    return node.replication;
  };
  const setReplication = (node: Node, health: ReplicationHealth) => {
    node.replication = health;
    node.catchUpUntil =
      health === 'catching-up' ? Date.now() + scaled(options.durations.replicationCatchUpMs) : null;
  };
  // A replica configured as catching-up is in sync after the catch-up time, counted from the start.
  for (const node of nodes) if (node.replication) setReplication(node, node.replication);

  /** Connections drain linearly to 0 over drainMs once maintenance is on. */
  const connectionsOf = (node: Node) => {
    if (node.maintenanceSince === null) return node.baseConnections;
    const drained = (Date.now() - node.maintenanceSince) / Math.max(1, scaled(options.durations.drainMs));
    return Math.max(0, Math.ceil(node.baseConnections * (1 - drained)));
  };
  const setMaintenance = (node: Node, on: boolean) => {
    if (on && node.maintenanceSince === null) node.maintenanceSince = Date.now();
    if (!on) node.maintenanceSince = null;
  };
  const statusOf = (node: Node) =>
    node.role === 'primary' && node.maintenanceSince === null && !node.promoting ? 200 : 503;
  /** Each touch of an unreachable node takes the fault (so `count` limits how many touches fail). */
  const unreachable = (node: Node) => faults.take(`appliance:${node.name}`);

  const injected = (command: ApplianceCommandName, node: Node, mode?: string) =>
    faults.take(`ssm:${command}`, { appliance: node.name, ...(mode ? { mode } : {}) });
  const failed = (code: number | undefined, command: string): CommandResult => ({
    exitCode: Math.min(255, code ?? 1),
    stdout: '',
    stderr: `${command}: failed (injected by the sandbox)\n`,
  });

  const promote = async (node: Node): Promise<CommandResult> => {
    if (node.promoting) return promoteBusyOutput();
    if (node.role !== 'replica' || replicationOf(node) === null) return promoteNotReplicaOutput();
    const fault = injected('ghe-repl-promote', node);
    node.promoting = true;
    // Promote's first step: the primary in maintenance, when it can be reached (GHES docs).
    const primary = nodes.find((n) => n !== node && n.role === 'primary');
    const primaryReached = primary !== undefined && !unreachable(primary);
    if (primary && primaryReached) setMaintenance(primary, true);
    try {
      if (fault) {
        await clock.sleep(options.durations.promoteMs / 2);
        return promoteFailedOutput(Math.min(255, fault.settings.exitCode ?? 1));
      }
      await clock.sleep(options.durations.promoteMs);
      node.role = 'primary';
      node.replication = null;
      node.catchUpUntil = null;
      setMaintenance(node, false);
      if (primary) {
        // No longer primary: a detached node until someone sets up replication again.
        primary.role = 'replica';
        primary.replication = 'not-running';
        primary.baseConnections = 0;
      }
      return promoteOutput(!primaryReached);
    } finally {
      node.promoting = false;
    }
  };

  const run = async (node: Node, command: ApplianceCommandName, p: Readonly<Record<string, string>>) => {
    switch (command) {
      case 'ghe-repl-status': {
        await clock.sleep(QUICK_MS.status);
        const fault = injected(command, node);
        if (fault) return failed(fault.settings.exitCode, command);
        return replStatusOutput(replicationOf(node) ?? 'not-running', p.verbosity ?? 'none');
      }
      case 'ghe-repl-promote':
        return promote(node);
      case 'ghe-maintenance': {
        const mode = p.mode ?? '-q';
        await clock.sleep(mode === '-q' ? QUICK_MS.query : QUICK_MS.maintenance);
        const fault = injected(command, node, mode);
        if (fault) return failed(fault.settings.exitCode, `${command} ${mode}`);
        if (mode === '-s') setMaintenance(node, true);
        if (mode === '-u') setMaintenance(node, false);
        return maintenanceOutput(mode, node.maintenanceSince !== null);
      }
      case 'ghe-maintenance-status': {
        await clock.sleep(QUICK_MS.query);
        const fault = injected(command, node);
        if (fault) return failed(fault.settings.exitCode, command);
        return maintenanceStatusOutput(node.name, node.maintenanceSince !== null, connectionsOf(node));
      }
    }
  };

  const hostOf = (instanceId: string): CommandHost | undefined => {
    const node = nodes.find((n) => n.instanceId === instanceId);
    if (!node) return undefined;
    return {
      agentOnline: () => !unreachable(node),
      async run(document, parameters) {
        const command = options.documents[document];
        if (!command)
          return { exitCode: 127, stdout: '', stderr: `GHES appliance: no simulation of ${document}\n` };
        return run(node, command, parameters);
      },
    };
  };

  const armed = (node: Node) => faults.list().some((f) => f.target === `appliance:${node.name}`);
  const view = (node: Node): ApplianceView => ({
    name: node.name,
    instanceId: node.instanceId,
    role: node.role,
    maintenance: node.maintenanceSince !== null,
    replication: replicationOf(node),
    activeConnections: connectionsOf(node),
    promoting: node.promoting,
    reachable: !armed(node),
    status: armed(node) ? 0 : statusOf(node),
  });

  // `/status` and the Manage API, by node name in the path.
  const held = new Set<Socket>();
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
    res.end(text);
  };
  const expectedAuth = `Basic ${Buffer.from(`api_key:${options.managePassword}`).toString('base64')}`;
  const server = createServer((req, res) => {
    const [, name, ...rest] = new URL(req.url ?? '/', 'http://appliance').pathname.split('/');
    const node = nodes.find((n) => n.name === name);
    const path = `/${rest.join('/')}`;
    if (!node) return send(res, 404, { message: 'Not Found' });
    const fault = unreachable(node);
    if (fault?.code === 'Unreachable') return void req.socket.destroy();
    if (fault) return void held.add(req.socket); // never answered: the client's timeout decides
    if (req.method !== 'GET') return send(res, 405, { message: 'Method Not Allowed' });
    if (path === '/status')
      return send(res, statusOf(node), statusOf(node) === 200 ? 'OK' : 'Service Unavailable');
    if (!path.startsWith('/manage/v1/')) return send(res, 404, { message: 'Not Found' });
    if (req.headers.authorization !== expectedAuth) return send(res, 401, { message: 'Unauthorized' });
    if (path === '/manage/v1/maintenance')
      return send(
        res,
        200,
        manageMaintenance(node.name, node.maintenanceSince !== null, connectionsOf(node)),
      );
    if (path === '/manage/v1/replication/status') {
      const replica = nodes.find((n) => n.role === 'replica');
      return send(
        res,
        200,
        manageReplication(
          replica?.name ?? null,
          replica ? (replicationOf(replica) ?? 'not-running') : 'not-running',
        ),
      );
    }
    return send(res, 404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    statusUrl: (name) => `${url}/${name}/status`,
    manageUrl: (name) => `${url}/${name}`,
    hostOf,
    instanceIds: () => nodes.map((n) => n.instanceId),
    list: () => nodes.map(view),
    update(name, changes) {
      const node = nodes.find((n) => n.name === name);
      if (!node) throw new ApplianceUpdateError(`name: expected one of ${names.join(', ')}`);
      if (typeof changes !== 'object' || changes === null || Array.isArray(changes))
        throw new ApplianceUpdateError(
          'body must be a JSON object {"name", "replication"?, "activeConnections"?}',
        );
      const { replication, activeConnections, ...unknown } = changes as Record<string, unknown>;
      const extra = Object.keys(unknown).filter((key) => key !== 'name');
      if (extra.length) throw new ApplianceUpdateError(`unknown field(s): ${extra.join(', ')}`);
      if (replication !== undefined) {
        if (!REPLICATION_HEALTHS.includes(replication as ReplicationHealth))
          throw new ApplianceUpdateError(`replication: expected one of ${REPLICATION_HEALTHS.join(', ')}`);
        if (node.role !== 'replica') throw new ApplianceUpdateError(`replication: ${name} is not a replica`);
      }
      if (
        activeConnections !== undefined &&
        (typeof activeConnections !== 'number' ||
          !Number.isInteger(activeConnections) ||
          activeConnections < 0)
      )
        throw new ApplianceUpdateError('activeConnections: expected a whole number ≥ 0');
      // Checked in full before anything changes.
      if (replication !== undefined) setReplication(node, replication as ReplicationHealth);
      if (activeConnections !== undefined) {
        node.baseConnections = activeConnections as number;
        if (node.maintenanceSince !== null) node.maintenanceSince = Date.now(); // drains from now
      }
      return view(node);
    },
    async close() {
      for (const socket of held) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
