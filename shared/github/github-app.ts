import { createAppSession, type AppSessionOptions } from './app-session.ts';

/**
 * GitHub App access for the dispatcher: installation tokens (auth-app caches them until shortly
 * before they expire), the job status check, and runner credentials. GHES with an internal CA is
 * reached by trusting that CA in addition to the system ones, never by turning TLS checks off.
 */
export type RunnerCredentials =
  | {
      readonly kind: 'jit';
      readonly runnerName: string;
      readonly encodedJitConfig: string;
      /** The runner GHES registered for the config: removed again when no machine was started. */
      readonly runnerId?: number;
    }
  | {
      readonly kind: 'registration';
      readonly runnerName: string;
      readonly url: string;
      readonly token: string;
      readonly labels: readonly string[];
      /** The group's name, for `config.sh --runnergroup` (which takes a name, not an id). */
      readonly runnerGroup?: string;
    };

export interface RunnerRequest {
  readonly owner: string;
  readonly repository: string;
  readonly installationId: number | null;
  readonly runnerName: string;
  readonly labels: readonly string[];
  /** Organisation runner group (ignored for repository runners, which have none). @default 1 */
  readonly runnerGroupId?: number;
}

export interface GithubApi {
  /** The job's status on GitHub (`queued`, `in_progress`, …), or `missing` when GitHub does not know it. */
  jobStatus(repository: string, jobId: number, installationId: number | null): Promise<string>;
  runnerCredentials(request: RunnerRequest): Promise<RunnerCredentials>;
  /**
   * Removes the runner a JIT config registered, when nothing was launched to use it; otherwise it
   * would sit offline in the org's runner list. Registration tokens register nothing until used.
   */
  removeRunner(
    request: Omit<RunnerRequest, 'runnerName' | 'labels'>,
    credentials: RunnerCredentials,
  ): Promise<void>;
  /** Removes a registered runner by id (already gone: nothing to do). */
  removeRunnerById(request: Omit<RunnerRequest, 'runnerName' | 'labels'>, runnerId: number): Promise<void>;
}

export interface GithubAppOptions extends AppSessionOptions {
  /** Register runners on the organisation (default) or on the repository. */
  readonly runnerScope?: 'org' | 'repo';
}

const JIT_UNSUPPORTED = Object.assign(new Error('no JIT runner endpoint'), { status: 404 });

/**
 * GHES before 3.10 has no JIT endpoint and answers 404. A 404 from a newer GHES means something
 * else (no such runner group or organisation) and must not turn into a registration token.
 */
const jitMissing = (error: unknown): boolean => {
  if (error === JIT_UNSUPPORTED) return true;
  const { status, response } = error as { status?: number; response?: { headers?: Record<string, string> } };
  if (status !== 404) return false;
  const version = response?.headers?.['x-github-enterprise-version'];
  if (!version) return true; // no version said: take the 404 at its word
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major < 3 || (major === 3 && minor < 10);
};

export const createGithubApp = (options: GithubAppOptions): GithubApi => {
  const { installationRequest } = createAppSession(options);
  const groupNames = new Map<number, string>();
  let jitUnsupported = false;
  const webUrl = options.apiUrl.replace(/\/api\/v3\/?$/, '');

  const removeRunnerById: GithubApi['removeRunnerById'] = async (
    { owner, repository, installationId },
    runnerId,
  ) => {
    const api = await installationRequest(owner, repository, installationId);
    const scope = options.runnerScope === 'repo' ? `/repos/${repository}` : `/orgs/${owner}`;
    try {
      await api(`DELETE ${scope}/actions/runners/{runner_id}`, { runner_id: runnerId });
    } catch (error) {
      if ((error as { status?: number }).status !== 404) throw error; // already gone
    }
  };

  return {
    async jobStatus(repository, jobId, installationId) {
      const [owner, repo] = repository.split('/') as [string, string];
      const api = await installationRequest(owner, repository, installationId);
      try {
        const { data } = await api('GET /repos/{owner}/{repo}/actions/jobs/{job_id}', {
          owner,
          repo,
          job_id: jobId,
        });
        return data.status;
      } catch (error) {
        if ((error as { status?: number }).status === 404) return 'missing';
        throw error;
      }
    },

    async runnerCredentials({ owner, repository, installationId, runnerName, labels, runnerGroupId = 1 }) {
      const api = await installationRequest(owner, repository, installationId);
      const [repoOwner, repo] = repository.split('/') as [string, string];
      const byRepo = options.runnerScope === 'repo';
      const scope = byRepo ? `/repos/${repoOwner}/${repo}` : `/orgs/${owner}`;
      try {
        if (jitUnsupported) throw JIT_UNSUPPORTED;
        const { data } = await api(`POST ${scope}/actions/runners/generate-jitconfig`, {
          name: runnerName,
          runner_group_id: byRepo ? 1 : runnerGroupId,
          labels: [...labels],
          work_folder: '_work',
        });
        const jit = data as { encoded_jit_config: string; runner?: { id?: number } };
        return {
          kind: 'jit',
          runnerName,
          encodedJitConfig: jit.encoded_jit_config,
          ...(typeof jit.runner?.id === 'number' ? { runnerId: jit.runner.id } : {}),
        };
      } catch (error) {
        if (!jitMissing(error)) throw error;
        jitUnsupported = true; // remembered for the container: no JIT call per job from now on
      }
      const { data } = await api(`POST ${scope}/actions/runners/registration-token`);
      // config.sh names the group; look the name up (once) unless it is the default group.
      let group = byRepo || runnerGroupId === 1 ? undefined : groupNames.get(runnerGroupId);
      if (!byRepo && runnerGroupId !== 1 && group === undefined) {
        const { data: found } = (await api('GET /orgs/{org}/actions/runner-groups/{runner_group_id}', {
          org: owner,
          runner_group_id: runnerGroupId,
        })) as { data: { name: string } };
        group = found.name;
        groupNames.set(runnerGroupId, group);
      }
      return {
        kind: 'registration',
        runnerName,
        url: byRepo ? `${webUrl}/${repository}` : `${webUrl}/${owner}`,
        token: (data as { token: string }).token,
        labels,
        ...(group ? { runnerGroup: group } : {}),
      };
    },

    removeRunnerById,

    async removeRunner(request, credentials) {
      if (credentials.kind !== 'jit' || credentials.runnerId === undefined) return;
      await removeRunnerById(request, credentials.runnerId);
    },
  };
};
