import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import {
  COMMAND_NAMES,
  DOCUMENT_STEP_NAME,
  documentParameters,
  type ApplianceCommand,
  type ApplianceCommandName,
} from '../../../shared/ghes/commands.ts';
import { parseMaintenanceStatusOutput } from '../../../shared/ghes/maintenance-status.ts';

/**
 * The SSM Command documents in infra/ are the only way a GHES command runs. These tests hold them to
 * what the code sends (every value the code can produce passes the patterns; nothing a shell would read
 * as more than a value does) and then run each document's script under bash with stand-ins for sudo
 * and the GHES tools, to see what the appliance would see: the arguments, stdin, the exit code.
 */
interface SsmDocument {
  schemaVersion: string;
  parameters: Record<string, { type: string; default?: string; allowedPattern?: string }>;
  mainSteps: { action: string; name: string; inputs: { timeoutSeconds: string; runCommand: string[] } }[];
}

const FILES: Record<ApplianceCommandName, string> = {
  'ghe-repl-status': 'infra/ssm-ghes-repl-status.yaml',
  'ghe-repl-promote': 'infra/ssm-ghes-repl-promote.yaml',
  'ghe-maintenance': 'infra/ssm-ghes-maintenance.yaml',
  'ghe-maintenance-status': 'infra/ssm-ghes-maintenance-status.yaml',
};
const load = (name: ApplianceCommandName) => parse(readFileSync(FILES[name], 'utf8')) as SsmDocument;

/** Every command the union allows, so a new member without a document (or a pattern) fails here. */
const EVERY_COMMAND: ApplianceCommand[] = [
  { name: 'ghe-repl-status', verbosity: 'none' },
  { name: 'ghe-repl-status', verbosity: '-v' },
  { name: 'ghe-repl-status', verbosity: '-vv' },
  { name: 'ghe-repl-promote' },
  { name: 'ghe-maintenance', mode: '-q' },
  { name: 'ghe-maintenance', mode: '-s' },
  { name: 'ghe-maintenance', mode: '-u' },
  { name: 'ghe-maintenance-status' },
];

/** Values a person might type, or an attacker might try, in place of a parameter. */
const HOSTILE = [
  '',
  ' ',
  '-v; reboot',
  '-v && id',
  '-v | tee /tmp/x',
  '$(id)',
  '`id`',
  "-v'",
  '-v"',
  '-v\nid',
  '-v\n',
  '--help',
  '-V',
  '-vvv',
  '-s -m "back soon"',
  '-q > /etc/passwd',
  'none # comment',
  'please promote the replica',
  '3600;id',
  '3600 ',
  '0',
  '9',
  '100000',
  '-1',
  '36e2',
  '0x10',
];

