import type { PendingJob } from '../ledger/pending-jobs.ts';

/**
 * Seconds the oldest `queued` row has waited since the intake recorded it, 0 when none waits. Only
 * `queued`: a `waiting` job waits for a person's approval, and `unmatched`/`failed` rows for a config
 * change or a new attempt, none of them for a runner. `rows` are the reconciler's oldest rank-0 rows,
 * oldest first, so the first queued one is the oldest of those read.
 */
export const oldestQueuedAgeSeconds = (rows: readonly PendingJob[], now: Date): number => {
  const oldest = rows.find((row) => row.status === 'queued' && row.queuedAt !== undefined);
  return oldest ? Math.max(0, Math.round((now.getTime() - oldest.queuedAt!.getTime()) / 1000)) : 0;
};
