import type { JsonCall } from '../aws/json-client.ts';
import {
  WEBHOOK_EVENT_SOURCE,
  workflowJobDetailType,
  type WorkflowJobDetail,
} from './control-plane-events.ts';

export interface EventPublisher {
  publishWorkflowJob(detail: WorkflowJobDetail): Promise<void>;
}

export class EventPublishError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EventPublishError';
  }
}

interface PutEventsOutput {
  FailedEntryCount?: number;
  Entries?: { EventId?: string; ErrorCode?: string; ErrorMessage?: string }[];
}

export const createEventBridgePublisher = (events: JsonCall, eventBusName: string): EventPublisher => ({
  async publishWorkflowJob(detail) {
    const out = await events<PutEventsOutput>('PutEvents', {
      Entries: [
        {
          EventBusName: eventBusName,
          Source: WEBHOOK_EVENT_SOURCE,
          DetailType: workflowJobDetailType(detail.action),
          Detail: JSON.stringify(detail),
        },
      ],
    });
    // PutEvents answers 200 even when an entry was refused; only the per-entry result tells.
    if ((out.FailedEntryCount ?? 0) > 0) {
      const entry = out.Entries?.find((e) => e.ErrorCode);
      throw new EventPublishError(
        `PutEvents refused the event: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim(),
      );
    }
  },
});
