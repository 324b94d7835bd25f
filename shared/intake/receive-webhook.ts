import type { Logger } from '@aws-lambda-powertools/logger';
import { answeringRefusals, RejectedRequestError } from '../http/errors.ts';
import type { JsonResponse, RawRequest } from '../http/api-gateway.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { DeliveryRecorder } from './delivery-recorder.ts';
import type { WebhookSecretSource } from './webhook-secrets.ts';
import type { SourceAllowList } from '../http/source-address.ts';
import { toWorkflowJobDetail } from '../events/control-plane-events.ts';
import { verifyGithubSignature } from './signature.ts';
import { webhookJson } from './webhook-body.ts';
import { parseWorkflowJob } from './workflow-job.ts';
import { WORKFLOW_JOB_LIMITS } from './workflow-job-limits.ts';

/** GitHub caps webhook payloads at 25 MB and drops larger ones; anything bigger is not from GitHub. */
export const MAX_BODY_BYTES = 25 * 1024 * 1024;

export type DeliveryOutcome = 'accepted' | 'duplicate' | 'ignored';

export interface WebhookIntakeDeps {
  readonly secrets: WebhookSecretSource;
  readonly recorder: DeliveryRecorder;
  readonly publisher: EventPublisher;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error' | 'appendKeys'>;
  readonly now?: () => Date;
  /** `ingress.allowedSourceCidrs`: other senders get 403 before anything else happens. Absent: any sender. */
  readonly allowedSources?: SourceAllowList;
}

export interface WebhookIntake {
  /** Always answers: refusals carry their status, anything unexpected is a generic 500. */
  receive(request: RawRequest): Promise<JsonResponse>;
}

export const createWebhookIntake = (deps: WebhookIntakeDeps): WebhookIntake => {
  const now = deps.now ?? (() => new Date());
  const { logger } = deps;

  const handle = async ({ headers, body, sourceIp }: RawRequest): Promise<JsonResponse> => {
    // First of all: a sender outside the allow-list costs no secret read, no parse, no write.
    if (deps.allowedSources && !deps.allowedSources.allows(sourceIp)) {
      throw new RejectedRequestError(
        403,
        `source address ${sourceIp ?? '(unknown)'} may not deliver webhooks`,
      );
    }
    if (body.length > MAX_BODY_BYTES) {
      throw new RejectedRequestError(
        413,
        `body is ${body.length} bytes; GitHub sends at most ${MAX_BODY_BYTES}`,
      );
    }
    // Nothing is read, stored or sent before the signature is known to be good.
    const signature = headers['x-hub-signature-256'];
    const text = await verifyGithubSignature(await deps.secrets.current(), body, signature);

    const deliveryId = headers['x-github-delivery'];
    const event = headers['x-github-event'];
    if (!deliveryId) throw new RejectedRequestError(400, 'missing X-GitHub-Delivery header');
    if (!event) throw new RejectedRequestError(400, 'missing X-GitHub-Event header');
    // It keys the delivery claim (DynamoDB keys stop at 2,048 bytes) and travels on the bus.
    if (deliveryId.length > WORKFLOW_JOB_LIMITS.deliveryIdLength) {
      throw new RejectedRequestError(
        400,
        `X-GitHub-Delivery is longer than ${WORKFLOW_JOB_LIMITS.deliveryIdLength} characters`,
      );
    }
    logger.appendKeys({ deliveryId, githubEvent: event });

    const json = webhookJson(text, headers['content-type']);
    let payload: unknown;
    try {
      // V8 parses iteratively: a body nested 200,000 deep parses; only what walks it recursively
      // (structuredClone, JSON.stringify) would overflow, and nothing here walks more than a field.
      payload = JSON.parse(json);
    } catch {
      throw new RejectedRequestError(400, 'body is not valid JSON');
    }
    const given = (payload as { action?: unknown } | null)?.action;
    // Echoed in the answer: GitHub's actions are short words, a longer one is not worth sending back.
    const action = typeof given === 'string' && given.length <= 64 ? given : null;
    const answer = (status: number, outcome: DeliveryOutcome, extra: Record<string, unknown> = {}) => ({
      status,
      body: { delivery: deliveryId, event, action, outcome, ...extra },
    });

    if (event === 'ping') return answer(200, 'ignored', { message: 'pong' });
    if (event !== 'workflow_job') return answer(202, 'ignored', { message: `event ${event} is not handled` });
    const job = parseWorkflowJob(payload);
    if (!job) return answer(202, 'ignored', { message: `workflow_job.${action} is not handled` });
    logger.appendKeys({ jobId: job.jobId, runAttempt: job.runAttempt });

    // The verified HMAC-SHA256 is already a hash of the exact body: the same bytes replayed under
    // another delivery id carry the same value, and hashing the body again would double the cost.
    const bodyHash = signature!.slice('sha256='.length);
    const recorded = await deps.recorder.record(job, { deliveryId, bodyHash, receivedAt: now() });
    if (recorded.outcome === 'duplicate') {
      logger.info('duplicate delivery: already handled');
      return answer(200, 'duplicate');
    }
    const { changed, claim } = recorded;
    if (changed) {
      try {
        await deps.publisher.publishWorkflowJob(toWorkflowJobDetail(job, deliveryId));
      } catch (error) {
        // Give the claim back so a redelivery is handled instead of being taken for a duplicate: the
        // ledger takes the same body again and the redelivery publishes it.
        await deps.recorder
          .release(claim)
          .catch((releaseError: unknown) =>
            logger.error(
              'could not release the delivery claim; the reconciler acts on the job from its ledger row',
              { error: releaseError as Error },
            ),
          );
        throw error;
      }
    }
    logger.info(changed ? 'job recorded and published' : 'job already at or past this status', {
      status: job.action,
    });
    return answer(202, 'accepted', { jobId: job.jobId, ledger: changed ? 'updated' : 'unchanged' });
  };

  return {
    /** Always answers: refusals carry their status, anything unexpected is a generic 500. */
    receive: answeringRefusals(handle, logger, 'webhook not handled'),
  };
};
