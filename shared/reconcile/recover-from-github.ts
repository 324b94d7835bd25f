import type { Logger } from '@aws-lambda-powertools/logger';
import type { Dispatcher } from '../dispatch/dispatch-job.ts';
import type { GithubCallBudget } from '../github/call-budget.ts';
import { isGithubStop } from '../github/call-budget.ts';
import type { GithubRecoveryApi, HookDeliverySource, RunnerScope } from '../github/recovery-api.ts';
import type { JobLedger } from '../ledger/job-ledger.ts';
import type { LedgerReads, RecentRepository } from '../ledger/ledger-reads.ts';
import type { PendingJobs } from '../ledger/pending-jobs.ts';
import type { Router } from '../routing/route-job.ts';
import { loadActiveRepositories } from './active-repositories.ts';
import { discoverUnseenJobs } from './discover-unseen-jobs.ts';
import { redeliverFailedDeliveries } from './redeliver-failed-deliveries.ts';
import type { RecoveryStore } from './recovery-store.ts';
import { removeOrphanRunners } from './remove-orphan-runners.ts';

/**
 * The reconciler's GitHub-side recovery, after its ledger-side work: lost webhooks redelivered, queued
 * jobs the ledger never saw dispatched, orphaned runner registrations removed. One budget of GitHub
 * calls for all three; each part leaves a share for the ones after it (deliveries keep 40 %,
 * discovery 15 %), and what a part does not use flows on. A part that fails is logged and the next
 * one still runs; a rate limit stops them all for this run.
 */
export interface GithubRecoveryDeps {
  readonly api: GithubRecoveryApi;
  readonly budget: GithubCallBudget;
  readonly store: RecoveryStore;
  readonly ledgerReads: LedgerReads;
  readonly pending: Pick<PendingJobs, 'statusOf'>;
  readonly ledger: JobLedger;
  readonly router: Pick<Router, 'route'>;
  readonly dispatcher: Pick<Dispatcher, 'dispatch'>;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
}

export interface GithubRecoveryOptions {
  /** Null: redelivery is off (config `github.hookDeliveries` absent). */
  readonly hookDeliveries: HookDeliverySource | null;
  readonly runnerScope: 'org' | 'repo';
  readonly budget: number;
  readonly now: Date;
  readonly quietSeconds: number;
  readonly activeRepositoryHours: number;
  readonly orphanGraceSeconds: number;
  readonly firstLookbackSeconds: number;
}

export interface GithubRecoveryReport {
  readonly redelivered: number;
  readonly discovered: readonly number[];
  readonly orphansRemoved: number;
  /** Stretches of the delivery log still to read. */
  readonly deliveryBacklog: number;
  /** GitHub calls of this run's recovery work (dispatches of discovered jobs included), and its budget. */
  readonly githubCalls: number;
  readonly githubBudget: number;
  /** Why the run's GitHub work stopped for a rate limit, or null. */
  readonly rateLimited: string | null;
  /** Parts that failed (the next run tries again). */
  readonly githubErrors: number;
}

const sourceKey = (source: HookDeliverySource) =>
  source.source === 'app' ? 'app' : `org:${source.org}:${source.hookId}`;

/** Where our pools' runners are registered: each organisation, or each repository. */
const scopesOf = (repositories: readonly RecentRepository[], runnerScope: 'org' | 'repo'): RunnerScope[] => {
  if (runnerScope === 'repo') {
    return repositories.map((r) => ({
      kind: 'repo',
      repository: r.repository,
      installationId: r.installationId,
    }));
  }
  const orgs = new Map<string, RunnerScope>();
  for (const r of repositories) {
    if (!orgs.has(r.owner))
      orgs.set(r.owner, { kind: 'org', org: r.owner, installationId: r.installationId });
  }
  return [...orgs.values()];
};

export const recoverFromGithub = async (
  deps: GithubRecoveryDeps,
  options: GithubRecoveryOptions,
): Promise<GithubRecoveryReport> => {
  const { budget, logger } = deps;
  const calls = budget.usage().used;
  budget.limit(options.budget);
  const leaveFor = (share: number) => () => budget.remaining() - Math.floor(options.budget * share);
  let errors = 0;
  /** Runs one part; its own failure is logged and counted, a stop (budget, rate limit) ends nothing else. */
  const part = async <T>(name: string, work: () => Promise<T>, none: T): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (isGithubStop(error)) return none;
      errors += 1;
      logger.warn(`reconciler ${name} failed; the next run tries again`, { error: error as Error });
      return none;
    }
  };

  const deliveries = options.hookDeliveries
    ? await part(
        'redelivery',
        () =>
          redeliverFailedDeliveries(deps.api, deps.store, logger, {
            sourceKey: sourceKey(options.hookDeliveries!),
            callsLeft: leaveFor(0.4),
            now: () => options.now,
            firstLookbackSeconds: options.firstLookbackSeconds,
          }),
        undefined,
      )
    : undefined;

  const active = await part(
    'active repositories',
    () =>
      loadActiveRepositories(deps.ledgerReads, deps.store, {
        now: options.now,
        windowHours: options.activeRepositoryHours,
      }),
    undefined,
  );
  // Dispatches of discovered jobs are not cut off by the budget (see GithubCallBudget.unmetered).
  const dispatcher: Pick<Dispatcher, 'dispatch'> = {
    dispatch: (job, dispatchOptions) =>
      budget.unmetered(() => deps.dispatcher.dispatch(job, dispatchOptions)),
  };
  const discovery = active
    ? await part(
        'discovery',
        () =>
          discoverUnseenJobs(
            active.repositories,
            { ...deps, dispatcher },
            { callsLeft: leaveFor(0.15), now: options.now, quietSeconds: options.quietSeconds },
          ),
        undefined,
      )
    : undefined;
  if (active)
    await part('active repositories', () => active.advance(discovery?.repositoriesChecked ?? 0), undefined);

  const orphans = active
    ? await part(
        'orphan sweep',
        () =>
          removeOrphanRunners(deps.api, deps.ledgerReads, deps.store, logger, {
            scopes: scopesOf(active.repositories, options.runnerScope),
            callsLeft: () => budget.remaining(),
            now: options.now,
            graceSeconds: options.orphanGraceSeconds,
          }),
        undefined,
      )
    : undefined;

  const usage = budget.usage();
  return {
    redelivered: deliveries?.redelivered ?? 0,
    discovered: discovery?.discovered ?? [],
    orphansRemoved: orphans?.removed ?? 0,
    deliveryBacklog: deliveries?.backlog ?? 0,
    githubCalls: usage.used - calls,
    githubBudget: options.budget,
    rateLimited: usage.rateLimited,
    githubErrors: errors,
  };
};
