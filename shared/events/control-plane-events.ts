import type { WorkflowJobEvent } from '../intake/workflow-job.ts';

/** Source of every event the intake puts on the control-plane bus; rules match on it. */
export const WEBHOOK_EVENT_SOURCE = 'ghes-control-plane.github';

/** `detail-type` is `workflow_job.<action>`, so a rule can route `queued` alone. */
export const workflowJobDetailType = (action: WorkflowJobEvent['action']): string => `workflow_job.${action}`;

/**
 * What a `workflow_job.*` event on the bus carries: what the dispatcher reads to route, lease and
 * launch (`queued`) or to free a job's capacity (`completed`), and nothing else. The job name stays
 * in the webhook: no consumer reads it, and every byte counts against EventBridge's 256 KB entry
 * limit and is kept by the bus archive. GitHub's `created_at`/`started_at` ride on started jobs only:
 * the dispatcher reports queue time from the `completed` event it already receives.
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
  /** GitHub's `created_at` (when the job queued); only on `in_progress` and `completed`. */
  readonly createdAt?: string | null;
  /** GitHub's `started_at` (when a runner took it); only on `in_progress` and `completed`. */
  readonly startedAt?: string | null;
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
  // Absent, not null, on queued events: they stay byte for byte what they were.
  ...(started(job.action) ? { createdAt: instant(job.createdAt), startedAt: instant(job.startedAt) } : {}),
});
