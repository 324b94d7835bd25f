import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TwinAwsError, type TwinAwsService } from './aws-endpoint.ts';
import { matchesPattern } from './event-pattern.ts';
import type { TwinQueue } from './sqs.ts';

/**
 * The control-plane bus: PutEvents, the rules from `infra/event-rules.json` (the same file
 * serverless.yml deploys), SQS and SNS targets, and an archive of every accepted event.
 */
export interface EventRule {
  readonly description: string;
  readonly eventPattern: Record<string, unknown>;
  readonly targetQueue?: string;
  readonly targetTopic?: string;
}

/** What an SNS topic target receives: the whole event, as EventBridge sends it. */
export type TwinTopic = (event: Record<string, unknown>) => void;

export const eventRules = (): Record<string, EventRule> =>
  JSON.parse(readFileSync(new URL('../../infra/event-rules.json', import.meta.url), 'utf8'));

export interface ArchivedEvent {
  readonly id: string;
  readonly source: string;
  readonly 'detail-type': string;
  readonly time: string;
  readonly detail: unknown;
  readonly matchedRules: readonly string[];
}

export interface EventBridgeTwin extends TwinAwsService {
  readonly archive: readonly ArchivedEvent[];
}

export const createEventBridgeTwin = (options: {
  busName: string;
  region: string;
  accountId: string;
  queues: ReadonlyMap<string, TwinQueue>;
  topics?: ReadonlyMap<string, TwinTopic>;
}): EventBridgeTwin => {
  const rules = eventRules();
  const topics = options.topics ?? new Map<string, TwinTopic>();
  for (const [name, rule] of Object.entries(rules)) {
    if (rule.targetQueue !== undefined && !options.queues.has(rule.targetQueue))
      throw new Error(`rule ${name}: no queue ${rule.targetQueue} in the twin`);
    if (rule.targetTopic !== undefined && !topics.has(rule.targetTopic))
      throw new Error(`rule ${name}: no topic ${rule.targetTopic} in the twin`);
  }
  const archive: ArchivedEvent[] = [];

  return {
    id: 'eventbridge',
    signingName: 'events',
    protocol: 'json',
    operations: { PutEvents: { InternalException: 500, ResourceNotFoundException: 400 } },
    archive,
    async handle({ input }) {
      const entries = (input.Entries ?? []) as Record<string, string>[];
      if (entries.length === 0 || entries.length > 10) {
        throw new TwinAwsError('ValidationException', 'Entries must hold 1 to 10 events');
      }
      const results = entries.map((entry) => {
        const busName = entry.EventBusName ?? 'default';
        if (busName !== options.busName && !busName.endsWith(`:event-bus/${options.busName}`)) {
          return {
            ErrorCode: 'ResourceNotFoundException',
            ErrorMessage: `Event bus ${busName} does not exist.`,
          };
        }
        let detail: unknown;
        try {
          detail = JSON.parse(entry.Detail ?? '');
        } catch {
          return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
        }
        if (Buffer.byteLength(JSON.stringify(entry)) > 256 * 1024) {
          return { ErrorCode: 'EntrySizeTooLarge', ErrorMessage: 'Entry size exceeds 256 KB.' };
        }
        const event = {
          version: '0',
          id: randomUUID(),
          'detail-type': entry.DetailType ?? '',
          source: entry.Source ?? '',
          account: options.accountId,
          time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          region: options.region,
          resources: [],
          detail,
        };
        const matched = Object.entries(rules).filter(([, rule]) =>
          matchesPattern(event, rule.eventPattern as never),
        );
        for (const [, rule] of matched) {
          if (rule.targetQueue !== undefined)
            options.queues.get(rule.targetQueue)!.send(JSON.stringify(event));
          if (rule.targetTopic !== undefined) topics.get(rule.targetTopic)!(event);
        }
        archive.push({ ...event, matchedRules: matched.map(([name]) => name) });
        return { EventId: event.id };
      });
      return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
    },
  };
};
