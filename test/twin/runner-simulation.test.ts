import { afterEach, describe, expect, it } from 'vitest';
import { createTwinClock } from './clock.ts';
import type { CodeBuildTwin } from './codebuild.ts';
import { createEc2Twin, type Ec2Twin } from './ec2.ts';
import type { GithubTwin, RunnerLaunch } from './github-api.ts';
import { simulateRunners } from './runner-simulation.ts';
import { createSsmParametersTwin } from './ssm-parameters.ts';

/**
 * The simulated instance boot does what infra/ec2-runner-user-data.yaml does: it learns where its
 * credentials are from its own `ghes-cp:parameter-prefix` tag, not from the twin.
 */
const DEV = '/ghes-control-plane/dev/runners';
const instanceId = 'i-0aaaaaaaaaaaaaaa1';
const arn = `arn:aws:ec2:eu-west-1:111122223333:instance/${instanceId}`;
const jit = JSON.stringify({ kind: 'jit', runnerName: 'ghes-cp-7-1-abc', encodedJitConfig: 'JIT-7' });

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
  cleanups = [];
});

const boot = async (tags: Record<string, string>) => {
  // Prepare: one stopped instance, and the dispatcher's parameter for it under dev's prefix.
  const clock = createTwinClock(0.001);
  const ec2: Ec2Twin = createEc2Twin({
    clock,
    region: 'eu-west-1',
    instances: [{ instanceId, pool: 'linux', az: 'eu-west-1a', instanceType: 'm7i.large', tags }],
  });
  cleanups.push(
    () => clock.close(),
    () => ec2.close(),
  );
  const ssm = createSsmParametersTwin();
  const parameter = `${DEV}/instances/${instanceId}`;
  const request = { rawBody: '', headers: {}, caller: '' };
  await ssm.handle({
    ...request,
    operation: 'PutParameter',
    input: {
      Name: parameter,
      Value: jit,
      Type: 'SecureString',
      Tags: [{ Key: 'ghes-cp:instance-arn', Value: arn }],
    },
  });
  const states: string[] = [];
  ec2.onStateChange((view) => states.push(view.state)); // before the simulation's own listener
  const launches: RunnerLaunch[] = [];
  // Only what the simulation uses of GitHub and CodeBuild: no build runs here.
  const github = { startRunner: (launch: RunnerLaunch) => launches.push(launch), onIdleExit: () => {} };
  const codebuild = { onStatusChange: () => {}, finish: () => {} };
  simulateRunners({
    ec2,
    ssm,
    github: github as unknown as GithubTwin,
    codebuild: codebuild as unknown as CodeBuildTwin,
    instanceArn: ({ instanceId: id, account }) => `arn:aws:ec2:eu-west-1:${account}:instance/${id}`,
  });

  // Act: the dispatcher wakes it; the boot runs once it is running.
  await ec2.handle({ ...request, operation: 'StartInstances', input: { 'InstanceId.1': instanceId } });
  const deadline = Date.now() + 3_000;
  while (!states.includes('running') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return { launches, states, parameterLeft: ssm.names().includes(parameter) };
};

describe('simulated EC2 runner boot', () => {
  it('reads its credentials under the prefix its instance tag names, deleting them', async () => {
    const { launches, states, parameterLeft } = await boot({ 'ghes-cp:parameter-prefix': DEV });
    expect(launches).toEqual([
      expect.objectContaining({ encodedJitConfig: 'JIT-7', resourceId: instanceId }),
    ]);
    expect(parameterLeft).toBe(false);
    expect(states).not.toContain('stopping');
  });

  it.each([
    ['without the prefix tag', {}],
    ['whose prefix tag is not a Parameter Store path', { 'ghes-cp:parameter-prefix': `${DEV}/` }],
  ])('powers off an instance %s without starting a runner', async (_case, tags) => {
    const { launches, states, parameterLeft } = await boot(tags);
    expect(launches).toEqual([]);
    expect(parameterLeft).toBe(true);
    expect(states.slice(0, 3)).toEqual(['pending', 'running', 'stopping']);
  });
});
