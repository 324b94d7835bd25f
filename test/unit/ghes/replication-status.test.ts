import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  parseManageReplicationStatus,
  parseReplStatusOutput,
} from '../../../shared/ghes/replication-status.ts';

/** GHES vectors, byte-identical copies of the workspace's shared test vectors (provenance and exit codes: test/vectors/README.md). */
const vector = (name: string) => readFileSync(new URL(`../../vectors/ghes/${name}`, import.meta.url), 'utf8');

describe('ghe-repl-status output', () => {
  it('calls the healthy 3.6 replica promotable: exit 0 and nine channels OK', () => {
    const status = parseReplStatusOutput({ exitCode: 0, stdout: vector('repl-status-healthy-3.6.txt') });
    expect(status).toMatchObject({
      health: 'ok',
      promotable: true,
      summary: 'all 9 replication channels OK',
    });
    expect(status.services.map((s) => s.service)).toEqual([
      'mysql',
      'mssql',
      'redis',
      'elasticsearch',
      'git',
      'pages',
      'alambic',
      'git-hooks',
      'consul',
    ]);
  });

  it('reads the 2.x -v output: detail lines under each header, blank lines between blocks', () => {
    const status = parseReplStatusOutput({ exitCode: 0, stdout: vector('repl-status-verbose-2.x.txt') });
    expect(status).toMatchObject({ health: 'ok', promotable: true });
    expect(status.services.map((s) => [s.service, s.details.length])).toEqual([
      ['mysql', 1],
      ['redis', 5],
      ['elasticsearch', 12],
      ['git', 5],
      ['pages', 1],
    ]);
    expect(status.services[0]!.details).toEqual(['IO running: Yes, SQL running: Yes, Delay: 0']);
    expect(status.services[2]!.details.at(-1)).toBe('}');
  });

  it('waits on a replica catching up: exit 1, warning, naming the mysql delay and the git backlog', () => {
    const status = parseReplStatusOutput({ exitCode: 1, stdout: vector('repl-status-catching-up-3.6.txt') });
    expect(status).toMatchObject({ health: 'warning', promotable: false });
    expect(status.summary).toBe(
      'WARNING: mysql replication delay is 29s; WARNING: git replication is behind the primary by 50 repositories and/or gists',
    );
    expect(status.services.filter((s) => s.level === 'WARNING').map((s) => s.service)).toEqual([
      'mysql',
      'git',
    ]);
  });

  it('refuses to promote right after ghe-repl-start: exit 2, critical git backlog', () => {
    const status = parseReplStatusOutput({ exitCode: 2, stdout: vector('repl-status-initial-sync-3.6.txt') });
    expect(status).toMatchObject({
      health: 'critical',
      promotable: false,
      summary: 'CRITICAL: git replication is behind the primary by 150 repositories and/or gists',
    });
  });

  it('reports the CRITICAL line that never names mssql as critical, with no service guessed', () => {
    const status = parseReplStatusOutput({
      exitCode: 2,
      stdout: vector('repl-status-mssql-critical-3.6.txt'),
    });
    expect(status).toMatchObject({ health: 'critical', promotable: false });
    const critical = status.services.filter((s) => s.level === 'CRITICAL');
    expect(critical).toHaveLength(1);
    expect(critical[0]!.service).toBeNull();
    expect(critical[0]!.message).toMatch(/^Synchronization delay could not be determined: Msg8169/);
    expect(status.summary).toContain('Synchronization delay could not be determined');
  });

  it('says replication is not running, with the retry hint, on exit 1 and that one line', () => {
    const status = parseReplStatusOutput({ exitCode: 1, stdout: vector('repl-status-not-running.txt') });
    expect(status).toMatchObject({ health: 'not-running', promotable: false, services: [] });
    expect(status.summary).toMatch(/not running.*retry in a minute/);
  });

  it('trusts the exit code over the text: the healthy lines with exit 2 are critical, not promotable', () => {
    const status = parseReplStatusOutput({ exitCode: 2, stdout: vector('repl-status-healthy-3.6.txt') });
    expect(status).toMatchObject({ health: 'critical', promotable: false });
    expect(status.summary).toBe('exit 2 (CRITICAL)');
  });

  it('never reports better than the text either: a CRITICAL line with exit 1 is critical', () => {
    const status = parseReplStatusOutput({ exitCode: 1, stdout: vector('repl-status-initial-sync-3.6.txt') });
    expect(status).toMatchObject({ health: 'critical', promotable: false });
  });

  it.each([
    ['a WARNING line', vector('repl-status-catching-up-3.6.txt'), /contradicts the output: WARNING: mysql/],
    ['no status lines', '', /exit 0 but no status lines/],
    [
      'another tool’s output',
      vector('cluster-each-not-configured.txt'),
      /unreadable line: "Clustering is not configured/,
    ],
    ['"not running"', vector('repl-status-not-running.txt'), /replication is not running/],
    [
      'a line it cannot place among OK lines',
      `${vector('repl-status-healthy-3.6.txt')}OK mysql replication in sync (no colon)\n`,
      /unreadable line: "OK mysql replication/,
    ],
  ])('calls exit 0 with %s unknown, never healthy', (_what, stdout, summary) => {
    const status = parseReplStatusOutput({ exitCode: 0, stdout });
    expect(status).toMatchObject({ health: 'unknown', promotable: false });
    expect(status.summary).toMatch(summary);
  });

  it.each([
    [3, /exit 3 \(UNKNOWN\)/],
    [127, /exit 127/],
    [-1, /exit -1/],
  ])('calls exit %i unknown', (exitCode, summary) => {
    const status = parseReplStatusOutput({ exitCode, stdout: vector('repl-status-healthy-3.6.txt') });
    expect(status).toMatchObject({ health: 'unknown', promotable: false });
    expect(status.summary).toMatch(summary);
  });

  it('reads an UNKNOWN header as unknown even under exit 1', () => {
    const status = parseReplStatusOutput({
      exitCode: 1,
      stdout: 'OK: mysql replication is in sync\nUNKNOWN: redis replication state could not be read\n',
    });
    expect(status).toMatchObject({ health: 'unknown', promotable: false });
    expect(status.summary).toBe('UNKNOWN: redis replication state could not be read');
  });

  it('reads Windows line endings the same way', () => {
    const stdout = vector('repl-status-healthy-3.6.txt').replaceAll('\n', '\r\n');
    expect(parseReplStatusOutput({ exitCode: 0, stdout })).toMatchObject({ health: 'ok', promotable: true });
  });

  it('never throws and is never promotable on garbage (fuzz)', () => {
    const alphabet = [
      'OK: ',
      'WARNING: ',
      'CRITICAL: ',
      '  | ',
      '\n',
      '\r\n',
      'x',
      ' ',
      ':',
      '|',
      '\u0000',
      'é',
      '{',
      '"',
    ];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      const stdout = Array.from(
        { length: Math.floor(next() * 40) },
        () => alphabet[Math.floor(next() * alphabet.length)],
      ).join('');
      const exitCode = [0, 1, 2, 3, 255][Math.floor(next() * 5)]!;
      const status = parseReplStatusOutput({ exitCode, stdout });
      if (status.promotable) {
        // Only possible on exit 0 with every non-blank line an OK header or a detail line under one.
        expect(exitCode).toBe(0);
        const lines = stdout.split(/\r?\n/).filter((l) => l.trim());
        expect(lines[0]).toMatch(/^OK: /);
        expect(lines.every((l) => l.startsWith('OK: ') || /^ {2}\|/.test(l))).toBe(true);
      }
    }
  });
});

