import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { sign } from '@octokit/webhooks-methods';

/**
 * Real `workflow_job` deliveries (from @octokit/webhooks-examples) with real signatures, for tests,
 * the demo and the benchmarks.
 */
const require = createRequire(import.meta.url);
type Example = { action: string; workflow_job: Record<string, unknown> } & Record<string, unknown>;
const examples: {
  name: string;
  examples: Example[];
}[] = require('@octokit/webhooks-examples/api.github.com/index.json');

const workflowJobExamples = examples.find((e) => e.name === 'workflow_job')!.examples;

/** The first real example for an action, deep-copied, with job fields overridden. */
export const workflowJobPayload = (
  action: 'queued' | 'waiting' | 'in_progress' | 'completed',
  job: Record<string, unknown> = {},
  top: Record<string, unknown> = {},
): Example => {
  // Prefer an App delivery (with `installation`); the completed examples are all hook-style.
  const example =
    workflowJobExamples.find((e) => e.action === action && e.installation) ??
    workflowJobExamples.find((e) => e.action === action);
  if (!example) throw new Error(`no workflow_job.${action} example`);
  const copy = structuredClone(example);
  return { ...copy, ...top, workflow_job: { ...copy.workflow_job, ...job } };
};

export interface SignedDelivery {
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * A delivery signed over its exact body bytes, as GitHub signs it. `form: true` sends it as a hook
 * whose content type is `application/x-www-form-urlencoded`: the body is then `payload=` and the
 * JSON, form-encoded (spaces as `+`), and the signature covers those encoded bytes.
 */
export const signedDelivery = async (
  payload: unknown,
  options: { secret: string; event?: string; deliveryId?: string; body?: string; form?: boolean },
): Promise<SignedDelivery> => {
  const json = options.body ?? JSON.stringify(payload);
  const body = options.form ? new URLSearchParams({ payload: json }).toString() : json;
  return {
    body,
    headers: {
      'content-type': options.form ? 'application/x-www-form-urlencoded' : 'application/json',
      'x-github-event': options.event ?? 'workflow_job',
      'x-github-delivery': options.deliveryId ?? randomUUID(),
      'x-hub-signature-256': await sign(options.secret, body),
      'user-agent': 'GitHub-Hookshot/sandbox',
    },
  };
};

export const postDelivery = async (baseUrl: string, delivery: SignedDelivery) => {
  const response = await fetch(`${baseUrl}/github/webhook`, {
    method: 'POST',
    headers: delivery.headers,
    body: delivery.body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};
