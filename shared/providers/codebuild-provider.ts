import { randomBytes, randomUUID } from 'node:crypto';
import {
  BatchGetBuildsCommand,
  BatchGetProjectsCommand,
  ListBuildsForProjectCommand,
  StartBuildCommand,
  type Build,
  type CodeBuildClient,
} from '@aws-sdk/client-codebuild';
import { RUNNER_BUILDSPEC } from '../../infra/codebuild-runner-buildspec.ts';
import { withProjectPhases } from './codebuild-buildspec.ts';
import type { CredentialsStore } from './runner-credentials-store.ts';
import {
  bootConfigOf,
  MisconfiguredPoolError,
  NoCapacityError,
  type CodeBuildTarget,
  type RunnerProvider,
} from './runner-provider.ts';

/** Errors that mean "no room now", so the pool's fallback is tried. */
const capacityErrors = new Set(['AccountLimitExceededException']);

/** Environment variables the runner build carries; the lookups below match on the last two. */
const ENV = {
  credentials: 'RUNNER_CREDENTIALS',
  parameter: 'RUNNER_CREDENTIALS_PARAMETER',
  job: 'GHES_CP_JOB',
  launch: 'GHES_CP_LAUNCH',
} as const;

/**
 * Whether a failed call may still have started the build: no answer at all (the connection broke,
 * the SDK timed out) or a 5xx after the SDK's own retries. A 4xx is a refusal that changed nothing.
 */
const mayHaveStarted = (error: unknown): boolean => {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === undefined || status >= 500;
};

const envOf = (build: Build, name: string) =>
  build.environment?.environmentVariables?.find((variable) => variable.name === name)?.value;

/** A project's own buildspec changes rarely; reading it once per container per 5 minutes is plenty. */
const PROJECT_BUILDSPEC_TTL_MS = 5 * 60_000;

/**
 * Starts one runner build per launch. The credentials go to a SecureString whose name carries 128
 * random bits and reaches only this build (PARAMETER_STORE resolution, and the name for its delete):
 * names under `…/runners/builds/` cannot be guessed, and the runner build role may get and delete by
 * exact name but never list, describe or read by path (infra/resources.yml, RunnerBuildPolicy).
 * Every launch has its own idempotency token, so a token never comes back with other credentials.
 */
export const createCodeBuildProvider = (options: {
  codebuild: CodeBuildClient;
  credentials: CredentialsStore;
  parameterPrefix: string;
  now?: () => number;
}): RunnerProvider<CodeBuildTarget> => {
  const now = options.now ?? Date.now;
  const projectBuildspecs = new Map<string, { buildspec: string; readAt: number }>();

  /** The most recent builds of the project (one page, newest first) whose variable `name` is `value`. */
  const findBuild = async (project: string, name: string, value: string, inProgressOnly: boolean) => {
    const { ids = [] } = await options.codebuild.send(
      new ListBuildsForProjectCommand({ projectName: project, sortOrder: 'DESCENDING' }),
    );
    if (ids.length === 0) return undefined;
    const { builds = [] } = await options.codebuild.send(new BatchGetBuildsCommand({ ids }));
    return builds.find(
      (build) => envOf(build, name) === value && (!inProgressOnly || build.buildStatus === 'IN_PROGRESS'),
    );
  };

  const projectBuildspec = async (project: string): Promise<string> => {
    const cached = projectBuildspecs.get(project);
    if (cached && now() - cached.readAt < PROJECT_BUILDSPEC_TTL_MS) return cached.buildspec;
    const { projects = [] } = await options.codebuild.send(new BatchGetProjectsCommand({ names: [project] }));
    const own = projects[0]?.source?.buildspec;
    // A runner build has no source, so a buildspec file name could never be found.
    if (!own || !/\bphases\s*:/.test(own)) {
      throw new MisconfiguredPoolError(
        `CodeBuild project ${project} has no inline buildspec, so buildspec-override:true has nothing to run`,
      );
    }
    projectBuildspecs.set(project, { buildspec: own, readAt: now() });
    return own;
  };

  return {
    async launch(request, target) {
      const buildspec = target.projectBuildspec
        ? withProjectPhases(RUNNER_BUILDSPEC, await projectBuildspec(target.project), target.project)
        : RUNNER_BUILDSPEC;
      const parameter = `${options.parameterPrefix}/builds/${randomBytes(16).toString('hex')}`;
      const launchId = randomUUID();
      await options.credentials.put(parameter, bootConfigOf(request));
      const cleanUp = () => options.credentials.remove(parameter).catch(() => undefined);
      try {
        const out = await options.codebuild.send(
          new StartBuildCommand({
            projectName: target.project,
            sourceTypeOverride: 'NO_SOURCE',
            buildspecOverride: buildspec,
            environmentVariablesOverride: [
              { name: ENV.credentials, value: parameter, type: 'PARAMETER_STORE' },
              { name: ENV.parameter, value: parameter, type: 'PLAINTEXT' },
              { name: ENV.job, value: request.jobKey, type: 'PLAINTEXT' },
              { name: ENV.launch, value: launchId, type: 'PLAINTEXT' },
            ],
            ...(target.computeType ? { computeTypeOverride: target.computeType as never } : {}),
            ...(target.image ? { imageOverride: target.image } : {}),
            ...(target.environmentType ? { environmentTypeOverride: target.environmentType as never } : {}),
            ...(target.fleetArn ? { fleetOverride: { fleetArn: target.fleetArn } } : {}),
            // The SDK retries a 5xx with this same token, so CodeBuild starts at most one build for it.
            idempotencyToken: launchId,
          }),
        );
        return { resourceId: out.build!.id!, credentialsParameter: parameter };
      } catch (error) {
        if (mayHaveStarted(error)) {
          // The answer was lost, not necessarily the build: if it exists, it needs its parameter.
          let started: Build | undefined;
          try {
            started = await findBuild(target.project, ENV.launch, launchId, false);
          } catch {
            throw error; // unknown either way: keep the parameter; its name is known to no one else
          }
          if (started?.id) return { resourceId: started.id, credentialsParameter: parameter };
        }
        // Cleanup must not replace the StartBuild error, which decides between fallback and retry.
        await cleanUp();
        if (capacityErrors.has((error as Error).name)) {
          throw new NoCapacityError(`CodeBuild ${target.project}: ${(error as Error).name}`, {
            cause: error,
          });
        }
        throw error;
      }
    },

    async adopt(jobKey, target) {
      const build = await findBuild(target.project, ENV.job, jobKey, true);
      return build?.id ? { resourceId: build.id } : undefined;
    },

    async isAlive(buildId) {
      const out = await options.codebuild.send(new BatchGetBuildsCommand({ ids: [buildId] }));
      return out.builds?.[0]?.buildStatus === 'IN_PROGRESS';
    },
  };
};
