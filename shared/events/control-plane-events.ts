import type { WorkflowJobEvent } from '../intake/workflow-job.ts';

/** Source of every event the intake puts on the control-plane bus; rules match on it. */
export const WEBHOOK_EVENT_SOURCE = 'ghes-control-plane.github';

/** `detail-type` is `workflow_job.<action>`, so a rule can route `queued` alone. */
export const workflowJobDetailType = (action: WorkflowJobEvent['action']): string => `workflow_job.${action}`;

export interface WorkflowJobDetail extends WorkflowJobEvent {
  readonly deliveryId: string;
}
