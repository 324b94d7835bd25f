import type { Logger } from '@aws-lambda-powertools/logger';
import type { Dispatcher } from './dispatch-job.ts';
import { JobLeasedError } from './dispatch-job.ts';
import { waitingForRunner, type PendingJobs } from '../ledger/pending-jobs.ts';

/** How many waiting jobs one freed slot looks at; the reconciler covers anything beyond. */
const LOOK_AT = 50;
/** Dispatches one freed slot may try (another job may take the slot between two tries). */
const MAX_TRIES = 3;

/**
 * A slot just came back: the job that has waited longest for that pool (or for a pool whose
 * fallback chain reaches it) is dispatched at once, through the dispatcher's own path. Only jobs a
 * dispatcher already left with a reason are taken: a job with none has its own event on the way.
 */
export const createSlotBackfill =
  (
    pending: Pick<PendingJobs, 'oldest'>,
    dispatcher: () => Pick<Dispatcher, 'dispatch' | 'poolsFor'>,
    logger: Pick<Logger, 'info'>,
    now: () => Date = () => new Date(),
  ) =>
  async (pool: string): Promise<void> => {
    let tries = 0;
    for (const job of await pending.oldest(LOOK_AT)) {
      if (tries >= MAX_TRIES) return;
      // Infinite quiet time: a job without a reason has its own event on the way.
      if (!waitingForRunner(job, now(), Number.POSITIVE_INFINITY)) continue;
      if (!dispatcher().poolsFor(job.detail).includes(pool)) continue;
      tries++;
      try {
        const result = await dispatcher().dispatch(job.detail);
        logger.info('a freed slot went to a waiting job', { pool, jobId: job.detail.jobId, ...result });
        if (result.outcome === 'launched') return;
      } catch (error) {
        if (!(error instanceof JobLeasedError)) throw error;
      }
    }
  };
