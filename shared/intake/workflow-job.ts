import * as z from 'zod/mini';
import { RejectedRequestError } from '../http/errors.ts';
import type { WorkflowJobAction } from '../ledger/job-status.ts';
import { describeIssue } from '../config/describe-issue.ts';

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

const nullableString = z.optional(z.nullable(z.string()));

// Loose objects: GitHub adds fields over time and GHES versions differ; only what we use is checked.
const payloadSchema = z.looseObject({
  action: z.string(),
  workflow_job: z.looseObject({
    id: z.number(),
    run_id: z.number(),
    // Older GHES payloads have no run_attempt: the first attempt is 1.
    run_attempt: z.optional(z.number()),
    name: z.optional(z.string()),
    labels: z.array(z.string()),
    workflow_name: nullableString,
    head_branch: nullableString,
    runner_name: nullableString,
    conclusion: nullableString,
    created_at: nullableString,
    started_at: nullableString,
    completed_at: nullableString,
  }),
  repository: z.looseObject({
    full_name: z.string(),
    owner: z.looseObject({ login: z.string() }),
  }),
  installation: z.optional(z.nullable(z.looseObject({ id: z.number() }))),
});

/** Returns the job event, or undefined for an action we do not track. Throws 400 on a broken payload. */
export const parseWorkflowJob = (payload: unknown): WorkflowJobEvent | undefined => {
  const result = z.safeParse(payloadSchema, payload);
  if (!result.success) {
    throw new RejectedRequestError(400, `workflow_job payload: ${describeIssue(result.error.issues[0]!)}`);
  }
  const { action, workflow_job: job, repository, installation } = result.data;
  if (!(trackedActions as readonly string[]).includes(action)) return undefined;
  return {
    action: action as WorkflowJobAction,
    jobId: job.id,
    runId: job.run_id,
    runAttempt: job.run_attempt ?? 1,
    jobName: job.name ?? '',
    repository: repository.full_name,
    owner: repository.owner.login,
    labels: job.labels,
    workflowName: job.workflow_name ?? null,
    headBranch: job.head_branch ?? null,
    runnerName: job.runner_name ?? null,
    conclusion: job.conclusion ?? null,
    installationId: installation?.id ?? null,
    createdAt: job.created_at ?? null,
    startedAt: job.started_at ?? null,
    completedAt: job.completed_at ?? null,
  };
};
