import { BatchGetBuildsCommand, StartBuildCommand, type CodeBuildClient } from '@aws-sdk/client-codebuild';
import { RUNNER_BUILDSPEC } from '../../infra/codebuild-runner-buildspec.ts';
import type { CredentialsStore } from './runner-credentials-store.ts';
import {
  bootConfigOf,
  NoCapacityError,
  parameterSafe,
  type CodeBuildTarget,
  type RunnerProvider,
} from './runner-provider.ts';

/** Errors that mean "no room now", so the pool's fallback is tried. */
const capacityErrors = new Set(['AccountLimitExceededException']);

export const createCodeBuildProvider = (options: {
  codebuild: CodeBuildClient;
  credentials: CredentialsStore;
  parameterPrefix: string;
}): RunnerProvider<CodeBuildTarget> => ({
  async launch(request, target) {
    const parameter = `${options.parameterPrefix}/jobs/${parameterSafe(request.jobKey)}`;
    await options.credentials.put(parameter, bootConfigOf(request));
    try {
      const out = await options.codebuild.send(
        new StartBuildCommand({
          projectName: target.project,
          sourceTypeOverride: 'NO_SOURCE',
          buildspecOverride: RUNNER_BUILDSPEC,
          environmentVariablesOverride: [
            { name: 'RUNNER_CREDENTIALS', value: parameter, type: 'PARAMETER_STORE' },
            { name: 'RUNNER_CREDENTIALS_PARAMETER', value: parameter, type: 'PLAINTEXT' },
            { name: 'GHES_CP_JOB', value: request.jobKey, type: 'PLAINTEXT' },
          ],
          ...(target.computeType ? { computeTypeOverride: target.computeType as never } : {}),
          ...(target.image ? { imageOverride: target.image } : {}),
          ...(target.environmentType ? { environmentTypeOverride: target.environmentType as never } : {}),
          // Same job within 5 minutes → the same build. The ledger's dispatch lease is the real guard.
          idempotencyToken: request.jobKey,
        }),
      );
      return { resourceId: out.build!.id! };
    } catch (error) {
      // Cleanup must not replace the StartBuild error, which decides between fallback and retry.
      await options.credentials.remove(parameter).catch(() => undefined);
      if (capacityErrors.has((error as Error).name)) {
        throw new NoCapacityError(`CodeBuild ${target.project}: ${(error as Error).name}`, { cause: error });
      }
      throw error;
    }
  },
  async isAlive(buildId) {
    const out = await options.codebuild.send(new BatchGetBuildsCommand({ ids: [buildId] }));
    return out.builds?.[0]?.buildStatus === 'IN_PROGRESS';
  },
});
