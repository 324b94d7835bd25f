/**
 * What the deploy notifier knows about one workflow run (one run attempt, one rule): the run's own
 * fields and each job's furthest status. Pure data and rules; the store keeps it in DynamoDB.
 */
export type JobStatus = 'queued' | 'waiting' | 'in_progress' | 'completed';

/** Status only moves forward: a late `queued` after `completed` changes nothing. */
export const JOB_STATUS_RANK: Readonly<Record<JobStatus, number>> = {
  queued: 0,
  waiting: 0,
  in_progress: 1,
  completed: 2,
};

export interface RunJob {
  readonly jobId: number;
  readonly name: string;
  readonly status: JobStatus;
  readonly conclusion: string | null;
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
}

export interface RunState {
  readonly rule: string;
  readonly workflow: string;
  readonly repository: string;
  readonly runId: number;
  readonly runAttempt: number;
  readonly branch: string | null;
  readonly headSha: string | null;
  readonly sender: string | null;
  readonly jobs: readonly RunJob[];
  /** Bumped by every job change; the message is current when `renderedVersion` reaches it. */
  readonly version: number;
  readonly renderedVersion: number;
  /** Set once the message is posted: the channel's ID and the message's ts. */
  readonly message: { readonly channel: string; readonly ts: string } | null;
}

/** GitHub's conclusions that mean the job did not do its work. */
const FAILED = new Set(['failure', 'timed_out', 'startup_failure']);

export type RunOutcome = 'queued' | 'in_progress' | 'success' | 'failure' | 'cancelled';

/**
 * The run as far as its jobs tell: running while any job is open, then failure if any job failed,
 * cancelled if any was cancelled, else success. Only `workflow_job` events drive this, so a job
 * GitHub has not queued yet (one that `needs:` another) is unknown until it queues, and the run
 * goes back to in progress when it does.
 */
export const runOutcome = (jobs: readonly RunJob[]): RunOutcome => {
  if (jobs.some((job) => job.status !== 'completed'))
    return jobs.some((job) => job.status === 'in_progress' || job.status === 'completed')
      ? 'in_progress'
      : 'queued';
  if (jobs.some((job) => FAILED.has(job.conclusion ?? ''))) return 'failure';
  if (jobs.some((job) => job.conclusion === 'cancelled')) return 'cancelled';
  return 'success';
};

/** A job failed, even while others still run: the configured group is mentioned from then on. */
export const anyJobFailed = (jobs: readonly RunJob[]): boolean =>
  jobs.some((job) => job.status === 'completed' && FAILED.has(job.conclusion ?? ''));
