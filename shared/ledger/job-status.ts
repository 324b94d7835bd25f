/** Job states as the ledger and `GET /sandbox/state` name them. */
export type JobStatus =
  'queued' | 'waiting' | 'dispatched' | 'in_progress' | 'completed' | 'unmatched' | 'failed';

/** The `workflow_job` actions the intake records; any other action is ignored. */
export type WorkflowJobAction = 'queued' | 'waiting' | 'in_progress' | 'completed';

/**
 * Status only moves forward. `queued` and `waiting` share a rank because GitHub really does send
 * `queued → waiting → queued` around an environment approval (cdk-github-runners #380); the
 * dispatcher, not this order, keeps such a job from getting two runners.
 */
export const statusRank: Record<JobStatus, number> = {
  waiting: 0,
  queued: 0,
  unmatched: 0,
  failed: 0,
  dispatched: 1,
  in_progress: 2,
  completed: 3,
};
