import {
  BatchGetBuildsCommand,
  BatchGetProjectsCommand,
  AccountLimitExceededException,
  CodeBuildClient,
  InvalidInputException,
  ListBuildsForProjectCommand,
  StartBuildCommand,
} from '@aws-sdk/client-codebuild';
import { parse } from 'yaml';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { RUNNER_BUILDSPEC } from '../../../infra/codebuild-runner-buildspec.ts';
import type { RunnerCredentials } from '../../../shared/github/github-app.ts';
import { createCodeBuildProvider } from '../../../shared/providers/codebuild-provider.ts';
import { createSsmCredentialsStore } from '../../../shared/providers/runner-credentials-store.ts';
import {
  MisconfiguredPoolError,
  NoCapacityError,
  type LaunchRequest,
} from '../../../shared/providers/runner-provider.ts';

const PREFIX = '/ghes-cp/runners';
/** 128 random bits, hex: a name nobody can guess or derive from the job. */
const BUILD_PARAMETER = new RegExp(`^${PREFIX}/builds/[0-9a-f]{32}$`);
const JIT_CONFIG = 'eyJqaXRjb25maWciOiJ0b3Atc2VjcmV0LWZvci1qb2ItMTEifQ==';

const request = (jobId: number, runAttempt: number, credentials?: RunnerCredentials): LaunchRequest => ({
  jobKey: `${jobId}#${runAttempt}`,
  idleMinutes: 7,
  credentials: credentials ?? {
    kind: 'jit',
    runnerName: `ghes-cp-${jobId}-${runAttempt}-a1b2c3`,
    encodedJitConfig: `${JIT_CONFIG}-${jobId}-${runAttempt}`,
  },
});

