import { describe, expect, it } from 'vitest';
import type { SQSRecord } from 'aws-lambda';
import { handleDispatchBatch } from '../../../shared/dispatch/sqs-batch.ts';
import type { Dispatcher } from '../../../shared/dispatch/dispatch-job.ts';

const record = (messageId: string, body: unknown): SQSRecord =>
  ({ messageId, body: typeof body === 'string' ? body : JSON.stringify(body) }) as SQSRecord;
const job = (jobId: number) => ({ jobId, runAttempt: 1 });
const silent = { info() {}, warn() {}, error() {} };

describe('dispatch batch', () => {
  it('fails only the record whose dispatch threw, acknowledging the rest', async () => {
    const seen: string[] = [];
    const dispatcher: Dispatcher = {
      async dispatch(detail) {
        seen.push(`dispatch ${detail.jobId}`);
        if (detail.jobId === 2) throw new Error('GitHub 502');
        return { outcome: 'launched', pool: 'p', resourceId: 'r' };
      },
      async release(detail) {
        seen.push(`release ${detail.jobId}`);
      },
      poolsFor: () => [],
      recheck: async () => 'left' as const,
    };
    const failures = await handleDispatchBatch(
      [
        record('m1', { 'detail-type': 'workflow_job.queued', detail: job(1) }),
        record('m2', { 'detail-type': 'workflow_job.queued', detail: job(2) }),
        record('m3', { 'detail-type': 'workflow_job.completed', detail: job(3) }),
      ],
      dispatcher,
      silent,
    );
    expect(failures).toEqual([{ itemIdentifier: 'm2' }]);
    expect(seen.sort()).toEqual(['dispatch 1', 'dispatch 2', 'release 3']);
  });

  it('acknowledges records that can never be handled instead of retrying them forever', async () => {
    const dispatcher: Dispatcher = {
      dispatch: async () => {
        throw new Error('must not be called');
      },
      poolsFor: () => [],
      recheck: async () => 'left' as const,
      release: async () => {
        throw new Error('must not be called');
      },
    };
    const failures = await handleDispatchBatch(
      [record('m1', '{not json'), record('m2', { 'detail-type': 'workflow_job.queued', detail: {} })],
      dispatcher,
      silent,
    );
    expect(failures).toEqual([]);
  });
});
