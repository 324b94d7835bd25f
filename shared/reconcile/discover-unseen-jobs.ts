import type { Logger } from '@aws-lambda-powertools/logger';
import type { Dispatcher } from '../dispatch/dispatch-job.ts';
import { JobLeasedError } from '../dispatch/dispatch-job.ts';
import type { WorkflowJobDetail } from '../events/control-plane-events.ts';
import { isGithubStop } from '../github/call-budget.ts';
import type { GithubJob, GithubRecoveryApi, GithubRun } from '../github/recovery-api.ts';
import type { JobLedger } from '../ledger/job-ledger.ts';
import { jobKey } from '../ledger/job-ledger.ts';
import type { PendingJobs } from '../ledger/pending-jobs.ts';
import type { RecentRepository } from '../ledger/ledger-reads.ts';
import type { Router } from '../routing/route-job.ts';

/**
 * Queued jobs whose `queued` webhook never reached us (lost, and out of the delivery log's reach or
 * delivered to a hook we do not read): found through the runs/jobs API of recently active
 * repositories. A job queued on GitHub for longer than `quietSeconds` (before that its webhook may
 * simply be on its way), routed to a pool, and without a ledger row gets the row the intake would
 * have written, then the dispatcher's own path: the row's lease makes a webhook arriving now, or a
 * second reconciler, harmless. Unmatched jobs are left alone: they are someone else's runners'.
 */
export interface DiscoveryOptions {
  readonly callsLeft: () => number;
  readonly now: Date;
  /** @default 120 */
  readonly quietSeconds?: number;
  /** Rows written and dispatched per run. @default 10 */
  readonly maxDiscoveries?: number;
}

export interface DiscoveryReport {
  readonly discovered: readonly number[];
  /** Repositories looked at this run (the rotation moves on by this many). */
  readonly repositoriesChecked: number;
  readonly stopped: boolean;
}

/** The bus detail a `queued` webhook for this job would have carried. */
const detailOf = (repo: RecentRepository, run: GithubRun, job: GithubJob): WorkflowJobDetail => ({
  action: 'queued',
  jobId: job.id,
  runId: job.runId,
  runAttempt: job.runAttempt,
  repository: repo.repository,
  owner: repo.owner,
  labels: job.labels,
  workflowName: job.workflowName ?? run.name,
  headBranch: job.headBranch ?? run.headBranch,
  installationId: repo.installationId,
  deliveryId: `reconciler-discovered-${job.id}`,
  runnerName: null,
  conclusion: null,
});

class StopDiscovery extends Error {}

export const discoverUnseenJobs = async (
  repositories: readonly RecentRepository[],
  deps: {
    readonly api: Pick<GithubRecoveryApi, 'activeRuns' | 'runJobs'>;
    readonly pending: Pick<PendingJobs, 'statusOf'>;
    readonly ledger: JobLedger;
    readonly router: Pick<Router, 'route'>;
    readonly dispatcher: Pick<Dispatcher, 'dispatch'>;
    readonly logger: Pick<Logger, 'info' | 'warn'>;
  },
  options: DiscoveryOptions,
): Promise<DiscoveryReport> => {
  const quietMs = (options.quietSeconds ?? 120) * 1000;
  const maxDiscoveries = options.maxDiscoveries ?? 10;
  const discovered: number[] = [];
  let checked = 0;

  const adopt = async (detail: WorkflowJobDetail, job: GithubJob) => {
    const key = jobKey(detail.jobId, detail.runAttempt);
    if ((await deps.pending.statusOf(key)) !== undefined) return; // the ledger saw it
    const { changed } = await deps.ledger.recordWebhook(
      {
        ...detail,
        jobName: job.name,
        // The jobs API names neither the commit nor who triggered the run; the ledger row needs neither.
        headSha: detail.headSha ?? null,
        sender: detail.sender ?? null,
        createdAt: job.createdAt.toISOString(),
        startedAt: null,
        completedAt: null,
      },
      { deliveryId: detail.deliveryId, bodyHash: 'reconciler-discovered', receivedAt: options.now },
    );
    if (!changed) return; // a webhook or another reconciler wrote it just now
    discovered.push(detail.jobId);
    deps.logger.info('found a queued job the ledger never saw; dispatching it', {
      jobId: detail.jobId,
      runAttempt: detail.runAttempt,
      repository: detail.repository,
    });
    await deps.dispatcher.dispatch(detail, { redelivered: true }).catch((error: unknown) => {
      // The row is written: the reconciler's pending pass dispatches it next run.
      if (error instanceof JobLeasedError) return;
      if (isGithubStop(error)) throw error;
      deps.logger.warn('could not dispatch a discovered job; the next run tries again', {
        jobId: detail.jobId,
        error: error as Error,
      });
    });
  };

  try {
    for (const repo of repositories) {
      // A repository costs two calls for its runs plus one per run: start one only with room for it.
      if (options.callsLeft() < 3 || discovered.length >= maxDiscoveries) throw new StopDiscovery();
      const runs = await deps.api
        .activeRuns(repo.repository, repo.installationId, 20)
        .catch((error: unknown) => {
          // A repository deleted or renamed since its jobs ran: nothing to find there, on to the next.
          if ((error as { status?: number }).status === 404) return [];
          throw error;
        });
      for (const run of runs) {
        if (options.callsLeft() <= 0 || discovered.length >= maxDiscoveries) throw new StopDiscovery();
        const jobs = await deps.api.runJobs(repo.repository, repo.installationId, run.id, 100);
        for (const job of jobs) {
          if (discovered.length >= maxDiscoveries) throw new StopDiscovery();
          if (job.status !== 'queued') continue;
          if (options.now.getTime() - job.createdAt.getTime() < quietMs) continue;
          const detail = detailOf(repo, run, job);
          if (deps.router.route(detail).kind === 'unmatched') continue;
          await adopt(detail, job);
        }
      }
      checked += 1;
    }
  } catch (error) {
    if (!(error instanceof StopDiscovery) && !isGithubStop(error)) throw error;
    return { discovered, repositoriesChecked: checked, stopped: true };
  }
  return { discovered, repositoriesChecked: checked, stopped: false };
};