describe('CodeBuild runner provider', () => {
  const codebuild = mockClient(CodeBuildClient);
  const ssm = mockClient(SSMClient);
  /** Every AWS call in the order the provider made it, across both clients. */
  let calls: string[];

  beforeEach(() => {
    codebuild.reset();
    ssm.reset();
    calls = [];
    ssm.on(PutParameterCommand).callsFake((input) => {
      calls.push(`put ${input.Name}`);
      return { Version: 1 };
    });
    ssm.on(DeleteParameterCommand).callsFake((input) => {
      calls.push(`delete ${input.Name}`);
      return {};
    });
  });

  const provider = () =>
    createCodeBuildProvider({
      codebuild: new CodeBuildClient({ region: 'eu-west-1' }),
      credentials: createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' })),
      parameterPrefix: PREFIX,
    });

  const startsBuild = (id: string) =>
    codebuild.on(StartBuildCommand).callsFake((input) => {
      calls.push(`start ${input.projectName}`);
      return { build: { id } };
    });

  it('starts a source-less build with the runner buildspec and returns its id', async () => {
    // Prepare
    startsBuild('runner-linux:0f1e2d');

    // Act
    const launched = await provider().launch(request(11, 1), { project: 'runner-linux' });

    // Assess
    // The credentials' random parameter name goes to the ledger, for a cleanup if the build dies early.
    const parameter = ssm.commandCalls(PutParameterCommand)[0]!.args[0].input.Name!;
    expect(launched).toEqual({ resourceId: 'runner-linux:0f1e2d', credentialsParameter: parameter });
    expect(codebuild).toReceiveCommandExactlyOnceWith(StartBuildCommand, {
      projectName: 'runner-linux',
      sourceTypeOverride: 'NO_SOURCE',
      buildspecOverride: RUNNER_BUILDSPEC,
    });
  });

  it('writes the credentials as a SecureString before StartBuild and hands the build only its name', async () => {
    // Prepare
    startsBuild('runner-linux:1');
    const launch = request(11, 1);

    // Act
    await provider().launch(launch, { project: 'runner-linux' });

    // Assess
    const parameter = ssm.commandCalls(PutParameterCommand)[0]!.args[0].input.Name!;
    expect(parameter).toMatch(BUILD_PARAMETER);
    expect(parameter).not.toMatch(/11[#-]1/);
    expect(calls).toEqual([`put ${parameter}`, 'start runner-linux']);
    expect(ssm).toReceiveCommandWith(PutParameterCommand, { Name: parameter, Type: 'SecureString' });
    expect(JSON.parse(ssm.commandCalls(PutParameterCommand)[0]!.args[0].input.Value!)).toEqual({
      ...launch.credentials,
      idleMinutes: 7, // the runner's boot script stops the machine after this long without a job
    });
    const input = codebuild.commandCalls(StartBuildCommand)[0]!.args[0].input;
    // CodeBuild resolves the SecureString into RUNNER_CREDENTIALS; the buildspec deletes it by name.
    expect(input.environmentVariablesOverride).toEqual(
      expect.arrayContaining([
        { name: 'RUNNER_CREDENTIALS', value: parameter, type: 'PARAMETER_STORE' },
        { name: 'RUNNER_CREDENTIALS_PARAMETER', value: parameter, type: 'PLAINTEXT' },
      ]),
    );
    expect(ssm).not.toReceiveCommand(DeleteParameterCommand);
  });

  it.each<[string, RunnerCredentials]>([
    ['a JIT config', { kind: 'jit', runnerName: 'ghes-cp-11-1-a1b2c3', encodedJitConfig: JIT_CONFIG }],
    [
      'a registration token',
      {
        kind: 'registration',
        runnerName: 'ghes-cp-11-1-a1b2c3',
        url: 'https://ghes.example.com/acme',
        token: 'AREGISTRATIONTOKENFORJOB11',
        labels: ['self-hosted', 'linux'],
      },
    ],
  ])(
    'puts %s nowhere in the StartBuild request (build history shows every override)',
    async (_, credentials) => {
      // Prepare
      startsBuild('runner-linux:2');
      const secret = credentials.kind === 'jit' ? credentials.encodedJitConfig : credentials.token;

      // Act
      await provider().launch(request(11, 1, credentials), { project: 'runner-linux' });

      // Assess
      const input = codebuild.commandCalls(StartBuildCommand)[0]!.args[0].input;
      expect(JSON.stringify(input)).not.toContain(secret);
      expect(JSON.stringify(input)).not.toContain(JSON.stringify(credentials));
      // Only parameter names travel: no plaintext variable holds anything that came from the credentials.
      for (const variable of input.environmentVariablesOverride ?? []) {
        expect(variable.value).not.toContain(secret);
      }
      // …while Parameter Store did receive the secret, so the test would see it if it leaked.
      expect(ssm.commandCalls(PutParameterCommand)[0]!.args[0].input.Value).toContain(secret);
    },
  );

  it("applies each pool's compute type, image and environment type, and leaves the project's own otherwise", async () => {
    // Prepare
    startsBuild('b:1');
    const runners = provider();

    // Act
    await runners.launch(request(11, 1), {
      project: 'runner-arm',
      computeType: 'BUILD_GENERAL1_LARGE',
      image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
      environmentType: 'ARM_CONTAINER',
    });
    await runners.launch(request(12, 1), { project: 'runner-linux' });

    // Assess
    const [arm, plain] = codebuild.commandCalls(StartBuildCommand).map((call) => call.args[0].input);
    expect(arm).toMatchObject({
      projectName: 'runner-arm',
      computeTypeOverride: 'BUILD_GENERAL1_LARGE',
      imageOverride: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
      environmentTypeOverride: 'ARM_CONTAINER',
    });
    expect(plain).toMatchObject({ projectName: 'runner-linux' });
    expect(plain).not.toHaveProperty('computeTypeOverride');
    expect(plain).not.toHaveProperty('imageOverride');
    expect(plain).not.toHaveProperty('environmentTypeOverride');
  });

  it('gives every launch its own parameter and idempotency token, so a token never comes back with other credentials', async () => {
    // Prepare
    startsBuild('b:1');
    const runners = provider();

    // Act
    await runners.launch(request(11, 1), { project: 'runner-linux' });
    await runners.launch(request(11, 2), { project: 'runner-linux' });
    await runners.launch(request(11, 1), { project: 'runner-linux' }); // a retried dispatch, new credentials

    // Assess
    const starts = codebuild.commandCalls(StartBuildCommand).map((call) => call.args[0].input);
    const variable = (input: (typeof starts)[number], name: string) =>
      input.environmentVariablesOverride?.find((v) => v.name === name)?.value;
    const tokens = starts.map((input) => input.idempotencyToken);
    expect(new Set(tokens).size).toBe(3);
    // The token is the launch's, visible to the build for a lookup after a lost answer.
    expect(starts.map((input) => variable(input, 'GHES_CP_LAUNCH'))).toEqual(tokens);
    const parameters = starts.map((input) => variable(input, 'RUNNER_CREDENTIALS'));
    expect(new Set(parameters).size).toBe(3);
    for (const parameter of parameters) expect(parameter).toMatch(BUILD_PARAMETER);
    expect(starts.map((input) => variable(input, 'GHES_CP_JOB'))).toEqual(['11#1', '11#2', '11#1']);
  });

  describe('when StartBuild may have started a build but its answer was lost', () => {
    const lost = () =>
      Object.assign(new Error('We encountered an internal error.'), {
        name: 'InternalFailure',
        $metadata: { httpStatusCode: 500 },
      });
    const launchOf = () => {
      const [start] = codebuild.commandCalls(StartBuildCommand);
      return start!.args[0].input.environmentVariablesOverride!.find((v) => v.name === 'GHES_CP_LAUNCH')!
        .value!;
    };

    it('finds the build it started by its launch id and keeps its credentials', async () => {
      // Prepare
      codebuild.on(StartBuildCommand).rejects(lost());
      codebuild
        .on(ListBuildsForProjectCommand)
        .resolves({ ids: ['runner-linux:other', 'runner-linux:mine'] });
      codebuild.on(BatchGetBuildsCommand).callsFake(() => ({
        builds: [
          {
            id: 'runner-linux:other',
            environment: { environmentVariables: [{ name: 'GHES_CP_LAUNCH', value: 'x' }] },
          },
          {
            id: 'runner-linux:mine',
            environment: { environmentVariables: [{ name: 'GHES_CP_LAUNCH', value: launchOf() }] },
          },
        ],
      }));

      // Act
      const launched = await provider().launch(request(11, 1), { project: 'runner-linux' });

      // Assess
      expect(launched).toEqual({
        resourceId: 'runner-linux:mine',
        credentialsParameter: ssm.commandCalls(PutParameterCommand)[0]!.args[0].input.Name!,
      });
      expect(codebuild).toReceiveCommandWith(ListBuildsForProjectCommand, {
        projectName: 'runner-linux',
        sortOrder: 'DESCENDING',
      });
      expect(ssm).not.toReceiveCommand(DeleteParameterCommand);
    });

    it('deletes the credentials and rethrows when no such build exists', async () => {
      const failure = lost();
      codebuild.on(StartBuildCommand).rejects(failure);
      codebuild.on(ListBuildsForProjectCommand).resolves({ ids: [] });

      await expect(provider().launch(request(11, 1), { project: 'runner-linux' })).rejects.toBe(failure);
      expect(ssm).toReceiveCommandTimes(DeleteParameterCommand, 1);
    });

    it('keeps the credentials when it cannot tell, since a build may be about to read them', async () => {
      const failure = lost();
      codebuild.on(StartBuildCommand).rejects(failure);
      codebuild.on(ListBuildsForProjectCommand).rejects(lost());

      await expect(provider().launch(request(11, 1), { project: 'runner-linux' })).rejects.toBe(failure);
      expect(ssm).not.toReceiveCommand(DeleteParameterCommand);
    });
  });

  it('adopts only an in-progress build of the same job, found through its GHES_CP_JOB', async () => {
    codebuild.on(ListBuildsForProjectCommand).resolves({ ids: ['r:done', 'r:other', 'r:live'] });
    const env = (job: string) => ({
      type: 'LINUX_CONTAINER' as const,
      image: 'aws/codebuild/standard:7.0',
      computeType: 'BUILD_GENERAL1_SMALL' as const,
      environmentVariables: [{ name: 'GHES_CP_JOB', value: job }],
    });
    codebuild.on(BatchGetBuildsCommand).resolves({
      builds: [
        { id: 'r:done', buildStatus: 'FAILED', environment: env('11#1') },
        { id: 'r:other', buildStatus: 'IN_PROGRESS', environment: env('12#1') },
        { id: 'r:live', buildStatus: 'IN_PROGRESS', environment: env('11#1') },
      ],
    });
    expect(await provider().adopt!('11#1', { project: 'r' })).toEqual({ resourceId: 'r:live' });
    expect(await provider().adopt!('13#1', { project: 'r' })).toBeUndefined();
  });

  it("wraps the runner in the project's own install, pre_build and post_build phases for buildspec-override:true", async () => {
    // Prepare
    startsBuild('b:1');
    codebuild.on(BatchGetProjectsCommand).resolves({
      projects: [
        {
          name: 'runner-linux',
          source: {
            type: 'NO_SOURCE',
            buildspec:
              'version: 0.2\nenv:\n  shell: sh\n  variables: { TIER: prod }\nphases:\n  pre_build:\n    commands: [./login.sh]\n  build:\n    commands: [make]\n  post_build:\n    commands: [./report.sh]\n',
          },
        },
      ],
    });

    // Act
    await provider().launch(request(11, 1), { project: 'runner-linux', projectBuildspec: true });

    // Assess
    const buildspec = parse(codebuild.commandCalls(StartBuildCommand)[0]!.args[0].input.buildspecOverride!);
    const runner = parse(RUNNER_BUILDSPEC);
    expect(Object.keys(buildspec.phases)).toEqual(['pre_build', 'build', 'post_build']);
    expect(buildspec.phases.pre_build).toEqual({ commands: ['./login.sh'] });
    expect(buildspec.phases.build).toEqual(runner.phases.build); // the project's `make` does not run
    expect(buildspec.phases.post_build).toEqual({ commands: ['./report.sh'] });
    expect(buildspec.env).toEqual({ shell: 'bash', variables: { TIER: 'prod' } });
  });

  it('refuses buildspec-override:true for a project whose buildspec is a file name, which a source-less build cannot read', async () => {
    codebuild.on(BatchGetProjectsCommand).resolves({
      projects: [{ name: 'runner-linux', source: { type: 'GITHUB', buildspec: 'buildspec.yml' } }],
    });
    const error = await provider()
      .launch(request(11, 1), { project: 'runner-linux', projectBuildspec: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MisconfiguredPoolError);
    expect(ssm).not.toReceiveCommand(PutParameterCommand);
  });

  it('deletes the parameter and reports no capacity when the account build limit is reached', async () => {
    // Prepare
    const limit = new AccountLimitExceededException({
      message: 'concurrent build limit',
      $metadata: { httpStatusCode: 400 },
    });
    codebuild.on(StartBuildCommand).rejects(limit);

    // Act
    const launching = provider().launch(request(11, 1), { project: 'runner-linux' });

    // Assess
    const error = await launching.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoCapacityError);
    expect((error as NoCapacityError).message).toContain('runner-linux');
    expect((error as NoCapacityError).message).toContain('AccountLimitExceededException');
    expect((error as NoCapacityError).cause).toBe(limit);
    const parameter = ssm.commandCalls(PutParameterCommand)[0]!.args[0].input.Name!;
    expect(calls).toEqual([`put ${parameter}`, `delete ${parameter}`]);
  });

  it.each([
    [
      'an invalid project',
      new InvalidInputException({ message: 'project not found', $metadata: { httpStatusCode: 400 } }),
    ],
    [
      'an access denial',
      Object.assign(new Error('not authorized'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 },
      }),
    ],
  ])(
    'deletes the parameter and rethrows %s unchanged, so the fallback pool is not tried for it',
    async (_, failure) => {
      // Prepare
      codebuild.on(StartBuildCommand).rejects(failure);

      // Act
      const error = await provider()
        .launch(request(11, 1), { project: 'runner-linux' })
        .catch((e: unknown) => e);

      // Assess
      expect(error).toBe(failure);
      expect(error).not.toBeInstanceOf(NoCapacityError);
      const parameter = ssm.commandCalls(PutParameterCommand)[0]!.args[0].input.Name!;
      expect(ssm).toReceiveCommandExactlyOnceWith(DeleteParameterCommand, { Name: parameter });
    },
  );

  it('starts no build when the credentials cannot be stored', async () => {
    // Prepare
    const denied = Object.assign(new Error('kms key disabled'), { name: 'KMSDisabledException' });
    ssm.on(PutParameterCommand).rejects(denied);
    startsBuild('b:1');

    // Act + Assess
    await expect(provider().launch(request(11, 1), { project: 'runner-linux' })).rejects.toBe(denied);
    expect(codebuild).not.toReceiveCommand(StartBuildCommand);
  });

  it.each([
    ['IN_PROGRESS', true],
    ['SUCCEEDED', false],
    ['STOPPED', false],
  ] as const)('reports a build %s as alive: %s', async (buildStatus, alive) => {
    codebuild.on(BatchGetBuildsCommand).resolves({ builds: [{ id: 'runner-linux:0f1e2d', buildStatus }] });
    expect(await provider().isAlive('runner-linux:0f1e2d')).toBe(alive);
    expect(codebuild).toReceiveCommandWith(BatchGetBuildsCommand, { ids: ['runner-linux:0f1e2d'] });
  });
});
