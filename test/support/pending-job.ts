import type { PendingJob } from '../../shared/ledger/pending-jobs.ts';

/** The clock of the reconciler and backfill unit tests. */
export const NOW = new Date('2026-11-29T12:00:00Z');
export const secondsAgo = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);

/** A ledger row left queued for want of capacity, 30 s ago. */
export const pendingJob = (jobId: number, extra: Partial<PendingJob> = {}): PendingJob => ({
  detail: {
    action: 'queued',
    jobId,
    runId: jobId * 10,
    runAttempt: 1,
    repository: 'acme/app',
    owner: 'acme',
    labels: ['self-hosted', 'linux'],
    workflowName: 'CI',
    headBranch: 'main',
    installationId: 3,
    runnerName: null,
    conclusion: null,
    deliveryId: 'd',
  },
  status: 'queued',
  reason: 'no capacity: linux: all 2 slots in use',
  updatedAt: secondsAgo(30),
  dispatchLeaseUntil: null,
  ...extra,
});
