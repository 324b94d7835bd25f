import { parseArgs } from 'node:util';
import { loadSandboxConfig } from './sandbox-config.ts';
import { postDelivery, signedDelivery, workflowJobPayload } from '../support/github-deliveries.ts';

/**
 * `npm run demo -- --jobs 5 --labels self-hosted,linux`: fires N signed `workflow_job.queued`
 * webhooks at a running sandbox (`npm start`), then prints what became of each job.
 */
const { values } = parseArgs({
  options: {
    url: {
      type: 'string',
      default: process.env.SANDBOX_URL ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`,
    },
    jobs: { type: 'string', default: '5' },
    labels: { type: 'string', default: 'self-hosted,linux' },
    repository: { type: 'string', default: 'acme/payments' },
    workflow: { type: 'string', default: 'CI' },
    wait: { type: 'string', default: '5' },
  },
});
const secret = process.env.WEBHOOK_SECRET ?? loadSandboxConfig().sandbox.secrets.webhook;
const count = Number(values.jobs);
const [owner, name] = values.repository!.split('/');
const firstJobId = Date.now() % 1_000_000_000;

for (let i = 0; i < count; i++) {
  const jobId = firstJobId + i;
  const payload = workflowJobPayload(
    'queued',
    {
      id: jobId,
      run_id: jobId,
      run_attempt: 1,
      labels: values.labels!.split(','),
      workflow_name: values.workflow,
    },
    { repository: { id: 1, name, full_name: values.repository, owner: { login: owner } } },
  );
  const response = await postDelivery(values.url!, await signedDelivery(payload, { secret }));
  console.log(`job ${jobId}: HTTP ${response.status} ${JSON.stringify(response.body)}`);
}

await new Promise((resolve) => setTimeout(resolve, Number(values.wait) * 1000));
const state = (await (await fetch(`${values.url}/sandbox/state`)).json()) as {
  jobs: Record<string, unknown>[];
};
for (const job of state.jobs.filter((j) => Number(j.id) >= firstJobId && Number(j.id) < firstJobId + count)) {
  console.log(
    `job ${job.id}: ${job.status}${job.pool ? ` pool=${job.pool}` : ''}${job.resourceId ? ` on ${job.resourceId}` : ''}${job.reason ? ` (${job.reason})` : ''}`,
  );
}
