import type { SQSBatchItemFailure, SQSRecord } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { WorkflowJobDetail } from '../events/control-plane-events.ts';
import type { DispatchOutcome, Dispatcher } from './dispatch-job.ts';

/** Told what each record came to, for metrics; what it does cannot fail the record. */
export interface DispatchBatchObserver {
  /** A queued event was dispatched; `publishedAt` is the bus event's `time` (the intake's PutEvents). */
  dispatched(outcome: DispatchOutcome, publishedAt: string | undefined): void;
  /** A completed event's capacity was released. */
  completed(job: WorkflowJobDetail): void;
}

/**
 * Handles one SQS batch of control-plane events. Each record succeeds or fails alone: a transient
 * error fails only its own record (terraform-aws-github-runner ACKed whole batches on unknown errors
 * and lost 9.2% of jobs, #5105). A record that can never be handled (not an event) is logged and
 * acknowledged; one that keeps failing reaches the DLQ after maxReceiveCount tries.
 */
export const handleDispatchBatch = async (
  records: readonly SQSRecord[],
  dispatcher: Dispatcher,
  logger: Pick<Logger, 'info' | 'warn' | 'error'>,
  observer?: DispatchBatchObserver,
): Promise<SQSBatchItemFailure[]> => {
  const results = await Promise.all(
    records.map(async (record): Promise<SQSBatchItemFailure | undefined> => {
      let event: { 'detail-type'?: unknown; detail?: WorkflowJobDetail; time?: unknown };
      try {
        event = JSON.parse(record.body);
      } catch {
        logger.error('malformed dispatch record acknowledged', { messageId: record.messageId });
        return undefined;
      }
      const type = event['detail-type'];
      const job = event.detail;
      if (typeof job?.jobId !== 'number' || typeof job.runAttempt !== 'number') {
        logger.error('dispatch record without a job acknowledged', { messageId: record.messageId, type });
        return undefined;
      }
      try {
        if (type === 'workflow_job.queued') {
          const receives = Number(record.attributes?.ApproximateReceiveCount ?? 1);
          const result = await dispatcher.dispatch(job, { redelivered: receives > 1 });
          logger.info('dispatch finished', {
            messageId: record.messageId,
            jobId: job.jobId,
            runAttempt: job.runAttempt,
            ...result,
          });
          observer?.dispatched(result, typeof event.time === 'string' ? event.time : undefined);
        } else if (type === 'workflow_job.completed') {
          await dispatcher.release(job);
          observer?.completed(job);
        } else {
          logger.warn('event type not handled by the dispatcher', { type });
        }
        return undefined;
      } catch (error) {
        logger.error('dispatch failed; the record will be retried', {
          messageId: record.messageId,
          jobId: job.jobId,
          runAttempt: job.runAttempt,
          error: error as Error,
        });
        return { itemIdentifier: record.messageId };
      }
    }),
  );
  return results.filter((failure): failure is SQSBatchItemFailure => failure !== undefined);
};
