import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseDeploymentConfig } from '../../shared/config/deployment-config.ts';
import {
  NEEDS_AWS_OR_GHES,
  needsAwsOrGhes,
  outputNames,
  readGuide,
  readTemplate,
  shellCommands,
  templateDeploys,
  yamlBlocks,
  type GuideCommand,
} from './deploy-guide.ts';
import { cfnLint, hasCfnLint, type PackagedTemplate } from './packaged-template.ts';

/**
 * docs/deploy.md is followed, not only read: every command in its `sh` blocks that needs neither AWS
 * nor GHES runs here, in order, in one shell, in a scratch copy of the repository (config validation,
 * the package, the template checks, the no-framework artefacts), and must succeed and print what the
 * guide shows. The rest must be exactly the reviewed kinds in NEEDS_AWS_OR_GHES.
 */

const guide = readGuide();
const commands = shellCommands(guide);
const offline = commands.filter((command) => !needsAwsOrGhes(command));

interface Ran {
  readonly command: GuideCommand;
  readonly status: number;
  readonly output: string;
}

/**
 * The scratch copy: sources linked (what runs is this tree), while config/ is copied and .serverless/
 * and dist/ are the copy's own, since the guide writes there. serverless.yml is copied: osls refuses
 * a linked one.
 */
const scratchCopy = () => {
  const dir = mkdtempSync(join(tmpdir(), 'ghes-cp-guide-'));
  copyFileSync('serverless.yml', join(dir, 'serverless.yml'));
  cpSync('config', join(dir, 'config'), { recursive: true });
  for (const entry of [
    'package.json',
    'tsconfig.json',
    'node_modules',
    'infra',
    'functions',
    'shared',
    'state-machines',
    'scripts',
  ])
    symlinkSync(resolve(entry), join(dir, entry));
  return dir;
};

