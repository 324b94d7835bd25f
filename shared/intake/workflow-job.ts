import { RejectedRequestError } from '../http/errors.ts';
import type { WorkflowJobAction } from '../ledger/job-status.ts';
import { codePointLength, WORKFLOW_JOB_LIMITS as LIMITS } from './workflow-job-limits.ts';

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
  /** The commit the run is for. */
  readonly headSha: string | null;
  /** `sender.login`: who triggered the run (absent on some redeliveries and older GHES). */
  readonly sender: string | null;
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
/** GitHub's ids and attempts start at 1; zero or less is not a job GitHub sent. */
const positive = (value: unknown, path: string): number =>
  Number.isSafeInteger(value) && (value as number) > 0
    ? (value as number)
    : refuse(path, 'a positive integer');
const unbounded = (value: unknown, path: string): string =>
  typeof value === 'string' ? value : refuse(path, 'a string');
const text = (value: unknown, path: string, max: number): string =>
  codePointLength(unbounded(value, path), max) <= max
    ? (value as string)
    : refuse(path, `a string of at most ${max} characters`);
const optionalText = (value: unknown, path: string, max: number): string | null =>
  value === undefined || value === null ? null : text(value, path, max);

const labelsOf = (value: unknown): string[] => {
  const path = 'workflow_job.labels';
  const labels = Array.isArray(value) ? value : refuse(path, 'an array');
  if (labels.length > LIMITS.labels) refuse(path, `an array of at most ${LIMITS.labels} labels`);
  return labels.map((label, i) => text(label, `${path}[${i}]`, LIMITS.labelLength));
};

const senderOf = (value: unknown): string | null =>
  value === undefined || value === null
    ? null
    : optionalText(object(value, 'sender').login, 'sender.login', LIMITS.senderLength);

/**
 * Returns the job event, or undefined for an action we do not track. Throws 400 on a broken payload
 * or a field over its bound (see workflow-job-limits.ts). Only the fields named here are read: the
 * rest of the payload (`steps`, GitHub's future fields, or junk nested 200,000 deep) is never walked.
 */
export const parseWorkflowJob = (payload: unknown): WorkflowJobEvent | undefined => {
  const root = object(payload, '(root)');
  const action = unbounded(root.action, 'action');
  const job = object(root.workflow_job, 'workflow_job');
  const repository = object(root.repository, 'repository');
  const labels = labelsOf(job.labels);
  const installation =
    root.installation === undefined || root.installation === null
      ? null
      : object(root.installation, 'installation');
  const event: WorkflowJobEvent = {
    action: action as WorkflowJobAction,
    jobId: positive(job.id, 'workflow_job.id'),
    runId: positive(job.run_id, 'workflow_job.run_id'),
    // Older GHES payloads have no run_attempt: the first attempt is 1.
    runAttempt: job.run_attempt === undefined ? 1 : positive(job.run_attempt, 'workflow_job.run_attempt'),
    jobName: optionalText(job.name, 'workflow_job.name', LIMITS.jobNameLength) ?? '',
    repository: text(repository.full_name, 'repository.full_name', LIMITS.repositoryLength),
    owner: text(
      object(repository.owner, 'repository.owner').login,
      'repository.owner.login',
      LIMITS.ownerLength,
    ),
    labels,
    workflowName: optionalText(job.workflow_name, 'workflow_job.workflow_name', LIMITS.workflowNameLength),
    headBranch: optionalText(job.head_branch, 'workflow_job.head_branch', LIMITS.headBranchLength),
    runnerName: optionalText(job.runner_name, 'workflow_job.runner_name', LIMITS.runnerNameLength),
    conclusion: optionalText(job.conclusion, 'workflow_job.conclusion', LIMITS.conclusionLength),
    installationId: installation ? positive(installation.id, 'installation.id') : null,
    headSha: optionalText(job.head_sha, 'workflow_job.head_sha', LIMITS.headShaLength),
    sender: senderOf(root.sender),
    // Published for the deploy notifier's per-job durations, so bounded like every published field.
    createdAt: optionalText(job.created_at, 'workflow_job.created_at', LIMITS.timestampLength),
    startedAt: optionalText(job.started_at, 'workflow_job.started_at', LIMITS.timestampLength),
    completedAt: optionalText(job.completed_at, 'workflow_job.completed_at', LIMITS.timestampLength),
  };
  return (trackedActions as readonly string[]).includes(action) ? event : undefined;
};
