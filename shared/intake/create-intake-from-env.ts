import type { Logger } from '@aws-lambda-powertools/logger';
import { createJsonClient, dynamoDbSpec, eventBridgeSpec, secretsManagerSpec } from '../aws/json-client.ts';
import { readWebhookIntakeEnv } from '../config/runtime-env.ts';
import { createEventBridgePublisher } from '../events/event-publisher.ts';
import { createDynamoJobLedger } from '../ledger/job-ledger.ts';
import { createDynamoDeliveryClaims } from './delivery-claims.ts';
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
    claims: createDynamoDeliveryClaims(dynamo, env.deliveriesTable),
    ledger: createDynamoJobLedger(dynamo, env.jobsTable),
    publisher: createEventBridgePublisher(createJsonClient(eventBridgeSpec, env.aws), env.eventBusName),
    logger,
  });
};

type WebhookIntakeLogger = Pick<Logger, 'info' | 'warn' | 'error' | 'appendKeys'>;
