import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { createJsonClient, dynamoDbSpec } from '../aws/json-client.ts';
import { readDispatcherEnv, readReconcilerEnv } from '../config/runtime-env.ts';
import { createDispatcherWiring } from '../dispatch/create-dispatcher-from-env.ts';
import { createDynamoLeases } from '../dispatch/leases.ts';
import type { Dispatcher } from '../dispatch/dispatch-job.ts';
import { createAppSession } from '../github/app-session.ts';
import { createGithubCallBudget, type GithubCallBudget } from '../github/call-budget.ts';
import { createGithubRecoveryApi } from '../github/recovery-api.ts';
import { createDynamoJobLedger } from '../ledger/job-ledger.ts';
import { createDynamoLedgerReads } from '../ledger/ledger-reads.ts';
import { createDynamoPendingJobs } from '../ledger/pending-jobs.ts';
import { recoverFromGithub, type GithubRecoveryReport } from './recover-from-github.ts';
import { reconcilePendingJobs, type ReconcileReport } from './reconcile-jobs.ts';
import { createDynamoRecoveryStore, type RecoveryStore } from './recovery-store.ts';

export type ReconcilerRunReport = ReconcileReport & GithubRecoveryReport;

/** Where a pause GitHub asked for is kept between containers (the leases table's recovery records). */
const PAUSE_RECORD = 'github-pause';

/** A run stops starting GitHub work this long before the Lambda's own timeout. */
const DEADLINE_MARGIN_MS = 3_000;

/**
 * A pause GitHub asked of an earlier run holds for later ones, even in a fresh container (one that
 * replaced a container killed by its timeout): calling on before it ends is what gets an App blocked.
 * Kept in the recovery store; a store that cannot be read or written is logged, not fatal.
 */
const githubPauseKeeper = (store: RecoveryStore, budget: GithubCallBudget, logger: Pick<Logger, 'warn'>) => {
  type Pause = { until: number; why: string };
  let kept: { value: Pause | undefined; version: number } = { value: undefined, version: 0 };
  return {
    /** Loads the kept pause into the budget, at the start of a run. */
    async restore() {
      kept = await store.load<Pause>(PAUSE_RECORD).catch((error: unknown) => {
        logger.warn('could not read the pause GitHub asked for', { error: error as Error });
        return kept;
      });
      if (kept.value) budget.pauseUntil(kept.value.until, kept.value.why);
    },
    /** Saves a longer pause asked for in this run (after each phase: a run can still time out). */
    async keep() {
      const asked = budget.pause();
      if (!asked || asked.until <= (kept.value?.until ?? 0)) return;
      const saved = await store.save(PAUSE_RECORD, asked, kept.version).catch((error: unknown) => {
        logger.warn('could not keep the pause GitHub asked for', { error: error as Error });
        return false;
      });
      if (saved) kept = { value: asked, version: kept.version + 1 };
    },
  };
};

/**
 * Wires the reconciler from the Lambda's environment (the dispatcher's, plus its own limits). Every
 * GitHub call of a run, the dispatcher's included, goes through one call budget: rate limits are
 * honoured throughout; the budget itself meters only the recovery work, which runs first.
 */
export const createReconcilerFromEnv = async (
  logger: Pick<Logger, 'info' | 'warn' | 'error'>,
  metrics?: Metrics,
): Promise<(run: { remainingMs: number }) => Promise<ReconcilerRunReport>> => {
  const env = readDispatcherEnv();
  const limits = readReconcilerEnv();
  const budget = createGithubCallBudget();
  const { dispatcher, config, router, github } = await createDispatcherWiring(logger, {
    requestHook: budget.hook,
    ...(metrics ? { metrics } : {}),
  });
  const dynamo = createJsonClient(dynamoDbSpec, env.aws);
  const pending = createDynamoPendingJobs(dynamo, env.jobsTable);
  const leases = createDynamoLeases(dynamo, env.leasesTable);
  const hookDeliveries = config.github.hookDeliveries ?? null;
  if (!hookDeliveries) {
    logger.info('github.hookDeliveries is not configured: failed webhook deliveries are not redelivered');
  }
  const store = createDynamoRecoveryStore(dynamo, env.leasesTable);
  const pause = githubPauseKeeper(store, budget, logger);
  const recovery = {
    // The one log source is chosen by config; an unused org source costs nothing.
    api: createGithubRecoveryApi(createAppSession(github), hookDeliveries ?? { source: 'app' }),
    budget,
    store,
    ledgerReads: createDynamoLedgerReads(dynamo, env.jobsTable),
    pending,
    ledger: createDynamoJobLedger(dynamo, env.jobsTable),
    router,
    dispatcher,
    logger,
  };
  // The ledger pass's dispatches and re-checks are never cut off by the budget or the deadline: one
  // stopped between its JIT registration and its launch would leave a runner registered for nothing.
  const ledgerDispatcher: Pick<Dispatcher, 'dispatch' | 'release' | 'recheck'> = {
    dispatch: (job, options) => budget.unmetered(() => dispatcher.dispatch(job, options)),
    release: (job) => budget.unmetered(() => dispatcher.release(job)),
    recheck: (job, launch) => budget.unmetered(() => dispatcher.recheck(job, launch)),
  };
  return async ({ remainingMs }) => {
    const now = new Date();
    const end = now.getTime() + remainingMs - Math.min(DEADLINE_MARGIN_MS, remainingMs / 4);
    // GitHub recovery first, in at most half the run: a lost webhook is a job nothing else knows
    // of, and a burst of dispatches behind a throttled EC2 must not starve it run after run (the
    // chaos bench saw it). The ledger pass then has the rest, up to a margin before the timeout.
    budget.startRun({ budget: Number.POSITIVE_INFINITY, deadline: now.getTime() + remainingMs / 2 });
    await pause.restore();
    const githubSide = await recoverFromGithub(recovery, {
      hookDeliveries,
      runnerScope: config.github.runnerScope,
      budget: limits.githubBudget,
      now,
      quietSeconds: limits.quietSeconds,
      activeRepositoryHours: limits.activeRepositoryHours,
      orphanGraceSeconds: limits.orphanGraceSeconds,
      firstLookbackSeconds: limits.firstLookbackSeconds,
    });
    await pause.keep();
    const ledgerSide = await reconcilePendingJobs(pending, ledgerDispatcher, leases, logger, {
      ...limits,
      stopAt: new Date(end),
    });
    await pause.keep();
    return { ...ledgerSide, ...githubSide };
  };
};
