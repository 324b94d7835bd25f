import { describe, expect, it } from 'vitest';
import { renderRunMessage, webUrlOf } from '../../../shared/notify/render-run-message.ts';
import { runOutcome, type RunJob, type RunState } from '../../../shared/notify/run-state.ts';

const job = (extra: Partial<RunJob> & Pick<RunJob, 'jobId'>): RunJob => ({
  name: `job ${extra.jobId}`,
  status: 'queued',
  conclusion: null,
  createdAt: null,
  startedAt: null,
  completedAt: null,
  ...extra,
});
const run = (jobs: RunJob[], extra: Partial<RunState> = {}): RunState => ({
  rule: 'deploys',
  workflow: 'app-prd-deploy',
  repository: 'acme/app',
  runId: 77,
  runAttempt: 1,
  branch: 'main',
  headSha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
  sender: 'octo',
  jobs,
  version: 1,
  renderedVersion: 0,
  message: null,
  ...extra,
});
const options = { webUrl: 'https://ghes.example.com', now: new Date('2026-11-30T10:05:00Z') };
const all = (m: ReturnType<typeof renderRunMessage>) => JSON.stringify(m.blocks);

describe('the run message', () => {
  it('shows workflow, repository, branch, linked short commit, who triggered it and the run link', () => {
    const message = renderRunMessage(run([job({ jobId: 1 })]), options);
    expect(message.text).toBe('app-prd-deploy queued: acme/app@main');
    const blocks = all(message);
    expect(blocks).toContain('<https://ghes.example.com/acme/app/actions/runs/77|app-prd-deploy>');
    expect(blocks).toContain(
      '<https://ghes.example.com/acme/app/commit/a1b2c3d4e5f60718293a4b5c6d7e8f9012345678|a1b2c3d>',
    );
    expect(blocks).toContain('triggered by octo');
  });

  it('gives each job its status and duration, in queue order', () => {
    const message = renderRunMessage(
      run([
        job({
          jobId: 2,
          name: 'deploy',
          status: 'in_progress',
          createdAt: '2026-11-30T10:00:01Z',
          startedAt: '2026-11-30T10:04:30Z',
        }),
        job({
          jobId: 1,
          name: 'build',
          status: 'completed',
          conclusion: 'success',
          createdAt: '2026-11-30T10:00:00Z',
          startedAt: '2026-11-30T10:00:10Z',
          completedAt: '2026-11-30T10:03:17Z',
        }),
      ]),
      options,
    );
    expect(message.blocks[2]).toEqual({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: ':white_check_mark: build — success in 3m 07s\n:arrows_counterclockwise: deploy — running for 30s',
      },
    });
    expect(message.text).toContain('in progress');
  });

  it('mentions the group only once a job failed, and says the run failed when all are done', () => {
    const failed = job({ jobId: 1, status: 'completed', conclusion: 'failure' });
    const message = renderRunMessage(run([failed]), { ...options, mentionOnFailure: '<!subteam^S1>' });
    expect(message.text).toBe('<!subteam^S1> app-prd-deploy failed: acme/app@main');
    const ok = job({ jobId: 1, status: 'completed', conclusion: 'success' });
    expect(renderRunMessage(run([ok]), { ...options, mentionOnFailure: '<!subteam^S1>' }).text).not.toContain(
      'S1',
    );
  });

  it('escapes names so a workflow cannot post a mention or a link', () => {
    const message = renderRunMessage(
      run([job({ jobId: 1, name: '<!channel>' })], { workflow: 'x <!here> & y' }),
      options,
    );
    expect(message.text).toContain('x &lt;!here&gt; &amp; y');
    expect(all(message)).not.toContain('<!channel>');
  });

  it('derives the run outcome from the jobs: open → in progress, then failure > cancelled > success', () => {
    const done = (conclusion: string) => job({ jobId: 1, status: 'completed', conclusion });
    expect(runOutcome([done('success'), job({ jobId: 2, status: 'queued' })])).toBe('in_progress');
    expect(runOutcome([done('success'), done('cancelled'), done('timed_out')])).toBe('failure');
    expect(runOutcome([done('success'), done('cancelled')])).toBe('cancelled');
    expect(runOutcome([done('success'), done('skipped')])).toBe('success');
  });

  it('links to the GHES web host, not its API', () => {
    expect(webUrlOf('https://ghes.example.com/api/v3')).toBe('https://ghes.example.com');
    expect(webUrlOf('https://api.github.com')).toBe('https://github.com');
  });
});