describe('GHES SSM documents', () => {
  it('exist for every command, schemaVersion 2.2, one aws:runShellScript step named as the code expects', () => {
    expect(Object.keys(FILES).sort()).toEqual([...COMMAND_NAMES].sort());
    for (const name of COMMAND_NAMES) {
      const document = load(name);
      expect(document.schemaVersion, name).toBe('2.2');
      expect(document.mainSteps, name).toHaveLength(1);
      expect(document.mainSteps[0]!.action, name).toBe('aws:runShellScript');
      expect(document.mainSteps[0]!.name, name).toBe(DOCUMENT_STEP_NAME);
      expect(document.mainSteps[0]!.inputs.timeoutSeconds, name).toBe('{{ executionTimeout }}');
    }
  });

  it('declare exactly the parameters the code sends, each a String with an allowedPattern its default passes', () => {
    for (const command of EVERY_COMMAND) {
      const { parameters } = load(command.name);
      expect(Object.keys(parameters).sort(), command.name).toEqual(
        Object.keys(documentParameters(command)).sort(),
      );
      for (const [key, spec] of Object.entries(parameters)) {
        expect(spec.type, `${command.name}.${key}`).toBe('String');
        expect(spec.allowedPattern, `${command.name}.${key}`).toMatch(/^\^.*\$$/);
        if (spec.default !== undefined)
          expect(new RegExp(spec.allowedPattern!).test(spec.default), `${command.name}.${key} default`).toBe(
            true,
          );
      }
    }
  });

  it('accept every value the code can send', () => {
    for (const command of EVERY_COMMAND) {
      const { parameters } = load(command.name);
      for (const timeout of [undefined, 10, 3600, 99_999])
        for (const [key, [value]] of Object.entries(documentParameters(command, timeout)))
          expect(
            new RegExp(parameters[key]!.allowedPattern!).test(value!),
            `${command.name}.${key}=${value}`,
          ).toBe(true);
    }
  });

  it('refuse shell metacharacters, extra flags and free text in every parameter', () => {
    for (const name of COMMAND_NAMES)
      for (const [key, spec] of Object.entries(load(name).parameters))
        for (const value of HOSTILE)
          expect(
            new RegExp(spec.allowedPattern!).test(value),
            `${name}.${key} accepted ${JSON.stringify(value)}`,
          ).toBe(false);
  });

  it('use parameters only as timeouts or as the subject of a case over fixed literals, never as shell words', () => {
    for (const name of COMMAND_NAMES) {
      const script = load(name).mainSteps[0]!.inputs.runCommand.join('\n');
      const uses = [...script.matchAll(/.*\{\{\s*(\w+)\s*\}\}.*/g)];
      for (const [line, parameter] of uses)
        expect(line!.trim(), `${name}: {{ ${parameter} }}`).toMatch(
          new RegExp(`^case '\\{\\{ ${parameter} \\}\\}' in$`),
        );
    }
  });

  it('refuse the code a timeout outside what the documents accept, before any call', () => {
    expect(() => documentParameters({ name: 'ghe-repl-promote' }, 9)).toThrow(/10 to 99999/);
    expect(() => documentParameters({ name: 'ghe-repl-promote' }, 1.5)).toThrow(RangeError);
  });
});

// ---- the scripts, run for real under bash with stand-ins for sudo and the GHES tools ----

