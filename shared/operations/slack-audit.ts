import type { Logger } from '@aws-lambda-powertools/logger';
import type { AuditEntry, AuditLog } from './audit-log.ts';

/**
 * The Slack functions' rule for audit rows that cannot be written (an unwritten row is never
 * ignored silently):
 * - before anything changes (a lock taken, an execution started, a decision recorded), the request's
 *   row must be written: if it cannot be, nothing is done and the asker is told so;
 * - a row about something that already happened or never will (a refusal, a result, a read-only
 *   answer) cannot stop it: the answer goes out, says the row is missing, and the failure is logged
 *   at ERROR with what the row would have said, so the log holds the record the table lacks.
 */
export const AUDIT_MISSING_NOTE =
  '\n_This could not be written to the audit log; the operators are alerted._';

export const NOTHING_DONE_WITHOUT_AUDIT =
  'Nothing was done: the audit log could not be written, and no operation runs unrecorded. Try again; if it keeps failing, tell the platform team (AuditTable).';

type AuditLogger = Pick<Logger, 'error'>;

export const createSlackAudit = (audit: AuditLog, logger: AuditLogger) => {
  const failed = (entry: AuditEntry, error: unknown) =>
    logger.error('audit row not written', {
      error: error as Error,
      audit: { ...entry, at: entry.at.toISOString() },
    });
  return {
    /** Must be written before acting; throws (after logging) when it is not. */
    async before(entry: AuditEntry): Promise<void> {
      try {
        await audit.record(entry);
      } catch (error) {
        failed(entry, error);
        throw error;
      }
    },
    /** Written after the fact; false (logged) when it could not be. */
    async after(entry: AuditEntry): Promise<boolean> {
      try {
        await audit.record(entry);
        return true;
      } catch (error) {
        failed(entry, error);
        return false;
      }
    },
  };
};

export type SlackAudit = ReturnType<typeof createSlackAudit>;
