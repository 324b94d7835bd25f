import { describe, expect, it } from 'vitest';
import { oldestQueuedAgeSeconds } from '../../../shared/reconcile/oldest-queued-age.ts';
import { NOW, pendingJob, secondsAgo } from '../../support/pending-job.ts';

describe('the age of the oldest queued job', () => {
  it('is how long the oldest queued row has waited since the intake recorded it', () => {
    const rows = [pendingJob(1, { queuedAt: secondsAgo(700) }), pendingJob(2, { queuedAt: secondsAgo(30) })];
    expect(oldestQueuedAgeSeconds(rows, NOW)).toBe(700);
  });

  it('passes over rows that wait for a person or a config change, not for a runner', () => {
    const rows = [
      pendingJob(1, { status: 'waiting', queuedAt: secondsAgo(3_600) }),
      pendingJob(2, { status: 'failed', queuedAt: secondsAgo(3_000) }),
      pendingJob(3, { status: 'unmatched', queuedAt: secondsAgo(2_000) }),
      pendingJob(4, { queuedAt: secondsAgo(120) }),
    ];
    expect(oldestQueuedAgeSeconds(rows, NOW)).toBe(120);
  });

  it('is 0 when no job waits', () => {
    expect(oldestQueuedAgeSeconds([], NOW)).toBe(0);
    expect(
      oldestQueuedAgeSeconds([pendingJob(1, { status: 'waiting', queuedAt: secondsAgo(60) })], NOW),
    ).toBe(0);
  });
});
