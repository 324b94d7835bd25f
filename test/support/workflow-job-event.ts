import type { WorkflowJobEvent } from '../../shared/intake/workflow-job.ts';

/** A parsed `workflow_job` as the intake hands it on; tests change only what they are about. */
export const workflowJobEvent = (extra: Partial<WorkflowJobEvent> = {}): WorkflowJobEvent => ({
  action: 'queued',
  jobId: 42,
  runId: 7,
  runAttempt: 1,
  jobName: 'build',
  repository: 'acme/app',
  owner: 'acme',
  labels: ['self-hosted', 'linux'],
  workflowName: 'CI',
  headBranch: 'main',
  runnerName: null,
  conclusion: null,
  installationId: null,
  headSha: null,
  sender: null,
  createdAt: null,
  startedAt: null,
  completedAt: null,
  ...extra,
});
