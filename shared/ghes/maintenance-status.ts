/**
 * Maintenance mode of a GHES appliance and its active connections, from the Manage API's
 * GET /manage/v1/maintenance, from our status document (infra/ssm-ghes-maintenance-status.yaml, which
 * prints the same shape), or from `ghe-maintenance -q` alone. Pure; never throws: an answer we cannot
 * read is `unknown`, and unknown connections are `null`, never 0 (0 is what lets a failover proceed).
 */
export type MaintenanceState = 'on' | 'off' | 'scheduled' | 'unknown';

export interface ConnectionCount {
  /** `git operations`, `mysql queries`, `aqueduct jobs`, `resque jobs`. */
  readonly name: string;
  readonly number: number;
}

export interface MaintenanceStatus {
  readonly state: MaintenanceState;
  /** Sum over every service (and node); null when any count is missing or unreadable. */
  readonly activeConnections: number | null;
  readonly connections: readonly ConnectionCount[];
  readonly scheduledTime?: string;
  readonly summary: string;
  readonly source: 'manage-api' | 'ghe-maintenance-status' | 'ghe-maintenance -q';
}

const STATES = new Set(['on', 'off', 'scheduled']);

const unknown = (summary: string, source: MaintenanceStatus['source']): MaintenanceStatus => ({
  state: 'unknown',
  activeConnections: null,
  connections: [],
  summary,
  source,
});

const describe = (status: Omit<MaintenanceStatus, 'summary'>): string => {
  const when = status.state === 'scheduled' && status.scheduledTime ? ` for ${status.scheduledTime}` : '';
  const counts = status.connections.map((c) => `${c.name} ${c.number}`).join(', ');
  const active =
    status.activeConnections === null
      ? 'active connections unknown'
      : `${status.activeConnections} active connection${status.activeConnections === 1 ? '' : 's'}`;
  return `maintenance ${status.state}${when}, ${active}${counts ? ` (${counts})` : ''}`;
};

/**
 * `[{hostname, status: on|off|scheduled, scheduled_time, connection_services: [{name, number}]}]`,
 * one entry per node (a single object is read as one node). Nodes that disagree make the state unknown.
 */
export const parseManageMaintenance = (
  body: unknown,
  source: MaintenanceStatus['source'] = 'manage-api',
): MaintenanceStatus => {
  const nodes = (Array.isArray(body) ? body : [body]) as {
    status?: unknown;
    scheduled_time?: unknown;
    connection_services?: unknown;
  }[];
  if (!nodes.length || nodes.some((node) => !node || typeof node !== 'object'))
    return unknown('the maintenance answer has no node', source);
  const states = new Set(
    nodes.map((node) => (STATES.has(node.status as string) ? (node.status as string) : 'unknown')),
  );
  const state: MaintenanceState = states.size === 1 ? ([...states][0] as MaintenanceState) : 'unknown';
  const connections: ConnectionCount[] = [];
  let readable = true;
  for (const node of nodes) {
    if (!Array.isArray(node.connection_services)) {
      readable = false;
      continue;
    }
    for (const service of node.connection_services as { name?: unknown; number?: unknown }[]) {
      const number = service?.number;
      if (
        typeof service?.name !== 'string' ||
        typeof number !== 'number' ||
        !Number.isInteger(number) ||
        number < 0
      )
        readable = false;
      else connections.push({ name: service.name, number });
    }
  }
  const scheduledTime = nodes.find((node) => typeof node.scheduled_time === 'string')?.scheduled_time as
    string | undefined;
  const status = {
    state,
    activeConnections: readable ? connections.reduce((sum, c) => sum + c.number, 0) : null,
    connections,
    ...(scheduledTime ? { scheduledTime } : {}),
    source,
  };
  const disagreement = states.size > 1 ? ` (nodes disagree: ${[...states].sort().join(', ')})` : '';
  return { ...status, summary: `${describe(status)}${disagreement}` };
};

/** Our status document's stdout: the one JSON line it prints, in the Manage API's shape. */
export const parseMaintenanceStatusOutput = (result: {
  exitCode: number;
  stdout: string;
}): MaintenanceStatus => {
  const source = 'ghe-maintenance-status';
  if (result.exitCode !== 0) return unknown(`the status document exited ${result.exitCode}`, source);
  const line = String(result.stdout ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .at(-1);
  try {
    return parseManageMaintenance(JSON.parse(line ?? ''), source);
  } catch {
    return unknown('the status document printed no JSON', source);
  }
};

/**
 * `ghe-maintenance -q`: exit 0 when maintenance mode is on, 1 when it is not set (field scripts read
 * the exit code; the text when off is "maintenance mode not set"). Connections are not in its output.
 */
export const parseMaintenanceQuery = (result: {
  exitCode: number;
  stdout: string;
  stderr?: string;
}): MaintenanceStatus => {
  const source = 'ghe-maintenance -q';
  const text = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.toLowerCase();
  const base = { activeConnections: null, connections: [], source } as const;
  if (result.exitCode === 0 && !/\bnot set\b/.test(text))
    return { ...base, state: 'on', summary: 'maintenance on, active connections unknown' };
  if (result.exitCode === 1) return { ...base, state: 'off', summary: 'maintenance off' };
  return unknown(
    result.exitCode === 0
      ? 'ghe-maintenance -q exited 0 but printed "not set"'
      : `ghe-maintenance -q exited ${result.exitCode}`,
    source,
  );
};

/** `ghe-maintenance -s` / `-u`: exit 0 is done; anything else is a failure with its last lines. */
export const parseMaintenanceChange = (
  mode: '-s' | '-u',
  result: { exitCode: number; stdout: string; stderr?: string },
): { readonly ok: boolean; readonly exitCode: number; readonly summary: string } => {
  const what = mode === '-s' ? 'maintenance mode set' : 'maintenance mode unset';
  if (result.exitCode === 0) return { ok: true, exitCode: 0, summary: what };
  const reason = `${result.stderr ?? ''}\n${result.stdout ?? ''}`
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-2)
    .join(' / ');
  return {
    ok: false,
    exitCode: result.exitCode,
    summary: `ghe-maintenance ${mode} failed with exit code ${result.exitCode}${reason ? `: ${reason}` : ''}`,
  };
};
