import type { JsonCall } from '../aws/json-client.ts';

/**
 * Problems that only an operator can fix (a permission AWS refused, a misconfigured pool) go on the
 * control-plane bus as `control-plane.alert` events; the rule `AlertsToTopic` (infra/event-rules.json)
 * sends them to the alerts SNS topic, next to the dispatch DLQ alarm.
 */
export interface Alert {
  /** Short, stable identifier an operator can filter on, e.g. `permission-denied`. */
  readonly kind: string;
  readonly summary: string;
  readonly detail: string;
}

export interface AlertSink {
  raise(alert: Alert): Promise<void>;
}

export const ALERT_DETAIL_TYPE = 'control-plane.alert';

export const createEventBridgeAlertSink = (
  events: JsonCall,
  eventBusName: string,
  /** Who raises it, e.g. `ghes-control-plane.runner-dispatcher`. */
  source: string,
): AlertSink => ({
  async raise(alert) {
    const out = await events<{ FailedEntryCount?: number; Entries?: { ErrorCode?: string }[] }>('PutEvents', {
      Entries: [
        {
          EventBusName: eventBusName,
          Source: source,
          DetailType: ALERT_DETAIL_TYPE,
          // Bounded: EventBridge refuses entries over 256 KB, and an alert is read by a person.
          Detail: JSON.stringify({
            kind: alert.kind,
            summary: alert.summary.slice(0, 500),
            detail: alert.detail.slice(0, 4000),
          }),
        },
      ],
    });
    if ((out.FailedEntryCount ?? 0) > 0) {
      throw new Error(`PutEvents refused the alert: ${out.Entries?.find((e) => e.ErrorCode)?.ErrorCode}`);
    }
  },
});
