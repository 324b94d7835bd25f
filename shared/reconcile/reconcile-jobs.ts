import type { Logger } from '@aws-lambda-powertools/logger';
import type { DispatchOutcome, Dispatcher } from '../dispatch/dispatch-job.ts';
import type { Leases } from '../dispatch/leases.ts';
import { JobLeasedError } from '../dispatch/dispatch-job.ts';
import { waitingForRunner, type PendingJobs } from '../ledger/pending-jobs.ts';
import { oldestQueuedAgeSeconds } from './oldest-queued-age.ts';

/**
 * The backstop for jobs the event path left without a runner: a job kept `queued` because no pool
 * had capacity or a free slot, and a job whose row the intake wrote but whose event never reached the
 * bus (PutEvents failed and GitHub did not redeliver). Each goes through the dispatcher's own path,
 * lease and all, so a job the event path is handling at the same moment still gets one runner.
 */
export interface ReconcileOptions {
  /** A row with no reason is left this long for its event to arrive first. @default 120 */
  readonly quietSeconds?: number;
  /** Dispatches per run, oldest job first, so one run stays well inside its timeout. @default 25 */
  readonly maxDispatches?: number;
  /**
   * A job `dispatched` this long without a runner reporting it is re-checked against GitHub: longer
   * than a cold CodeBuild start (60–90 s) plus the runner's own boot. @default 600
   */
  readonly staleSeconds?: number;
  /**
   * No re-check or dispatch starts after this: the run's GitHub recovery comes after this pass and
   * needs time of its own (a pass that ran into the Lambda timeout would starve it every run).
   */
  readonly stopAt?: Date;
  readonly now?: () => Date;
}

export interface ReconcileReport {
  /** Stale `dispatched` jobs GitHub had closed, closed here too. */
  readonly closed: readonly number[];
  /** Stale `dispatched` jobs whose launch was gone while GitHub still had them queued. */
  readonly relaunched: readonly number[];
  /** Slots given back because their job had closed while its `completed` never reached the dispatcher. */
  readonly released: readonly string[];
  readonly examined: number;
  readonly dispatched: readonly { readonly jobId: number; readonly outcome: DispatchOutcome['outcome'] }[];
  readonly failed: number;
  /** How long the oldest job still `queued` in the ledger has waited; 0 when none waits. */
  readonly oldestQueuedAgeSeconds: number;
}

/**
 * A job's slot (and instance lease) is freed by its `completed` event. When that event is lost (the
 * intake wrote the ledger, then PutEvents failed and GitHub did not redeliver), the ledger still says
 * `completed`: give the slot back, or the pool stays a runner smaller for good.
 */
const releaseClosedJobs = async (
  leases: Pick<Leases, 'heldSlots'>,
  pending: Pick<PendingJobs, 'statusOf'>,
  dispatcher: Pick<Dispatcher, 'release'>,
  limit: number,
): Promise<string[]> => {
  const released: string[] = [];
  for (const { jobKey } of await leases.heldSlots(limit)) {
    if ((await pending.statusOf(jobKey)) !== 'completed') continue;
    const [jobId, runAttempt] = jobKey.split('#').map(Number) as [number, number];
    await dispatcher.release({ jobId, runAttempt });
    released.push(jobKey);
  }
  return released;
};

/**
 * Checked against GitHub, oldest first, at most `max` a run, each then skipped for `staleSeconds`:
 * jobs `dispatched` that long with no runner reporting them, and jobs `in_progress` that long, whose
 * `completed` may have been lost for good (its delivery and the one redelivery both failed) while
 * their slot and instance stay held.
 */
const recheckStale = async (
  pending: Pick<PendingJobs, 'oldestDispatched' | 'runningSince' | 'noteChecked'>,
  dispatcher: Pick<Dispatcher, 'recheck'>,
  logger: Pick<Logger, 'warn'>,
  limits: { now: Date; staleSeconds: number; max: number; timeLeft: () => boolean },
) => {
  const closed: number[] = [];
  const relaunched: number[] = [];
  const cutoff = new Date(limits.now.getTime() - limits.staleSeconds * 1000);
  const dispatched = (await pending.oldestDispatched(limits.max * 2, cutoff)).filter(
    (job) => job.dispatchedAt < cutoff,
  );
  const running = await pending.runningSince(cutoff, limits.max);
  for (const job of [...dispatched, ...running].slice(0, limits.max)) {
    if (!limits.timeLeft()) break;
    try {
      const outcome = await dispatcher.recheck(job.detail, job.launch);
      if (outcome === 'closed') closed.push(job.detail.jobId);
      if (outcome === 'relaunched') relaunched.push(job.detail.jobId);
      if (outcome === 'left')
        await pending.noteChecked(`${job.detail.jobId}#${job.detail.runAttempt}`, limits.now);
    } catch (error) {
      logger.warn('reconciler could not re-check a dispatched job; the next run tries again', {
        jobId: job.detail.jobId,
        runAttempt: job.detail.runAttempt,
        error: error as Error,
      });
    }
  }
  return { closed, relaunched };
};

export const reconcilePendingJobs = async (
  pending: PendingJobs,
  dispatcher: Pick<Dispatcher, 'dispatch' | 'release' | 'recheck'>,
  leases: Pick<Leases, 'heldSlots'>,
  logger: Pick<Logger, 'warn'>,
  options: ReconcileOptions = {},
): Promise<ReconcileReport> => {
  const now = options.now ?? (() => new Date());
  const timeLeft = () => options.stopAt === undefined || now() < options.stopAt;
  const quietSeconds = options.quietSeconds ?? 120;
  const maxDispatches = options.maxDispatches ?? 25;
  // Slots first: what they free is what the waiting jobs below can take.
  const released = await releaseClosedJobs(leases, pending, dispatcher, 200);
  const { closed, relaunched } = await recheckStale(pending, dispatcher, logger, {
    now: now(),
    staleSeconds: options.staleSeconds ?? 600,
    max: maxDispatches,
    timeLeft,
  });
  // Twice the budget: some of the oldest rows are skipped (leased, unmatched, too recent).
  const jobs = await pending.oldest(maxDispatches * 2);
  const dispatched: { jobId: number; outcome: DispatchOutcome['outcome'] }[] = [];
  let failed = 0;
  // One at a time, oldest first: when one slot frees, the job that has waited longest takes it.
  for (const job of jobs) {
    if (dispatched.length + failed >= maxDispatches || !timeLeft()) break;
    if (!waitingForRunner(job, now(), quietSeconds)) continue;
    try {
      const result = await dispatcher.dispatch(job.detail, { redelivered: true });
      dispatched.push({ jobId: job.detail.jobId, outcome: result.outcome });
    } catch (error) {
      if (error instanceof JobLeasedError) continue; // the event path has it right now
      failed++;
      logger.warn('reconciler could not dispatch the job; the next run tries again', {
        jobId: job.detail.jobId,
        runAttempt: job.detail.runAttempt,
        error: error as Error,
      });
    }
  }
  return {
    ...{ released, closed, relaunched, examined: jobs.length, dispatched, failed },
    // From the rows read above, before this run's dispatches: no extra query.
    oldestQueuedAgeSeconds: oldestQueuedAgeSeconds(jobs, now()),
  };
};
