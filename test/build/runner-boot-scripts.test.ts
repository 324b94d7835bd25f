import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RUNNER_BUILDSPEC } from '../../infra/codebuild-runner-buildspec.ts';
import { runBootScript } from './runner-boot-harness.ts';

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
  expect(bootScript).toMatch(/parameter_prefix\/instances\/\$instance_id/);
  expect(bootScript).toMatch(/--with-decryption/);
  expect(bootScript.trimEnd().split('\n').at(-1)).toBe('shutdown -h now');
});

describe('the EC2 boot script, run under bash with the machine stubbed', () => {
  // A stage other than the one the user data once hard-coded (prod).
  const DEV = '/ghes-control-plane/dev/runners';
  const PREFIX_TAG = 'ghes-cp:parameter-prefix';
  const jit = (idleMinutes: number) =>
    JSON.stringify({
      kind: 'jit',
      runnerName: 'ghes-cp-7-1-abc',
      encodedJitConfig: 'SECRET-JIT',
      idleMinutes,
    });
  /** A dev instance woken by the dev dispatcher: tagged with dev's prefix, its parameter written there. */
  const wokenInDev = (parameter: string) => ({
    instance: { id: 'i-0test', tags: { 'ghes-cp:pool': 'linux', [PREFIX_TAG]: DEV } },
    parameters: { [`${DEV}/instances/i-0test`]: parameter },
  });
  const getParameterCalls = (log: string[]) => log.filter((line) => line.startsWith('aws ssm get-parameter'));

  it('reads its parameter under the prefix its instance tag names, deletes it before the runner starts, runs one job and powers off', async () => {
    const run = await runBootScript(bootScript, { ...wokenInDev(jit(10)), runner: 'runs-a-job' });
    const at = (prefix: string) => run.log.findIndex((line) => line.startsWith(prefix));
    expect(getParameterCalls(run.log)).toEqual([
      `aws ssm get-parameter --region eu-west-1 --name ${DEV}/instances/i-0test --with-decryption --query Parameter.Value --output text`,
    ]);
    expect(run.parametersLeft).toEqual([]);
    expect(at('aws ssm delete-parameter')).toBeLessThan(at('run.sh started'));
    expect(run.runnerEnv).toEqual({ ACTIONS_RUNNER_INPUT_JITCONFIG: 'SECRET-JIT' });
    expect(run.runnerArgs).toBe(''); // nothing secret in the process list
    expect(run.log.at(-1)).toBe('shutdown -h now');
    expect(run.log.some((line) => line.startsWith('pkill'))).toBe(false);
  });

  it('stops an idle runner after idleMinutes and powers off', async () => {
    const run = await runBootScript(bootScript, { ...wokenInDev(jit(1)), runner: 'idles' });
    expect(run.log).toEqual(
      expect.arrayContaining(['pkill -INT -f Runner.Listener', 'run.sh interrupted', 'shutdown -h now']),
    );
    expect(run.log.at(-1)).toBe('shutdown -h now');
  });

  it("on a later wake, is not fooled by the last boot's Worker log, and drops its stale registration", async () => {
    const run = await runBootScript(bootScript, {
      ...wokenInDev(jit(1)),
      runner: 'idles',
      earlierBoot: true,
    });
    expect(run.log).toEqual(expect.arrayContaining(['pkill -INT -f Runner.Listener', 'run.sh interrupted']));
    expect(run.staleRegistration).toBe(false);
    expect(run.log.at(-1)).toBe('shutdown -h now');
  });

  it('registers with a token through the environment on GHES < 3.10', async () => {
    const parameter = JSON.stringify({
      kind: 'registration',
      runnerName: 'ghes-cp-7-1-abc',
      url: 'https://ghes.example.com/acme',
      token: 'SECRET-TOKEN',
      labels: ['self-hosted', 'linux'],
      runnerGroup: 'production-deploy',
      idleMinutes: 10,
    });
    const run = await runBootScript(bootScript, { ...wokenInDev(parameter), runner: 'runs-a-job' });
    expect(run.log).toContain('config.sh --unattended --ephemeral --disableupdate');
    expect(run.log.join('\n')).not.toContain('SECRET-TOKEN');
    expect(run.configEnv).toEqual({
      ACTIONS_RUNNER_INPUT_LABELS: 'self-hosted,linux',
      ACTIONS_RUNNER_INPUT_NAME: 'ghes-cp-7-1-abc',
      ACTIONS_RUNNER_INPUT_RUNNERGROUP: 'production-deploy',
      ACTIONS_RUNNER_INPUT_TOKEN: 'SECRET-TOKEN',
      ACTIONS_RUNNER_INPUT_URL: 'https://ghes.example.com/acme',
    });
    expect(run.log.at(-1)).toBe('shutdown -h now');
  });

  it('starts no runner when woken for maintenance, stays up for the command, and powers off after the hold', async () => {
    const marker = JSON.stringify({ kind: 'maintenance', holdSeconds: 2 });
    const run = await runBootScript(bootScript, { ...wokenInDev(marker), runner: 'runs-a-job' });
    expect(run.parametersLeft).toEqual([]);
    expect(run.log).not.toContain('run.sh started');
    expect(run.log.join('\n')).toContain('woken for maintenance; no runner, stopping in 2 s');
    expect(run.log.at(-1)).toBe('shutdown -h now');
  });

  it('powers off without starting a runner when no credentials were left for it', async () => {
    const { instance } = wokenInDev(jit(10));
    const run = await runBootScript(bootScript, { instance, runner: 'runs-a-job' });
    expect(getParameterCalls(run.log)).toHaveLength(5);
    expect(run.log).not.toContain('run.sh started');
    expect(run.log.at(-1)).toBe('shutdown -h now');
  });

  it('powers off, naming the tag and how to fix it, when its instance has no prefix tag (or hides tags from metadata)', async () => {
    // Prepare: the dispatcher did write this instance's parameter; the instance cannot tell where.
    const { parameters } = wokenInDev(jit(10));

    // Act
    const run = await runBootScript(bootScript, {
      instance: { id: 'i-0test', tags: { 'ghes-cp:pool': 'linux' } },
      parameters,
      runner: 'runs-a-job',
    });

    // Assess
    expect(run.log).toContain(
      "logger -t ghes-cp-runner -- no instance tag ghes-cp:parameter-prefix in the instance metadata: tag this instance ghes-cp:parameter-prefix=/<service>/<stage>/runners (the dispatcher's RUNNER_PARAMETER_PREFIX) and run aws ec2 modify-instance-metadata-options --instance-id i-0test --instance-metadata-tags enabled; stopping",
    );
    expect(run.log.filter((line) => line.startsWith('aws '))).toEqual([]);
    expect(run.log).not.toContain('run.sh started');
    expect(run.parametersLeft).toEqual([`${DEV}/instances/i-0test`]);
    expect(run.log.at(-1)).toBe('shutdown -h now');
  });

  it.each([
    ['no leading slash', 'ghes-control-plane/dev/runners'],
    ['a trailing slash', '/ghes-control-plane/dev/runners/'],
    ['an empty segment', '/ghes-control-plane//runners'],
    ['a character Parameter Store refuses', '/ghes-control-plane/dév/runners'],
    ['a space', '/ghes-control-plane/dev runners'],
    ['an empty value', ''],
  ])('powers off, naming the tag and its value, when the prefix tag has %s', async (_why, value) => {
    const run = await runBootScript(bootScript, {
      instance: { tags: { [PREFIX_TAG]: value } },
      runner: 'runs-a-job',
    });
    expect(run.log).toContain(
      `logger -t ghes-cp-runner -- instance tag ghes-cp:parameter-prefix="${value}" is not a Parameter Store path: set it to the dispatcher's RUNNER_PARAMETER_PREFIX, /<service>/<stage>/runners; stopping`,
    );
    expect(run.log.filter((line) => line.startsWith('aws '))).toEqual([]);
    expect(run.log).not.toContain('run.sh started');
    expect(run.log.at(-1)).toBe('shutdown -h now');
  });
});

describe('the CodeBuild buildspec commands, run under bash', () => {
  const script = buildspec.phases.build.commands.slice(2).join('\n'); // after delete-parameter and cd
  const env = (idleMinutes: number) => ({
    RUNNER_CREDENTIALS: JSON.stringify({
      kind: 'jit',
      runnerName: 'ghes-cp-7-1-abc',
      encodedJitConfig: 'SECRET-JIT',
      idleMinutes,
    }),
  });

  it('runs the runner with its JIT config in the environment and ends with its status', async () => {
    const run = await runBootScript(script, { runner: 'runs-a-job', env: env(10) });
    expect(run.runnerEnv).toEqual({ ACTIONS_RUNNER_INPUT_JITCONFIG: 'SECRET-JIT' });
    expect(run.runnerArgs).toBe('');
    expect(run.exitCode).toBe(0);
  });

  it('ends the build when the runner got no job within idleMinutes', async () => {
    const run = await runBootScript(script, { runner: 'idles', env: env(1) });
    expect(run.log).toEqual(expect.arrayContaining(['pkill -INT -f Runner.Listener', 'run.sh interrupted']));
  });
});
