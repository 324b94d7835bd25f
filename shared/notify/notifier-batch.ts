import type { SQSBatchItemFailure, SQSRecord } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { WorkflowJobDetail } from '../events/control-plane-events.ts';
import { SlackApiError } from '../slack/slack-errors.ts';
import type { DeployNotifier } from './notify-deploys.ts';

/**
 * One SQS batch of `workflow_job.*` events for the deploy notifier. Each record succeeds or fails
 * alone: a failed Slack call or DynamoDB write returns only its record to the queue (retried, then
 * the DLQ), so no update is lost; a record that is not a job event is logged and acknowledged.
 * Records of one run are handled one after another (the render lock would make all but one give up
 * anyway); different runs in parallel.
 */
export const handleNotifierBatch = async (
  records: readonly SQSRecord[],
  notifier: DeployNotifier,
  logger: Pick<Logger, 'info' | 'warn' | 'error'>,
): Promise<SQSBatchItemFailure[]> => {
  const byRun = new Map<string, { record: SQSRecord; job: WorkflowJobDetail }[]>();
  for (const record of records) {
    let job: WorkflowJobDetail | undefined;
    try {
      job = (JSON.parse(record.body) as { detail?: WorkflowJobDetail }).detail;
    } catch {
      job = undefined;
    }
    if (
      typeof job?.jobId !== 'number' ||
      typeof job.runId !== 'number' ||
      typeof job.repository !== 'string'
    ) {
      logger.error('notifier record without a job acknowledged', { messageId: record.messageId });
      continue;
    }
    const run = `${job.repository}#${job.runId}#${job.runAttempt}`;
    byRun.set(run, [...(byRun.get(run) ?? []), { record, job }]);
  }
  const failures: SQSBatchItemFailure[] = [];
  await Promise.all(
    [...byRun.values()].map(async (items) => {
      for (const { record, job } of items) {
        try {
          const { rules } = await notifier.handle(job);
          if (rules.length > 0)
            logger.info('deploy notification updated', { jobId: job.jobId, runId: job.runId, rules });
        } catch (error) {
          logger.error('deploy notification failed; the record will be retried', {
            messageId: record.messageId,
            jobId: job.jobId,
            runId: job.runId,
            // The classified kind and Slack's code; never the token or the message text.
            ...(error instanceof SlackApiError
              ? { slackError: error.code, kind: error.kind, retryAfterSeconds: error.retryAfterSeconds }
              : { error: (error as Error).message }),
          });
          failures.push({ itemIdentifier: record.messageId });
        }
      }
    }),
  );
  return failures;
};
