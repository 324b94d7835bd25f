import { afterEach, describe, expect, it } from 'vitest';
import {
  BatchGetBuildsCommand,
  CodeBuildClient,
  StartBuildCommand,
  StopBuildCommand,
} from '@aws-sdk/client-codebuild';
import { faultTargetsOf, startTwinAwsEndpoint } from './aws-endpoint.ts';
import { createTwinClock } from './clock.ts';
import { createCodeBuildTwin, type CodeBuildTwinOptions } from './codebuild.ts';
import { FaultInjector } from './faults.ts';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

const start = async (timeScale = 0.001, extra: Partial<CodeBuildTwinOptions> = {}) => {
  const clock = createTwinClock(timeScale);
  const twin = createCodeBuildTwin({
    clock,
    region: 'eu-west-1',
    accountId: '123456789012',
    projects: ['runner-linux'],
    ...extra,
  });
  const faults = new FaultInjector(() => ({ targets: faultTargetsOf([twin]) }));
  const endpoint = await startTwinAwsEndpoint([twin], faults);
  const client = new CodeBuildClient({
    region: 'eu-west-1',
    endpoint: endpoint.url,
    credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
  });
  cleanups.push(
    () => clock.close(),
    () => twin.close(),
    () => endpoint.close(),
    () => client.destroy(),
  );
  const get = async (id: string) => (await client.send(new BatchGetBuildsCommand({ ids: [id] }))).builds?.[0];
  return { clock, twin, faults, endpoint, client, get };
};