/** One bash for all commands, so variables and exports carry from one to the next as for a reader. */
const runInOrder = (dir: string, list: readonly GuideCommand[]): Ran[] => {
  const out = join(dir, '.guide-output');
  const script = [
    `mkdir -p ${out}`,
    ...list.map(
      (command, i) => `{\n${command.text}\n} > ${out}/${i} 2>&1 < /dev/null; echo $? > ${out}/${i}.status`,
    ),
  ].join('\n');
  // The reader's own GHES_CP_CONFIG must not leak in: the guide sets it.
  const { GHES_CP_CONFIG: _own, ...inherited } = process.env;
  const env = { ...inherited, SLS_TELEMETRY_DISABLED: '1' };
  const run = spawnSync('bash', ['-c', script], { cwd: dir, env, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`the guide's commands did not run: ${run.stderr}`);
  return list.map((command, i) => ({
    command,
    status: Number(readFileSync(join(out, `${i}.status`), 'utf8')),
    output: readFileSync(join(out, String(i)), 'utf8'),
  }));
};

describe('docs/deploy.md', () => {
  let dir: string;
  let ran: Ran[] = [];

  beforeAll(() => {
    dir = scratchCopy();
    // cfn-lint is a Python tool, optional for a reader: where it is missing its commands are not run.
    ran = runInOrder(
      dir,
      offline.filter((command) => hasCfnLint || !command.line.startsWith('cfn-lint ')),
    );
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every command that needs neither AWS nor GHES, and each succeeds', () => {
    expect(offline.length).toBeGreaterThan(5);
    for (const { command, status, output } of ran) {
      expect(status, `${command.line}\n${output}`).toBe(0);
    }
  });

  it('leaves out exactly the commands that need AWS or GHES, each kind used', () => {
    const skipped = commands.filter((command) => needsAwsOrGhes(command));
    // Covers the deploy, both teardown commands, and the reachability check.
    for (const { prefix } of NEEDS_AWS_OR_GHES) {
      expect(
        skipped.some((command) => needsAwsOrGhes(command)?.prefix === prefix),
        `no command starts with "${prefix}": drop it from NEEDS_AWS_OR_GHES`,
      ).toBe(true);
    }
    expect(skipped.map((command) => command.line)).toContain(
      'npx osls deploy --stage "$STAGE" --package .serverless',
    );
    // What runs includes the steps a reader must be able to trust offline.
    const lines = offline.map((command) => command.line);
    for (const step of [
      'npx tsx scripts/check-config.ts',
      'npm run package',
      'npx tsx scripts/cfn-artifacts.ts',
    ]) {
      expect(
        lines.some((line) => line.startsWith(step) || line.includes(` ${step}`)),
        step,
      ).toBe(true);
    }
    for (const template of ['ec2-runner-instances', 'codebuild-runner-project', 'cross-account-capacity'])
      expect(lines).toContain(`cfn-lint infra/templates/${template}.yml`);
  });

  it("prints what the guide shows, the broken config's key paths included", () => {
    const shown = ran.filter(({ command }) => command.expectedOutput !== undefined);
    expect(shown.length).toBeGreaterThanOrEqual(2);
    for (const { command, output } of shown) {
      for (const line of command.expectedOutput!.split('\n').filter((l) => l.trim()))
        expect(output, command.line).toContain(line.trim());
    }
    const broken = shown.find(({ command }) => command.line.includes('broken.yaml'))!;
    expect(broken.output).toMatch(/pools\[0\]: unknown key "maxConcurent"/);
    expect(broken.output).toContain('exit status 1');
  });

  const packaged = () =>
    JSON.parse(
      readFileSync(join(dir, '.serverless', 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as PackagedTemplate & { Outputs: Record<string, unknown> };

  it("packages for the stage the guide sets, which names the runners' parameter prefix", () => {
    const stage = /^STAGE=(\S+)$/m.exec(guide)?.[1];
    expect(stage).toBeTruthy();
    expect(JSON.stringify(packaged().Outputs.RunnerParameterPrefix)).toContain(
      `/ghes-control-plane/${stage}/runners`,
    );
  });

  it('names only outputs the packaged template has', () => {
    const outputs = Object.keys(packaged().Outputs);
    const named = outputNames(guide);
    expect(named).toEqual(expect.arrayContaining(['AlertsTopicArn', 'RunnerParameterPrefix', 'WebhookUrl']));
    for (const name of named) expect(outputs, `the guide reads the output ${name}`).toContain(name);
  });

  // cfn-lint of the whole template takes tens of seconds on a busy machine.
  it(
    'leaves a template for aws cloudformation deploy whose code is all in the named bucket',
    { timeout: 180_000 },
    () => {
      const line = offline.find((command) => command.line.includes('scripts/cfn-artifacts.ts'))!.line;
      const bucket = /^ARTEFACT_BUCKET=(\S+)$/m.exec(guide)![1]!;
      const prefix = /--prefix (\S+)/.exec(line)![1]!;
      const template = JSON.parse(
        readFileSync(join(dir, 'dist/cfn/template.json'), 'utf8'),
      ) as PackagedTemplate;
      const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
      expect(functions.length).toBe(
        Object.values(packaged().Resources).filter((r) => r.Type === 'AWS::Lambda::Function').length,
      );
      for (const fn of functions) {
        const code = fn.Properties!.Code as { S3Bucket: string; S3Key: string };
        expect(code.S3Bucket).toBe(bucket);
        expect(code.S3Key.startsWith(`${prefix}/`)).toBe(true);
        expect(existsSync(join(dir, 'dist/cfn/artifacts', code.S3Key)), code.S3Key).toBe(true);
      }
      expect(JSON.stringify(template)).not.toContain('ServerlessDeploymentBucket');
      if (hasCfnLint) expect(cfnLint(join(dir, 'dist/cfn/template.json')).errors).toEqual([]);
    },
  );

  it('passes each capacity template the parameters it has, and every one it requires', () => {
    const deploys = templateDeploys(guide);
    expect(deploys.map((d) => d.template).sort()).toEqual([
      'infra/templates/codebuild-runner-project.yml',
      'infra/templates/cross-account-capacity.yml',
      'infra/templates/ec2-runner-instances.yml',
    ]);
    for (const { template, keys } of deploys) {
      const parameters = readTemplate(template).Parameters as Record<string, { Default?: unknown }>;
      for (const key of keys) expect(Object.keys(parameters), `${template}: ${key}`).toContain(key);
      const required = Object.entries(parameters)
        .filter(([, p]) => p.Default === undefined)
        .map(([name]) => name);
      expect(keys, template).toEqual(expect.arrayContaining(required));
    }
  });

  it("shows config fragments the deployment config's schema accepts", () => {
    const example = parse(readFileSync('config/deploy.example.yaml', 'utf8')) as Record<string, unknown>;
    const fragments = yamlBlocks(guide);
    expect(fragments.length).toBeGreaterThan(0);
    for (const fragment of fragments) {
      const merged = stringify({ ...example, ...(fragment as Record<string, unknown>) });
      expect(() => parseDeploymentConfig(merged, 'docs/deploy.md')).not.toThrow();
    }
  });
});
