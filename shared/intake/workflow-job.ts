import { RejectedRequestError } from '../http/errors.ts';
import type { WorkflowJobAction } from '../ledger/job-status.ts';

/** The part of a `workflow_job` delivery the control plane acts on. */
export interface WorkflowJobEvent {
  readonly action: WorkflowJobAction;
  readonly jobId: number;
  readonly runId: number;
  readonly runAttempt: number;
  readonly jobName: string;
  readonly repository: string;
  readonly owner: string;
  readonly labels: readonly string[];
  readonly workflowName: string | null;
  readonly headBranch: string | null;
  readonly runnerName: string | null;
  readonly conclusion: string | null;
  /** Absent on org/repo hooks; the dispatcher then finds the App installation by owner. */
  readonly installationId: number | null;
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
}

export const trackedActions: readonly WorkflowJobAction[] = ['queued', 'waiting', 'in_progress', 'completed'];

/*
 * Checked by hand, not with a schema library: zod/mini took 8 µs per delivery here, more than
 * HMAC-SHA256 + JSON.parse of a 1 KB body together (benchmark, 2026-11-23). Only the fields we
 * read are checked; GitHub adds fields over time and GHES versions differ.
 */
type Json = Record<string, unknown>;

const refuse = (path: string, expected: string): never => {
  throw new RejectedRequestError(400, `workflow_job payload: ${path}: expected ${expected}`);
};
const object = (value: unknown, path: string): Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Json)
    : refuse(path, 'an object');
const integer = (value: unknown, path: string): number =>
  Number.isSafeInteger(value) ? (value as number) : refuse(path, 'an integer');
const text = (value: unknown, path: string): string =>
  typeof value === 'string' ? value : refuse(path, 'a string');
const optionalText = (value: unknown, path: string): string | null =>
  value === undefined || value === null ? null : text(value, path);

/** Returns the job event, or undefined for an action we do not track. Throws 400 on a broken payload. */
export const parseWorkflowJob = (payload: unknown): WorkflowJobEvent | undefined => {
  const root = object(payload, '(root)');
  const action = text(root.action, 'action');
  const job = object(root.workflow_job, 'workflow_job');
  const repository = object(root.repository, 'repository');
  const labels = Array.isArray(job.labels) ? job.labels : refuse('workflow_job.labels', 'an array');
  labels.forEach((label, i) => text(label, `workflow_job.labels[${i}]`));
  const installation =
    root.installation === undefined || root.installation === null
      ? null
      : object(root.installation, 'installation');
  const event: WorkflowJobEvent = {
    action: action as WorkflowJobAction,
    jobId: integer(job.id, 'workflow_job.id'),
    runId: integer(job.run_id, 'workflow_job.run_id'),
    // Older GHES payloads have no run_attempt: the first attempt is 1.
    runAttempt: job.run_attempt === undefined ? 1 : integer(job.run_attempt, 'workflow_job.run_attempt'),
    jobName: optionalText(job.name, 'workflow_job.name') ?? '',
    repository: text(repository.full_name, 'repository.full_name'),
    owner: text(object(repository.owner, 'repository.owner').login, 'repository.owner.login'),
    labels: labels as string[],
    workflowName: optionalText(job.workflow_name, 'workflow_job.workflow_name'),
    headBranch: optionalText(job.head_branch, 'workflow_job.head_branch'),
    runnerName: optionalText(job.runner_name, 'workflow_job.runner_name'),
    conclusion: optionalText(job.conclusion, 'workflow_job.conclusion'),
    installationId: installation ? integer(installation.id, 'installation.id') : null,
    createdAt: optionalText(job.created_at, 'workflow_job.created_at'),
    startedAt: optionalText(job.started_at, 'workflow_job.started_at'),
    completedAt: optionalText(job.completed_at, 'workflow_job.completed_at'),
  };
  return (trackedActions as readonly string[]).includes(action) ? event : undefined;
};
