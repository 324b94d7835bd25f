import type { WorkflowJobEvent } from '../intake/workflow-job.ts';

/** Source of every event the intake puts on the control-plane bus; rules match on it. */
export const WEBHOOK_EVENT_SOURCE = 'ghes-control-plane.github';

/** `detail-type` is `workflow_job.<action>`, so a rule can route `queued` alone. */
export const workflowJobDetailType = (action: WorkflowJobEvent['action']): string => `workflow_job.${action}`;

/**
 * What a `workflow_job.*` event on the bus carries: what the dispatcher reads to route, lease and
 * launch (`queued`) or to free a job's capacity (`completed`), and what the deploy notifier shows
 * (job name, commit, who triggered it, GitHub's timestamps), and nothing else: every byte counts
 * against EventBridge's 256 KB entry limit and is kept by the bus archive. Every field is bounded by
 * shared/intake/workflow-job-limits.ts.
 */
export interface WorkflowJobDetail {
  readonly action: WorkflowJobEvent['action'];
  readonly jobId: number;
  readonly runId: number;
  readonly runAttempt: number;
  readonly repository: string;
  readonly owner: string;
  readonly labels: readonly string[];
  readonly workflowName: string | null;
  readonly headBranch: string | null;
  /** Absent on org/repo hooks; the dispatcher then finds the App installation by owner. */
  readonly installationId: number | null;
  readonly deliveryId: string;
  /** The runner that took the job; null until `in_progress` (a `queued` payload's value is stale). */
  readonly runnerName: string | null;
  /** How the job ended; null until `completed`. */
  readonly conclusion: string | null;
  /*
   * For the deploy notifier. Optional: a job the reconciler re-dispatches from its ledger row has
   * none of them, and the dispatcher reads none.
   */
  /** The job's name as GitHub shows it (`build`, `deploy (eu-west-1)`); '' when the payload had none. */
  readonly jobName?: string;
  readonly headSha?: string | null;
  /** Who triggered the run; null when the delivery did not say. */
  readonly sender?: string | null;
  /** GitHub's own times: when the job was queued, taken by a runner, and finished. */
  readonly createdAt?: string | null;
  readonly startedAt?: string | null;
  readonly completedAt?: string | null;
}

const started = (action: WorkflowJobEvent['action']) => action === 'in_progress' || action === 'completed';

/**
 * The intake checks GitHub's timestamps for shape only; on the bus they are bounded: an ISO 8601
 * instant is 24 characters (`2026-11-29T12:00:00.000Z`), so anything over 40 or unparsable is dropped.
 */
const instant = (value: string | null): string | null =>
  value !== null && value.length <= 40 && Number.isFinite(Date.parse(value)) ? value : null;

/** Picks the bus event out of a parsed delivery, field by field, so nothing else can ride along. */
export const toWorkflowJobDetail = (job: WorkflowJobEvent, deliveryId: string): WorkflowJobDetail => ({
  action: job.action,
  jobId: job.jobId,
  runId: job.runId,
  runAttempt: job.runAttempt,
  repository: job.repository,
  owner: job.owner,
  labels: job.labels,
  workflowName: job.workflowName,
  headBranch: job.headBranch,
  installationId: job.installationId,
  deliveryId,
  runnerName: started(job.action) ? job.runnerName : null,
  conclusion: job.action === 'completed' ? job.conclusion : null,
  jobName: job.jobName,
  headSha: job.headSha,
  sender: job.sender,
  createdAt: instant(job.createdAt),
  startedAt: started(job.action) ? instant(job.startedAt) : null,
  completedAt: job.action === 'completed' ? instant(job.completedAt) : null,
});