const hasTools = ['bash', 'flock', 'pgrep'].every((tool) => spawnSync('which', [tool]).status === 0);
const work = mkdtempSync(join(tmpdir(), 'ghes-ssm-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const executable = (path: string, text: string) => {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
};

/** sudo: logs how it was called, then runs the command after `--` (dropping env's PATH= so the stand-ins are found). */
executable(
  join(work, 'sudo'),
  `#!/bin/bash
echo "sudo $*" >> "$FAKE_LOG"
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done; shift
if [ "$1" = env ]; then shift; kept=(); for a in "$@"; do case "$a" in PATH=*) ;; *) kept+=("$a") ;; esac; done; exec env "\${kept[@]}"; fi
exec "$@"
`,
);
/** A GHES tool: logs its arguments, fails loudly if stdin is open, prints FAKE_STDOUT, exits FAKE_EXIT. */
const ghesTool = `#!/bin/bash
echo "$(basename "$0") $*" >> "$FAKE_LOG"
if IFS= read -r -t 1 line; then echo "stdin was open: $line" >&2; exit 99; fi
[ -n "\${FAKE_SLEEP:-}" ] && sleep "$FAKE_SLEEP"
printf '%s' "\${FAKE_STDOUT:-}"
exit "\${FAKE_EXIT:-0}"
`;
for (const tool of ['ghe-repl-status', 'ghe-repl-promote', 'ghe-maintenance'])
  executable(join(work, tool), ghesTool);

/** The script as SSM would run it: `{{ p }}` replaced by the (validated) values; the lock under the test's dir. */
const scriptFor = (command: ApplianceCommand) => {
  let script = load(command.name).mainSteps[0]!.inputs.runCommand.join('\n');
  for (const [key, [value]] of Object.entries(documentParameters(command)))
    script = script.replaceAll(`{{ ${key} }}`, value!);
  const path = join(work, `${command.name}-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(path, script.replaceAll('/run/lock/', `${work}/`));
  return path;
};

const env = (extra: Record<string, string>) => ({
  ...process.env,
  PATH: `${work}:${process.env.PATH}`,
  FAKE_LOG: join(work, `log-${Math.random().toString(36).slice(2)}`),
  ...extra,
});

const runScript = (command: ApplianceCommand, extra: Record<string, string> = {}) => {
  const environment = env(extra);
  // stdin carries an answer, as a person at a prompt would: the script must never pass it on.
  const result = spawnSync('bash', [scriptFor(command)], {
    env: environment,
    input: 'y\ny\n',
    encoding: 'utf8',
  });
  let log = '';
  try {
    log = readFileSync(environment.FAKE_LOG, 'utf8');
  } catch {
    /* nothing ran */
  }
  return {
    exitCode: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    log: log.trim().split('\n'),
  };
};

describe.skipIf(!hasTools)('GHES SSM document scripts under bash', () => {
  it.each([
    ['none', ''],
    ['-v', ' -v'],
    ['-vv', ' -vv'],
  ] as const)(
    'ghe-repl-status %s: runs as admin without a prompt, stdin closed, exit code passed through',
    (verbosity, args) => {
      const result = runScript(
        { name: 'ghe-repl-status', verbosity },
        { FAKE_EXIT: '2', FAKE_STDOUT: 'CRITICAL: x\n' },
      );
      expect(result.log).toEqual([
        'sudo -n -u admin -H -- env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb ghe-repl-status' +
          args,
        `ghe-repl-status${args}`,
      ]);
      expect(result.stderr).not.toContain('stdin was open');
      expect(result.exitCode).toBe(2);
      expect(result.stdout).toBe('CRITICAL: x\n');
    },
  );

  it.each(['-q', '-s', '-u'] as const)(
    'ghe-maintenance %s: the one flag, exit code passed through',
    (mode) => {
      const result = runScript({ name: 'ghe-maintenance', mode }, { FAKE_EXIT: '1' });
      expect(result.log.at(-1)).toBe(`ghe-maintenance ${mode}`);
      expect(result.exitCode).toBe(1);
    },
  );

  it('ghe-repl-promote: exit code passed through, and a second promote on the node refuses to start beside the first', async () => {
    const environment = env({ FAKE_SLEEP: '2', FAKE_EXIT: '0' });
    const path = scriptFor({ name: 'ghe-repl-promote' });
    const first = spawn('bash', [path], { env: environment, stdio: ['pipe', 'pipe', 'pipe'] });
    const firstExit = new Promise<number | null>((resolve) => first.on('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 500)); // the first holds the lock and is inside promote
    const second = spawnSync('bash', [path], {
      env: { ...environment, FAKE_SLEEP: '' },
      input: '',
      encoding: 'utf8',
    });
    expect(second.status).toBe(75);
    expect(second.stderr).toContain('another ghe-repl-promote');
    expect(await firstExit).toBe(0);
    expect(readFileSync(environment.FAKE_LOG, 'utf8').match(/^ghe-repl-promote/gm)).toHaveLength(1);

    const failed = runScript({ name: 'ghe-repl-promote' }, { FAKE_EXIT: '1' });
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).not.toContain('stdin was open');
  });

  it('ghe-maintenance-status: prints the state and the running Git operations as the JSON the parser reads', async () => {
    // Two processes that look like a fetch and a push in progress (argv[0] as git spawns them).
    const gitOps = ['git-upload-pack', 'git-receive-pack'].map((name) =>
      spawn('bash', ['-c', `exec -a ${name} sleep 30`], { stdio: 'ignore' }),
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const on = runScript(
        { name: 'ghe-maintenance-status' },
        { FAKE_EXIT: '0', FAKE_STDOUT: 'maintenance mode set' },
      );
      expect(on.exitCode).toBe(0);
      expect(on.log.at(-1)).toBe('ghe-maintenance -q');
      const status = parseMaintenanceStatusOutput({ exitCode: on.exitCode!, stdout: on.stdout });
      expect(status).toMatchObject({ state: 'on', activeConnections: 2, source: 'ghe-maintenance-status' });
      expect(on.stdout).not.toContain('maintenance mode set'); // the tool's own text goes to stderr
    } finally {
      for (const process of gitOps) process.kill();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const off = runScript({ name: 'ghe-maintenance-status' }, { FAKE_EXIT: '1' });
    expect(parseMaintenanceStatusOutput({ exitCode: off.exitCode!, stdout: off.stdout })).toMatchObject({
      state: 'off',
      activeConnections: 0,
    });
    const broken = runScript({ name: 'ghe-maintenance-status' }, { FAKE_EXIT: '127' });
    expect(parseMaintenanceStatusOutput({ exitCode: broken.exitCode!, stdout: broken.stdout }).state).toBe(
      'unknown',
    );
  });
});
