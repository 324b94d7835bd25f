import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RUNNER_BUILDSPEC } from '../../infra/codebuild-runner-buildspec.ts';

/**
 * What runs on the runners themselves cannot run here (no CodeBuild, no EC2); the twin simulates
 * it. These checks hold the real scripts to what the simulation assumes.
 */
const userData = parse(readFileSync('infra/ec2-runner-user-data.yaml', 'utf8')) as {
  write_files: { path: string; content: string }[];
};
const bootScript = userData.write_files.find((f) => f.path.includes('/scripts/per-boot/'))!.content;
const buildspec = parse(RUNNER_BUILDSPEC) as { phases: { build: { commands: string[] } } };
const buildScript = buildspec.phases.build.commands.join('\n');

const bashSyntaxError = (script: string) => {
  try {
    execFileSync('bash', ['-n'], { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
    return '';
  } catch (error) {
    return String((error as { stderr?: Buffer }).stderr ?? error);
  }
};

describe.each([
  ['EC2 user data (per boot)', bootScript],
  ['CodeBuild buildspec', buildScript],
])('%s', (_name, script) => {
  it('is valid bash', () => {
    expect(bashSyntaxError(script)).toBe('');
  });

  it('deletes the credentials parameter before the runner starts', () => {
    const deleted = script.indexOf('ssm delete-parameter');
    expect(deleted).toBeGreaterThan(-1);
    expect(deleted).toBeLessThan(script.indexOf('./run.sh'));
  });

  it('never puts a JIT config or registration token on a command line', () => {
    expect(script).not.toMatch(/--jitconfig|--token/);
    expect(script).toMatch(/ACTIONS_RUNNER_INPUT_JITCONFIG=/);
    expect(script).toMatch(/ACTIONS_RUNNER_INPUT_TOKEN=/);
  });
});

it('the user data runs on every boot, reads its own instance parameter and stops the instance after one job', () => {
  expect(bootScript).toMatch(/PARAMETER_PREFIX\/instances\/\$instance_id/);
  expect(bootScript).toMatch(/--with-decryption/);
  expect(bootScript.trimEnd().split('\n').at(-1)).toBe('shutdown -h now');
});
