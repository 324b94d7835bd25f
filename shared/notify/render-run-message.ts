import type { KnownBlock } from '@slack/web-api';
import { anyJobFailed, runOutcome, type RunJob, type RunOutcome, type RunState } from './run-state.ts';

/** What rendering needs beyond the run's state. */
export interface RenderOptions {
  /** GHES's web address, `https://ghes.example.com` (from `github.apiUrl`). */
  readonly webUrl: string;
  readonly mentionOnFailure?: string;
  /** For "running for …" of jobs still open. */
  readonly now: Date;
}

const OUTCOME: Readonly<Record<RunOutcome, { emoji: string; label: string }>> = {
  queued: { emoji: ':hourglass_flowing_sand:', label: 'queued' },
  in_progress: { emoji: ':large_blue_circle:', label: 'in progress' },
  success: { emoji: ':large_green_circle:', label: 'succeeded' },
  failure: { emoji: ':red_circle:', label: 'failed' },
  cancelled: { emoji: ':white_circle:', label: 'cancelled' },
};

const JOB_EMOJI: Readonly<Record<string, string>> = {
  success: ':white_check_mark:',
  failure: ':x:',
  timed_out: ':x:',
  startup_failure: ':x:',
  cancelled: ':no_entry_sign:',
  skipped: ':fast_forward:',
};

/** Slack reads `&`, `<` and `>` as markup; text from a workflow must not become a link or a mention. */
export const escapeMrkdwn = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** `https://ghes.example.com/api/v3` → `https://ghes.example.com`; github.com's API host → github.com. */
export const webUrlOf = (apiUrl: string): string => {
  const url = new URL(apiUrl);
  if (url.hostname === 'api.github.com') return `${url.protocol}//github.com`;
  return `${url.origin}${url.pathname.replace(/\/api\/v3\/?$/, '').replace(/\/$/, '')}`;
};

/** `45s`, `3m 07s`, `1h 02m`. */
export const formatDuration = (ms: number): string => {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
};

const elapsed = (from: string | null, to: string | null | Date): number | undefined => {
  const start = from ? Date.parse(from) : NaN;
  const end = to instanceof Date ? to.getTime() : to ? Date.parse(to) : NaN;
  return Number.isFinite(start) && Number.isFinite(end) ? end - start : undefined;
};

const jobLine = (job: RunJob, now: Date): string => {
  const name = escapeMrkdwn(job.name || `job ${job.jobId}`);
  if (job.status === 'completed') {
    const took = elapsed(job.startedAt, job.completedAt);
    const conclusion = job.conclusion ?? 'completed';
    return `${JOB_EMOJI[conclusion] ?? ':grey_question:'} ${name} — ${conclusion}${took === undefined ? '' : ` in ${formatDuration(took)}`}`;
  }
  if (job.status === 'in_progress') {
    const running = elapsed(job.startedAt, now);
    return `:arrows_counterclockwise: ${name} — running${running === undefined ? '' : ` for ${formatDuration(running)}`}`;
  }
  return `:hourglass_flowing_sand: ${name} — ${job.status}`;
};

/** Slack refuses a section over 3,000 characters and a message over 50 blocks. */
const SECTION_MAX = 2900;
const JOB_SECTIONS_MAX = 40;

const jobSections = (lines: readonly string[]): KnownBlock[] => {
  const sections: string[] = [];
  let current = '';
  for (const [i, line] of lines.entries()) {
    if (current && current.length + 1 + line.length > SECTION_MAX) {
      if (sections.length + 1 >= JOB_SECTIONS_MAX) {
        sections.push(current, `…and ${lines.length - i} more jobs`);
        current = '';
        break;
      }
      sections.push(current);
      current = '';
    }
    current = current ? `${current}\n${line}` : line;
  }
  if (current) sections.push(current);
  return sections.map((text) => ({ type: 'section', text: { type: 'mrkdwn', text } }));
};

const byQueueOrder = (a: RunJob, b: RunJob) =>
  (a.createdAt ?? '').localeCompare(b.createdAt ?? '') || a.jobId - b.jobId;

/**
 * The run's message, rendered from its stored state only, so whichever worker renders last shows the
 * same thing: workflow, repository, branch, commit, who triggered it, each job's status and duration,
 * the run's outcome and a link to it; the configured group is mentioned once a job has failed.
 */
export const renderRunMessage = (
  run: RunState,
  options: RenderOptions,
): { text: string; blocks: KnownBlock[] } => {
  const outcome = OUTCOME[runOutcome(run.jobs)];
  const repoUrl = `${options.webUrl}/${run.repository}`;
  const runUrl = `${repoUrl}/actions/runs/${run.runId}${run.runAttempt > 1 ? `/attempts/${run.runAttempt}` : ''}`;
  const workflow = escapeMrkdwn(run.workflow);
  const repository = escapeMrkdwn(run.repository);
  const branch = run.branch === null ? 'unknown branch' : escapeMrkdwn(run.branch);
  const commit = run.headSha
    ? `<${repoUrl}/commit/${encodeURIComponent(run.headSha)}|${escapeMrkdwn(run.headSha.slice(0, 7))}>`
    : 'unknown commit';
  const mention = options.mentionOnFailure && anyJobFailed(run.jobs) ? `${options.mentionOnFailure} ` : '';
  const attempt = run.runAttempt > 1 ? ` (attempt ${run.runAttempt})` : '';
  const headline = `${outcome.emoji} *<${runUrl}|${workflow}>*${attempt} ${outcome.label} — ${repository} @ ${branch}`;
  // The notification's text (and the fallback where blocks do not show).
  const text = `${mention}${escapeMrkdwn(`${run.workflow}${attempt} ${outcome.label}: ${run.repository}@${run.branch ?? '?'}`)}`;
  const jobs = [...run.jobs].sort(byQueueOrder).map((job) => jobLine(job, options.now));
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `${mention}${headline}` } },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `commit ${commit} · triggered by ${run.sender ? escapeMrkdwn(run.sender) : 'unknown'} · <${runUrl}|run ${run.runId}>`,
        },
      ],
    },
    ...jobSections(jobs),
  ];
  return { text, blocks };
};
