import { createHash, randomBytes } from 'node:crypto';
import { WORKFLOW_JOB_LIMITS } from '../../shared/intake/workflow-job-limits.ts';
import type { GithubTwin } from './github-api.ts';

/**
 * `POST /sandbox/github/jobs`: the twin's GitHub queues N jobs of one workflow run and sends their
 * signed `workflow_job.queued` webhooks itself, as GHES does when a workflow starts. Each job is
 * GitHub's truth before its webhook leaves (the dispatcher asks for it while the intake is still
 * answering), so a job whose delivery fails is still queued on GitHub, like a real lost webhook.
 */
export interface QueuedJobsRequest {
  readonly repository: string;
  readonly labels: readonly string[];
  readonly workflowName: string;
  readonly count: number;
  readonly headBranch: string;
  /** Join an existing run instead of starting a new one. */
  readonly runId?: number;
}

export class QueuedJobsRequestError extends Error {
  override name = 'QueuedJobsRequestError';
}

const MAX_JOBS = 1000;
const FIELDS = ['repository', 'labels', 'workflowName', 'count', 'headBranch', 'runId'];
/** GitHub's owner and repository name characters. */
const REPOSITORY = /^[A-Za-z0-9](?:[A-Za-z0-9-]*)\/[A-Za-z0-9._-]+$/;

/** The request, checked field by field; the first problem is thrown, naming its field. */
export const parseQueuedJobsRequest = (body: unknown): QueuedJobsRequest => {
  const fail = (message: string): never => {
    throw new QueuedJobsRequestError(message);
  };
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    fail('body must be a JSON object {"repository","labels","workflowName","count"}');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((key) => !FIELDS.includes(key));
  if (unknown.length) fail(`unknown field(s): ${unknown.join(', ')}`);
  const { repository, labels, workflowName, count, headBranch = 'main', runId } = b;
  if (
    typeof repository !== 'string' ||
    !REPOSITORY.test(repository) ||
    repository.length > WORKFLOW_JOB_LIMITS.repositoryLength
  )
    fail('repository: expected "owner/name"');
  if (
    !Array.isArray(labels) ||
    labels.length < 1 ||
    labels.length > WORKFLOW_JOB_LIMITS.labels ||
    !labels.every((l) => typeof l === 'string' && l.length > 0 && l.length <= WORKFLOW_JOB_LIMITS.labelLength)
  )
    fail(
      `labels: expected 1 to ${WORKFLOW_JOB_LIMITS.labels} non-empty strings of at most ${WORKFLOW_JOB_LIMITS.labelLength} characters`,
    );
  if (
    typeof workflowName !== 'string' ||
    !workflowName ||
    workflowName.length > WORKFLOW_JOB_LIMITS.workflowNameLength
  )
    fail(
      `workflowName: expected a non-empty string of at most ${WORKFLOW_JOB_LIMITS.workflowNameLength} characters`,
    );
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_JOBS)
    fail(`count: expected a whole number from 1 to ${MAX_JOBS}`);
  if (
    typeof headBranch !== 'string' ||
    !headBranch ||
    headBranch.length > WORKFLOW_JOB_LIMITS.headBranchLength
  )
    fail('headBranch: expected a non-empty branch name');
  if (runId !== undefined && (typeof runId !== 'number' || !Number.isSafeInteger(runId) || runId < 1))
    fail('runId: expected a positive whole number');
  return {
    repository: repository as string,
    labels: [...(labels as string[])],
    workflowName: workflowName as string,
    count: count as number,
    headBranch: headBranch as string,
    ...(runId === undefined ? {} : { runId: runId as number }),
  };
};

/** GitHub's ids grow; these start far above the ids tests make up for hand-sent webhooks. */
let nextJobId = 40_000_000;
let nextRunId = 9_000_000;
/** At most this many deliveries in flight at once (GHES's hook workers are a small pool). */
const DELIVERY_CONCURRENCY = 8;

const stableId = (text: string) =>
  1 + (createHash('sha256').update(text.toLowerCase()).digest().readUInt32BE(0) % 900_000_000);
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export const createQueuedJobs = (github: GithubTwin, request: QueuedJobsRequest, nowMs = Date.now()) => {
  const [owner = '', name = ''] = request.repository.split('/');
  const known = new Set(github.jobs().map((j) => j.id));
  const takeJobId = () => {
    while (known.has(++nextJobId));
    return nextJobId;
  };
  const runId = request.runId ?? ++nextRunId;
  const installationId = github.installationIdOf(owner);
  const headSha = randomBytes(20).toString('hex');
  const repository = {
    id: stableId(request.repository),
    node_id: `R_twin${stableId(request.repository)}`,
    name,
    full_name: request.repository,
    private: true,
    owner: { login: owner, id: stableId(owner), type: 'Organization' },
  };
  const payloads = Array.from({ length: request.count }, (_, i) => {
    const id = takeJobId();
    return {
      action: 'queued',
      workflow_job: {
        id,
        run_id: runId,
        run_attempt: 1,
        node_id: `CR_twin${id}`,
        head_sha: headSha,
        head_branch: request.headBranch,
        workflow_name: request.workflowName,
        name: request.count === 1 ? 'build' : `build (${i + 1})`,
        status: 'queued',
        conclusion: null,
        created_at: isoSeconds(nowMs),
        started_at: isoSeconds(nowMs),
        completed_at: null,
        labels: [...request.labels],
        runner_id: null,
        runner_name: null,
        runner_group_id: null,
        runner_group_name: null,
        steps: [],
      },
      repository,
      organization: { login: owner, id: repository.owner.id },
      installation: { id: installationId },
      sender: { login: 'twin-user', id: 1, type: 'User' },
    };
  });
  // GitHub's truth first, for every job: then the webhooks go out.
  for (const payload of payloads) github.observeWebhook('workflow_job', payload);
  const pending = payloads.map(
    (payload) => () =>
      github.hookLog.deliver({
        event: 'workflow_job',
        action: 'queued',
        owner: owner.toLowerCase(),
        installationId,
        repositoryId: repository.id,
        body: JSON.stringify(payload),
      }),
  );
  const worker = async () => {
    for (let next = pending.shift(); next; next = pending.shift()) await next();
  };
  const delivered = Promise.all(Array.from({ length: DELIVERY_CONCURRENCY }, worker)).then(() => undefined);
  return { runId, jobIds: payloads.map((p) => p.workflow_job.id), delivered };
};