const waitFor = async (check: () => Promise<boolean> | boolean, timeoutMs = 3_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('CodeBuild twin over the real SDK', () => {
  it('refuses StartBuild on an unknown project with ResourceNotFoundException naming its ARN', async () => {
    const { client } = await start();
    await expect(client.send(new StartBuildCommand({ projectName: 'nope' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'Project cannot be found: arn:aws:codebuild:eu-west-1:123456789012:project/nope',
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('queues, provisions and then builds until the twin finishes the build', async () => {
    const { client, twin, get } = await start();
    const changes: string[] = [];
    twin.onStatusChange((view) => changes.push(`${view.status}/${view.currentPhase}`));

    const { build } = await client.send(new StartBuildCommand({ projectName: 'runner-linux' }));
    expect(build).toMatchObject({ buildStatus: 'IN_PROGRESS', currentPhase: 'QUEUED', buildComplete: false });
    expect(build!.id).toMatch(/^runner-linux:[0-9a-f-]{36}$/);
    expect(build!.arn).toBe(`arn:aws:codebuild:eu-west-1:123456789012:build/${build!.id}`);

    await waitFor(async () => (await get(build!.id!))?.currentPhase === 'BUILD');
    expect(twin.list()).toMatchObject([{ id: build!.id, status: 'IN_PROGRESS', currentPhase: 'BUILD' }]);
    twin.finish(build!.id!, 'FAILED');

    const done = await get(build!.id!);
    expect(done).toMatchObject({ buildStatus: 'FAILED', currentPhase: 'COMPLETED', buildComplete: true });
    expect(done!.phases!.map((phase) => [phase.phaseType, phase.phaseStatus])).toEqual([
      ['SUBMITTED', 'SUCCEEDED'],
      ['QUEUED', 'SUCCEEDED'],
      ['PROVISIONING', 'SUCCEEDED'],
      ['BUILD', 'FAILED'],
      ['COMPLETED', undefined],
    ]);
    expect(changes).toEqual([
      'IN_PROGRESS/QUEUED',
      'IN_PROGRESS/PROVISIONING',
      'IN_PROGRESS/BUILD',
      'FAILED/COMPLETED',
    ]);
  });

  it('lets a status listener finish a provisioning build, which then never reaches BUILD', async () => {
    const { client, twin, get } = await start(0.001, { queuedMs: 5_000, provisioningMs: 20_000 });
    twin.onStatusChange((view) => view.currentPhase === 'PROVISIONING' && twin.finish(view.id, 'FAILED'));
    const { build } = await client.send(new StartBuildCommand({ projectName: 'runner-linux' }));
    await waitFor(async () => (await get(build!.id!))?.buildStatus === 'FAILED');
    await new Promise((resolve) => setTimeout(resolve, 40)); // past the provisioning delay
    const done = await get(build!.id!);
    expect(done!.phases!.map((phase) => phase.phaseType)).toEqual([
      'SUBMITTED',
      'QUEUED',
      'PROVISIONING',
      'COMPLETED',
    ]);
  });

  it('returns the same build for a repeated idempotency token and refuses it with other parameters', async () => {
    // 0.01 keeps the scaled five-minute window at three real seconds, well past two calls.
    const { client, twin } = await start(0.01);
    const input = {
      projectName: 'runner-linux',
      idempotencyToken: 'job-42',
      environmentVariablesOverride: [{ name: 'JOB', value: '42' }],
    };
    const first = await client.send(new StartBuildCommand(input));
    const again = await client.send(new StartBuildCommand(input));
    expect(again.build!.id).toBe(first.build!.id);
    expect(twin.list()).toHaveLength(1);

    await expect(
      client.send(
        new StartBuildCommand({ ...input, environmentVariablesOverride: [{ name: 'JOB', value: '43' }] }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidInputException' });
    const other = await client.send(new StartBuildCommand({ ...input, idempotencyToken: 'job-43' }));
    expect(other.build!.id).not.toBe(first.build!.id);
  });

  it('starts a new build for a reused token once the scaled five-minute window has passed', async () => {
    const { client } = await start(0.001);
    const input = { projectName: 'runner-linux', idempotencyToken: 'job-7' };
    const first = await client.send(new StartBuildCommand(input));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const later = await client.send(new StartBuildCommand(input));
    expect(later.build!.id).not.toBe(first.build!.id);
  });

  it('round-trips dates and overrides through BatchGetBuilds and lists unknown ids as not found', async () => {
    const { client, twin } = await start();
    const before = Date.now();
    const { build } = await client.send(
      new StartBuildCommand({
        projectName: 'runner-linux',
        environmentVariablesOverride: [{ name: 'RUNNER_JIT', value: 'abc', type: 'PLAINTEXT' }],
        buildspecOverride: 'version: 0.2',
        sourceTypeOverride: 'NO_SOURCE',
        computeTypeOverride: 'BUILD_GENERAL1_MEDIUM',
        imageOverride: 'runner:latest',
      }),
    );
    twin.setJobId(build!.id!, 'job-1');
    const out = await client.send(new BatchGetBuildsCommand({ ids: [build!.id!, 'runner-linux:missing'] }));
    expect(out.buildsNotFound).toEqual(['runner-linux:missing']);
    const fetched = out.builds![0]!;
    expect(fetched.startTime).toBeInstanceOf(Date);
    expect(fetched.startTime!.getTime()).toBe(build!.startTime!.getTime());
    expect(Math.abs(fetched.startTime!.getTime() - before)).toBeLessThan(5_000);
    expect(fetched.environment).toMatchObject({
      image: 'runner:latest',
      computeType: 'BUILD_GENERAL1_MEDIUM',
      environmentVariables: [{ name: 'RUNNER_JIT', value: 'abc', type: 'PLAINTEXT' }],
    });
    expect(fetched.source).toEqual({ type: 'NO_SOURCE', buildspec: 'version: 0.2' });
    expect(twin.list()[0]).toMatchObject({ jobId: 'job-1', environmentVariables: { RUNNER_JIT: 'abc' } });
  });

  it('stops an in-progress build', async () => {
    const { client, get } = await start();
    const { build } = await client.send(new StartBuildCommand({ projectName: 'runner-linux' }));
    const stopped = await client.send(new StopBuildCommand({ id: build!.id! }));
    expect(stopped.build).toMatchObject({ buildStatus: 'STOPPED', currentPhase: 'COMPLETED' });
    expect((await get(build!.id!))!.endTime).toBeInstanceOf(Date);
  });

  it('fails StartBuild with an armed account-limit fault', async () => {
    const { client, faults } = await start();
    faults.arm({ target: 'codebuild:StartBuild', error: 'AccountLimitExceededException', count: 1 });
    await expect(client.send(new StartBuildCommand({ projectName: 'runner-linux' }))).rejects.toMatchObject({
      name: 'AccountLimitExceededException',
    });
    await expect(client.send(new StartBuildCommand({ projectName: 'runner-linux' }))).resolves.toBeDefined();
  });
});
