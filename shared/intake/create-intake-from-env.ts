import type { Logger } from '@aws-lambda-powertools/logger';
import { createJsonClient, dynamoDbSpec, eventBridgeSpec, secretsManagerSpec } from '../aws/json-client.ts';
import { readWebhookIntakeEnv } from '../config/runtime-env.ts';
import { createSourceAllowList } from '../http/source-address.ts';
import { createEventBridgePublisher } from '../events/event-publisher.ts';
import { createDynamoDeliveryRecorder } from './delivery-recorder.ts';
import { createWebhookIntake, type WebhookIntake } from './receive-webhook.ts';
import { createSecretsManagerWebhookSecrets } from './webhook-secrets.ts';

/** Wires the intake from the Lambda's environment; called once per container. */
export const createIntakeFromEnv = (logger: WebhookIntakeLogger): WebhookIntake => {
  const env = readWebhookIntakeEnv();
  const dynamo = createJsonClient(dynamoDbSpec, env.aws);
  return createWebhookIntake({
    secrets: createSecretsManagerWebhookSecrets(
      createJsonClient(secretsManagerSpec, env.aws),
      env.webhookSecretArn,
    ),
    recorder: createDynamoDeliveryRecorder(dynamo, { deliveries: env.deliveriesTable, jobs: env.jobsTable }),
    publisher: createEventBridgePublisher(createJsonClient(eventBridgeSpec, env.aws), env.eventBusName),
    logger,
    // Built at cold start: a malformed block fails the deployment's first invocation, loudly.
    ...(env.allowedSourceCidrs
      ? { allowedSources: createSourceAllowList(env.allowedSourceCidrs, 'WEBHOOK_ALLOWED_SOURCE_CIDRS') }
      : {}),
  });
};

type WebhookIntakeLogger = Pick<Logger, 'info' | 'warn' | 'error' | 'appendKeys'>;
