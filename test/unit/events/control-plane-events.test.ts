import { describe, expect, it } from 'vitest';
import { toWorkflowJobDetail } from '../../../shared/events/control-plane-events.ts';
import { workflowJobEvent } from '../../support/workflow-job-event.ts';

const times = { createdAt: '2026-11-29T10:00:00Z', startedAt: '2026-11-29T10:01:00Z' };

describe('the workflow_job bus event', () => {
  it('carries GitHub’s created_at and started_at on a completed job, for its queue time', () => {
    const detail = toWorkflowJobDetail(workflowJobEvent({ action: 'completed', ...times }), 'd');
    expect(detail).toMatchObject(times);
  });

  it('gives a queued job only when it queued: a start or end its payload names is stale there', () => {
    const detail = toWorkflowJobDetail(workflowJobEvent({ action: 'queued', ...times }), 'd');
    expect(detail).toMatchObject({ createdAt: times.createdAt, startedAt: null, completedAt: null });
  });

  it('drops a timestamp that is not an instant or is longer than one, so it cannot swell the event', () => {
    const detail = toWorkflowJobDetail(
      workflowJobEvent({
        action: 'completed',
        createdAt: `2026-11-29T10:00:00Z${' '.repeat(100)}`,
        startedAt: 'soon',
      }),
      'd',
    );
    expect(detail).toMatchObject({ createdAt: null, startedAt: null });
  });
});
