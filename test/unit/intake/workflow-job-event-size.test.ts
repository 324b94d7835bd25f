import { describe, expect, it } from 'vitest';
import { toWorkflowJobDetail } from '../../../shared/events/control-plane-events.ts';
import { createEventBridgePublisher } from '../../../shared/events/event-publisher.ts';
import { parseWorkflowJob } from '../../../shared/intake/workflow-job.ts';
import { WORKFLOW_JOB_LIMITS as LIMITS } from '../../../shared/intake/workflow-job-limits.ts';
import { RejectedRequestError } from '../../../shared/http/errors.ts';

/** EventBridge refuses a PutEvents entry of 256 KB or more with `EntrySizeTooLarge`. */
const ENTRY_LIMIT = 256 * 1024;

/**
 * The entry size as EventBridge computes it: UTF-8 bytes of Source, DetailType, Detail and each
 * Resource, plus 14 for Time (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html).
 */
const entrySize = (entry: Record<string, unknown>) =>
  (entry.Time === undefined ? 0 : 14) +
  ['Source', 'DetailType', 'Detail'].reduce((sum, k) => sum + Buffer.byteLength(String(entry[k] ?? '')), 0) +
  ((entry.Resources ?? []) as string[]).reduce((sum, r) => sum + Buffer.byteLength(r), 0);

/**
 * U+0001 is the costliest character for JSON: `JSON.stringify` writes it as `\u0001`, six bytes,
 * and seven once the entry itself is JSON-encoded for the wire. A string of `n` of them is the
 * worst a field bounded at `n` characters can do.
 */
const worst = (n: number) => '\u0001'.repeat(n);
const MAX_ID = Number.MAX_SAFE_INTEGER;

/** The largest `workflow_job` delivery the bounds let through (`completed` carries the most fields). */
const worstPayload = (labelLength: number = LIMITS.labelLength) => ({
  action: 'completed',
  workflow_job: {
    id: MAX_ID,
    run_id: MAX_ID,
    run_attempt: MAX_ID,
    name: worst(LIMITS.jobNameLength),
    labels: Array.from({ length: LIMITS.labels }, () => worst(labelLength)),
    workflow_name: worst(LIMITS.workflowNameLength),
    head_branch: worst(LIMITS.headBranchLength),
    runner_name: worst(LIMITS.runnerNameLength),
    conclusion: worst(LIMITS.conclusionLength),
    head_sha: worst(LIMITS.headShaLength),
    created_at: worst(LIMITS.timestampLength),
    started_at: worst(LIMITS.timestampLength),
    completed_at: worst(LIMITS.timestampLength),
  },
  sender: { login: worst(LIMITS.senderLength) },
  repository: { full_name: worst(LIMITS.repositoryLength), owner: { login: worst(LIMITS.ownerLength) } },
  installation: { id: MAX_ID },
});

const publishedEntry = async (payload: unknown) => {
  const job = parseWorkflowJob(payload)!;
  const calls: Record<string, unknown>[] = [];
  const publisher = createEventBridgePublisher(async (_operation, input) => {
    calls.push(input as Record<string, unknown>);
    return { FailedEntryCount: 0, Entries: [{ EventId: 'e' }] } as never;
  }, 'bus');
  await publisher.publishWorkflowJob(toWorkflowJobDetail(job, worst(LIMITS.deliveryIdLength)));
  return (calls[0]!.Entries as Record<string, unknown>[])[0]!;
};

describe('the largest workflow_job event the intake bounds allow', () => {
  it('stays under the 256 KB PutEvents entry limit, by EventBridge’s count and on the wire', async () => {
    // Act
    const entry = await publishedEntry(worstPayload());

    // Assess
    expect(entrySize(entry)).toBeLessThan(ENTRY_LIMIT);
    // The twin's stricter check measures the JSON-encoded entry: it must pass too.
    expect(Buffer.byteLength(JSON.stringify(entry))).toBeLessThan(ENTRY_LIMIT);
    // Half the budget is left, so a field GitHub grows does not get a real job refused.
    expect(entrySize(entry)).toBeLessThan(ENTRY_LIMIT / 2); // 128,440 bytes since the deploy notifier fields (119,145 before)
  });

  it('is the largest: one character more in a label is refused with 400 naming it', () => {
    const error = (() => {
      try {
        parseWorkflowJob(worstPayload(LIMITS.labelLength + 1));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(RejectedRequestError);
    expect((error as RejectedRequestError).message).toContain('workflow_job.labels[0]: expected a string');
  });
});
