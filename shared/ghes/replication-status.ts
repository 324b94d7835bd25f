/**
 * Replication health of a GHES replica, read from `ghe-repl-status` (plain, -v, -vv) or the Manage
 * API's GET /manage/v1/replication/status. Pure: data in, data out; never throws.
 *
 * `ghe-repl-status` is a Nagios check: exit 0 all OK, 1 a WARNING or replication not running, 2 a
 * CRITICAL (GHES docs, "Command-line utilities"). The exit code is the truth; the lines are detail and
 * vary by version: headers `^(OK|WARNING|CRITICAL|UNKNOWN): `, detail lines `  | ` under them (-v,
 * -vv), blank lines between blocks, service names inside free text and sometimes absent (a CRITICAL
 * mssql line may read "Synchronization delay could not be determined: …"). A replica is promotable
 * only on exit 0 with every line read and every channel OK; anything the parser cannot place makes
 * the answer `unknown`, never healthy.
 */
export type ReplicationHealth = 'ok' | 'warning' | 'critical' | 'not-running' | 'unknown';
export type ChannelLevel = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

export interface ReplicationChannel {
  readonly level: ChannelLevel;
  /** `mysql`, `git`, `elasticsearch`, … when the line names one; null when it does not. */
  readonly service: string | null;
  /** The line after `LEVEL: `, or the Manage API's `details`. */
  readonly message: string;
  /** `  | ` lines under the header (-v/-vv), without the marker. */
  readonly details: readonly string[];
  /** The replica node, when the Manage API reports several. */
  readonly node?: string;
}

export interface ReplicationStatus {
  readonly health: ReplicationHealth;
  /** Safe to run ghe-repl-promote: exit 0 (or Manage API OK) and every channel OK. */
  readonly promotable: boolean;
  readonly services: readonly ReplicationChannel[];
  /** One line for Slack and the audit log: what is wrong, or that all is in sync. */
  readonly summary: string;
  readonly source: 'ghe-repl-status' | 'manage-api';
  readonly exitCode?: number;
}

const HEADER = /^(OK|WARNING|CRITICAL|UNKNOWN): (.*)$/;
const DETAIL = /^ {2}\|(?: (.*))?$/;
const NOT_RUNNING = /^replication is not running\b/i;
/** `mysql replication …`, `elasticsearch cluster …`, `git data …`: the service is the first word. */
const SERVICE = /^([a-z][a-z0-9_-]*) (?:replication|cluster|data)\b/i;

const RANK: Record<ChannelLevel, number> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };
const HEALTH_OF: Record<ChannelLevel, ReplicationHealth> = {
  OK: 'ok',
  WARNING: 'warning',
  UNKNOWN: 'unknown',
  CRITICAL: 'critical',
};

const worstLevel = (levels: readonly ChannelLevel[]): ChannelLevel =>
  levels.reduce<ChannelLevel>((worst, level) => (RANK[level] > RANK[worst] ? level : worst), 'OK');

const problems = (channels: readonly ReplicationChannel[]) =>
  channels
    .filter((channel) => channel.level !== 'OK')
    .map((channel) => `${channel.level}: ${channel.node ? `${channel.node}: ` : ''}${channel.message}`)
    .join('; ');

const unknown = (
  summary: string,
  services: readonly ReplicationChannel[],
  source: ReplicationStatus['source'],
  exitCode?: number,
): ReplicationStatus => ({
  health: 'unknown',
  promotable: false,
  services,
  summary,
  source,
  ...(exitCode === undefined ? {} : { exitCode }),
});

