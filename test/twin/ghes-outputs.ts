import { readFileSync } from 'node:fs';

/**
 * What the simulated GHES appliances print: the test vectors in test/vectors/ghes (byte-exact
 * copies of the workspace's shared GHES test vectors), so the product's parsers meet in the sandbox
 * the text they are tested against. Where no vector exists (`ghe-maintenance` itself prints little;
 * a refused promote), the lines are the twin's own and say so in a comment.
 */
const fixture = (file: string) => readFileSync(new URL(`../vectors/ghes/${file}`, import.meta.url), 'utf8');

export type ReplicationHealth = 'ok' | 'catching-up' | 'critical' | 'not-running';
export const REPLICATION_HEALTHS: readonly ReplicationHealth[] = [
  'ok',
  'catching-up',
  'critical',
  'not-running',
];

export interface CommandOutput {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

const vectors = {
  healthy: fixture('repl-status-healthy-3.6.txt'),
  verbose: fixture('repl-status-verbose-2.x.txt'),
  catchingUp: fixture('repl-status-catching-up-3.6.txt'),
  initialSync: fixture('repl-status-initial-sync-3.6.txt'),
  notRunning: fixture('repl-status-not-running.txt'),
  promote: fixture('repl-promote-2.x.txt'),
  manageMaintenance: JSON.parse(fixture('manage-api-maintenance.json')) as Record<string, unknown>[],
  manageReplication: JSON.parse(fixture('manage-api-replication-status.json')) as {
    nodes: { services: { status: string; name: string; details: string }[] }[];
  },
};

/**
 * `ghe-repl-status [-v|-vv]` (Nagios exit codes: 0 OK, 1 WARNING or not running, 2 CRITICAL). The
 * only verbose vector is a healthy one; other states print their plain lines under -v too, which a
 * parser of -v output must read as well.
 */
export const replStatusOutput = (health: ReplicationHealth, verbosity: string): CommandOutput => {
  switch (health) {
    case 'ok':
      return { exitCode: 0, stdout: verbosity === 'none' ? vectors.healthy : vectors.verbose, stderr: '' };
    case 'catching-up':
      return { exitCode: 1, stdout: vectors.catchingUp, stderr: '' };
    case 'critical':
      return { exitCode: 2, stdout: vectors.initialSync, stderr: '' };
    case 'not-running':
      return { exitCode: 1, stdout: vectors.notRunning, stderr: '' };
  }
};

/** A successful `ghe-repl-promote`, the vector's text; `primaryUnreachable` adds the warning GHES documents. */
export const promoteOutput = (primaryUnreachable: boolean): CommandOutput => ({
  exitCode: 0,
  stdout: vectors.promote,
  // Twin's own wording: GHES says warnings and timeouts reaching the old primary "can be ignored".
  stderr: primaryUnreachable
    ? 'Warning: the primary did not answer; it was not put in maintenance mode.\n'
    : '',
});

/** A promote that fails part way (injected): the vector's lines up to where it stopped. */
export const promoteFailedOutput = (exitCode: number): CommandOutput => ({
  exitCode,
  stdout: vectors.promote.split('\n').slice(0, 2).join('\n') + '\n',
  // Twin's own wording.
  stderr: `Error: replication could not be stopped on all services; the replica was not promoted.\n`,
});

/** Twin's own wording: ghe-repl-promote on a node that is not a replica. */
export const promoteNotReplicaOutput = (): CommandOutput => ({
  exitCode: 1,
  stdout: '',
  stderr: 'Error: this appliance is not configured as a replica.\n',
});

/** What infra/ssm-ghes-repl-promote.yaml prints when a promote it started is still running (its flock). */
export const promoteBusyOutput = (): CommandOutput => ({
  exitCode: 75,
  stdout: '',
  stderr: 'another ghe-repl-promote started by the control plane is still running on this node\n',
});

/**
 * `ghe-maintenance -q` exits 0 when maintenance mode is on and 1 when it is not set (field scripts
 * rely on the exit code; "maintenance mode not set" is the text seen in the field). -s and -u are
 * read by their exit code only; their one line is the twin's own.
 */
export const maintenanceOutput = (mode: string, on: boolean): CommandOutput => {
  if (mode === '-q')
    return on
      ? { exitCode: 0, stdout: 'maintenance mode set\n', stderr: '' }
      : { exitCode: 1, stdout: 'maintenance mode not set\n', stderr: '' };
  return {
    exitCode: 0,
    stdout: mode === '-s' ? 'maintenance mode set\n' : 'maintenance mode unset\n',
    stderr: '',
  };
};

/** infra/ssm-ghes-maintenance-status.yaml: one JSON line in the Manage API's maintenance shape. */
export const maintenanceStatusOutput = (
  hostname: string,
  on: boolean,
  gitOperations: number,
): CommandOutput => ({
  exitCode: 0,
  stdout: `${JSON.stringify([
    {
      hostname,
      status: on ? 'on' : 'off',
      connection_services: [{ name: 'git operations', number: gitOperations }],
    },
  ])}\n`,
  stderr: maintenanceOutput('-q', on).stdout,
});

/** `GET /manage/v1/maintenance`: the vector's shape with this node's state. */
export const manageMaintenance = (hostname: string, on: boolean, connections: number) =>
  vectors.manageMaintenance.map((node) => ({
    ...node,
    hostname,
    status: on ? 'on' : 'off',
    scheduled_time: null,
    connection_services: (node.connection_services as { name: string }[]).map((service) => ({
      name: service.name,
      // Every active connection is a Git operation here; the others are 0 (what drains last is Git).
      number: service.name === 'git operations' ? connections : 0,
    })),
  }));

const MANAGE_STATUS: Record<ReplicationHealth, string> = {
  ok: 'OK',
  'catching-up': 'WARNING',
  critical: 'CRITICAL',
  'not-running': 'UNKNOWN',
};

/** `GET /manage/v1/replication/status`: the vector's services, each as healthy as the replica is. */
export const manageReplication = (replica: string | null, health: ReplicationHealth) => {
  if (!replica || health === 'not-running') return { status: 'UNKNOWN', nodes: [] };
  const services = vectors.manageReplication.nodes[0]!.services.map((service) => {
    if (health === 'ok' || service.name !== 'git')
      return { status: 'OK', name: service.name, details: 'replication is in sync' };
    return {
      status: MANAGE_STATUS[health],
      name: service.name,
      details:
        health === 'critical'
          ? 'replication is behind the primary by 150 repositories and/or gists'
          : service.details,
    };
  });
  return {
    status: MANAGE_STATUS[health],
    nodes: [{ hostname: replica, status: MANAGE_STATUS[health], services }],
  };
};