describe('Manage API /manage/v1/replication/status', () => {
  const body = () => JSON.parse(vector('manage-api-replication-status.json'));

  it('reads the vector: WARNING overall, git behind, not promotable', () => {
    const status = parseManageReplicationStatus(body());
    expect(status).toMatchObject({ health: 'warning', promotable: false, source: 'manage-api' });
    expect(status.summary).toBe(
      'WARNING: git replication is behind the primary by 50 repositories and/or gists',
    );
    expect(status.services.map((s) => [s.service, s.level])).toEqual([
      ['mysql', 'OK'],
      ['git', 'WARNING'],
      ['redis', 'OK'],
    ]);
  });

  it('is promotable only when the overall status, every node and every service say OK', () => {
    const ok = body();
    ok.status = 'OK';
    ok.nodes[0].status = 'OK';
    ok.nodes[0].services[1].status = 'OK';
    expect(parseManageReplicationStatus(ok)).toMatchObject({ health: 'ok', promotable: true });

    const overallOnly = body();
    overallOnly.status = 'OK';
    overallOnly.nodes[0].status = 'OK';
    expect(parseManageReplicationStatus(overallOnly)).toMatchObject({ health: 'warning', promotable: false });

    const critical = body();
    critical.nodes[0].services[0].status = 'CRITICAL';
    expect(parseManageReplicationStatus(critical).health).toBe('critical');
  });

  it('names the node when several replicas answer', () => {
    const two = body();
    two.nodes.push({ ...two.nodes[0], hostname: 'ghe-replica-2' });
    expect(parseManageReplicationStatus(two).summary).toContain('WARNING: ghe-replica-1: git replication');
  });

  it.each([
    ['null', null],
    ['a string', 'OK'],
    ['no nodes', { status: 'OK' }],
    ['no services', { status: 'OK', nodes: [] }],
    ['a node without services', { status: 'OK', nodes: [{ hostname: 'r', status: 'OK' }] }],
    ['a status outside the enum', { status: 'GREEN', nodes: [] }],
    [
      'a service status outside the enum',
      { status: 'OK', nodes: [{ status: 'OK', services: [{ status: 'fine', name: 'git' }] }] },
    ],
    ['an HTML error page', '<html>502 Bad Gateway</html>'],
  ])('calls %s unknown, not healthy', (_what, answer) => {
    expect(parseManageReplicationStatus(answer)).toMatchObject({ health: 'unknown', promotable: false });
  });
});