/** `ghe-repl-status` (any verbosity) as run by the SSM document: its exit code and stdout. */
export const parseReplStatusOutput = (result: { exitCode: number; stdout: string }): ReplicationStatus => {
  const { exitCode } = result;
  const channels: { level: ChannelLevel; service: string | null; message: string; details: string[] }[] = [];
  const unplaced: string[] = [];
  let notRunning = false;
  for (const line of String(result.stdout ?? '').split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const header = HEADER.exec(line);
    const detail = DETAIL.exec(line);
    if (header) {
      const message = header[2]!.trim();
      channels.push({
        level: header[1] as ChannelLevel,
        service: SERVICE.exec(message)?.[1]?.toLowerCase() ?? null,
        message,
        details: [],
      });
    } else if (detail && channels.length) channels.at(-1)!.details.push(detail[1] ?? '');
    else if (NOT_RUNNING.test(line.trim())) notRunning = true;
    else unplaced.push(line.trim());
  }
  const source = 'ghe-repl-status';
  const text = worstLevel(channels.map((channel) => channel.level));
  const base = { services: channels, source, exitCode } as const;
  const odd = unplaced.length ? ` (unreadable line: "${unplaced[0]!.slice(0, 120)}")` : '';

  if (exitCode === 0) {
    if (!channels.length)
      return unknown(
        `exit 0 but ${notRunning ? 'it says replication is not running' : 'no status lines'}${odd}`,
        channels,
        source,
        exitCode,
      );
    if (text !== 'OK' || notRunning || unplaced.length)
      return unknown(
        `exit 0 contradicts the output: ${problems(channels) || (notRunning ? 'replication is not running' : 'output not understood')}${odd}`,
        channels,
        source,
        exitCode,
      );
    return {
      ...base,
      health: 'ok',
      promotable: true,
      summary: `all ${channels.length} replication channels OK`,
    };
  }
  if (exitCode === 1) {
    if (!channels.length && notRunning)
      return {
        ...base,
        health: 'not-running',
        promotable: false,
        summary:
          'replication is not running (if ghe-repl-start just ran, it may still be starting: retry in a minute)',
      };
    if (!channels.length) return unknown(`exit 1 without status lines${odd}`, channels, source, exitCode);
    // The exit code says WARNING; a worse line (CRITICAL, UNKNOWN) wins: never report better than either.
    const health = RANK[text] > RANK.WARNING ? HEALTH_OF[text] : 'warning';
    return { ...base, health, promotable: false, summary: problems(channels) || `exit 1${odd}` };
  }
  if (exitCode === 2)
    return {
      ...base,
      health: 'critical',
      promotable: false,
      summary: problems(channels) || `exit 2 (CRITICAL)${odd}`,
    };
  return unknown(
    `exit ${exitCode}${exitCode === 3 ? ' (UNKNOWN)' : ''}: ${problems(channels) || 'status could not be determined'}`,
    channels,
    source,
    exitCode,
  );
};

const asLevel = (value: unknown): ChannelLevel | null =>
  typeof value === 'string' && value.toUpperCase() in RANK ? (value.toUpperCase() as ChannelLevel) : null;

/**
 * GET /manage/v1/replication/status: `{status, nodes: [{hostname, status, services: [{status, name,
 * details}]}]}` with statuses UNKNOWN/OK/WARNING/CRITICAL. The worst of the overall status, every
 * node's and every service's decides; a shape we do not know is `unknown`.
 */
export const parseManageReplicationStatus = (body: unknown): ReplicationStatus => {
  const source = 'manage-api';
  const root = body as { status?: unknown; nodes?: unknown } | null;
  const overall = asLevel(root?.status);
  if (!root || typeof root !== 'object' || !overall || !Array.isArray(root.nodes))
    return unknown('the Manage API answer has no status and nodes', [], source);
  const channels: ReplicationChannel[] = [];
  const levels: ChannelLevel[] = [overall];
  for (const node of root.nodes as { hostname?: unknown; status?: unknown; services?: unknown }[]) {
    const nodeLevel = asLevel(node?.status);
    if (!nodeLevel || !Array.isArray(node.services))
      return unknown('a node in the Manage API answer has no status or services', channels, source);
    levels.push(nodeLevel);
    for (const service of node.services as { status?: unknown; name?: unknown; details?: unknown }[]) {
      const level = asLevel(service?.status);
      if (!level) return unknown('a service in the Manage API answer has no known status', channels, source);
      levels.push(level);
      channels.push({
        level,
        service: typeof service.name === 'string' ? service.name : null,
        message: [service.name, service.details].filter((part) => typeof part === 'string').join(' '),
        details: [],
        ...(root.nodes.length > 1 && typeof node.hostname === 'string' ? { node: node.hostname } : {}),
      });
    }
  }
  if (!channels.length) return unknown('the Manage API reports no replica services', channels, source);
  const worst = worstLevel(levels);
  if (worst === 'OK')
    return {
      health: 'ok',
      promotable: true,
      services: channels,
      summary: `all ${channels.length} replication channels OK`,
      source,
    };
  return {
    health: HEALTH_OF[worst],
    promotable: false,
    services: channels,
    summary: problems(channels) || `overall status ${worst}`,
    source,
  };
};
