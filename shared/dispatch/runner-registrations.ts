import { randomBytes } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { WorkflowJobDetail } from '../events/control-plane-events.ts';
import type { GithubApi, RunnerCredentials } from '../github/github-app.ts';

/**
 * The runner registrations one dispatch makes for its job: one per runner group it tries (pools of a
 * fallback chain may use different groups). A JIT config registers its runner at once, so those no
 * machine was started for are removed again rather than left offline in the organisation.
 */
export interface RunnerRegistrations {
  /** The job's runner credentials in this group, registered on first ask. */
  forGroup(runnerGroupId: number): Promise<RunnerCredentials>;
  /** Removes every registration but the one a runner was started with (all, if none was). */
  removeAllBut(launched: RunnerCredentials | undefined): Promise<void>;
}

export const createRunnerRegistrations = (
  github: GithubApi,
  job: WorkflowJobDetail,
  logger: Pick<Logger, 'warn'>,
): RunnerRegistrations => {
  // Unique per attempt: a retried dispatch must not collide with the registration of the last one.
  const runnerName = `ghes-cp-${job.jobId}-${job.runAttempt}-${randomBytes(3).toString('hex')}`;
  const where = { owner: job.owner, repository: job.repository, installationId: job.installationId };
  const registered = new Map<number, RunnerCredentials>();
  return {
    async forGroup(runnerGroupId) {
      const known = registered.get(runnerGroupId);
      if (known) return known;
      const credentials = await github.runnerCredentials({
        ...where,
        // Runner names are unique in an organisation, whatever the group.
        runnerName: registered.size === 0 ? runnerName : `${runnerName}-${registered.size}`,
        labels: job.labels,
        runnerGroupId,
      });
      registered.set(runnerGroupId, credentials);
      return credentials;
    },
    async removeAllBut(launched) {
      for (const unused of [...registered.values()].filter((c) => c !== launched)) {
        await github.removeRunner(where, unused).catch((error: unknown) =>
          logger.warn('could not remove the unused runner registration', {
            jobId: job.jobId,
            runAttempt: job.runAttempt,
            runnerName: unused.runnerName,
            error: error as Error,
          }),
        );
      }
    },
  };
};
