import { startSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { loadSandboxConfig, type SandboxConfig } from '../sandbox/sandbox-config.ts';
import { postDelivery, signedDelivery, workflowJobPayload } from './github-deliveries.ts';

/** Drives a sandbox only through its HTTP routes, as outside scripts do. */
export const startTestSandbox = async (adjust: (config: SandboxConfig) => void = () => {}) => {
  const config = loadSandboxConfig(undefined, {});
  // 0.01: an instance boots in 0.2 s, a job runs 0.6 s, an SQS retry comes after 1.8 s.
  config.sandbox.timeScale = 0.01;
  // Off unless a test is about it: a reconciler run every 0.6 s would retry the jobs other tests
  // leave queued on purpose, and move the AWS call counts they compare.
  config.sandbox.schedules = false;
  adjust(config);
  return startSandbox({ config });
};

export const state = async (sandbox: Sandbox) =>
  (await (await fetch(`${sandbox.url}/sandbox/state`)).json()) as Record<string, any[]> & {
    timeScale: number;
  };

export const jobOf = async (sandbox: Sandbox, jobId: number) =>
  (await state(sandbox)).jobs!.find((job: { id: number }) => job.id === jobId);

let nextJobId = 70_000;
export const newJobId = () => ++nextJobId + Math.floor(Math.random() * 1000) * 1000;

export interface QueuedJob {
  readonly jobId: number;
  readonly labels: readonly string[];
  readonly workflowName?: string;
  readonly repository?: string;
  readonly branch?: string;
  readonly action?: 'queued' | 'waiting' | 'in_progress' | 'completed';
  /** Who took the job (in_progress / completed). */
  readonly runnerName?: string;
}

let stamp = 0;
export const jobPayload = (job: QueuedJob) => {
  const [owner, name] = (job.repository ?? 'acme/app').split('/');
  return workflowJobPayload(
    job.action ?? 'queued',
    {
      id: job.jobId,
      run_id: job.jobId * 10,
      run_attempt: 1,
      labels: job.labels,
      workflow_name: job.workflowName ?? 'CI',
      head_branch: job.branch ?? 'main',
      runner_name: job.runnerName ?? null,
      // GitHub stamps each state change, so two queued deliveries of one job are not the same bytes.
      started_at: new Date()
        .toISOString()
        .replace(/\.\d{3}Z$/, `.${String(++stamp % 1000).padStart(3, '0')}Z`),
      status: job.action ?? 'queued',
    },
    { repository: { id: 1, name, full_name: `${owner}/${name}`, owner: { login: owner } } },
  );
};

export const sendJob = async (sandbox: Sandbox, job: QueuedJob) => {
  const delivery = await signedDelivery(jobPayload(job), { secret: sandbox.config.sandbox.secrets.webhook });
  return postDelivery(sandbox.url, delivery);
};

export const waitFor = async <T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

export const armFault = async (sandbox: Sandbox, fault: Record<string, unknown>) => {
  const response = await fetch(`${sandbox.url}/sandbox/faults`, {
    method: 'POST',
    body: JSON.stringify(fault),
  });
  if (response.status !== 201) throw new Error(`fault refused: ${await response.text()}`);
};

/** Clears every armed fault (tests arm their own and must not leak them into the next). */
export const clearFaults = async (sandbox: Sandbox) => {
  await fetch(`${sandbox.url}/sandbox/faults`, { method: 'DELETE' });
};

/** The job's row once it is completed. */
export const completedJob = (sandbox: Sandbox, jobId: number, timeoutMs = 20_000) =>
  waitFor(
    `job ${jobId} completed`,
    async () => {
      const job = await jobOf(sandbox, jobId);
      return job?.status === 'completed' ? job : undefined;
    },
    timeoutMs,
  );

/** The job's row once a dispatcher launched something for it or said why not. */
export const settledJob = (sandbox: Sandbox, jobId: number) =>
  waitFor(`job ${jobId} dispatched or refused`, async () => {
    const job = await jobOf(sandbox, jobId);
    return job && (job.resourceId || job.reason) ? job : undefined;
  });

/** The builds started for the job. */
export const buildsOf = async (sandbox: Sandbox, jobId: number) =>
  (await state(sandbox)).builds!.filter((b) => b.jobId === jobId);
