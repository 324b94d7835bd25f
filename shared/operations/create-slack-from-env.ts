import type { Logger } from '@aws-lambda-powertools/logger';
import { SFNClient } from '@aws-sdk/client-sfn';
import {
  createJsonClient,
  dynamoDbSpec,
  secretsManagerSpec,
  type AwsConnection,
} from '../aws/json-client.ts';
import { parseDeploymentConfig } from '../config/deployment-config.ts';
import { readSlackCommandEnv, readSlackInteractionEnv, type SlackIngressEnv } from '../config/runtime-env.ts';
import { ConfigError } from '../http/errors.ts';
import { createSecretsManagerSigningSecret } from '../slack/signing-secret.ts';
import { createDynamoAuditLog } from './audit-log.ts';
import { createSlackCommands, type SlackCommands } from './slack-command.ts';
import { createStepFunctionsExecutions, createStepFunctionsTaskTokens } from './slack-executions.ts';
import { createFailoverStarter } from './slack-failover-start.ts';
import { createSlackInteractions, type SlackInteractions } from './slack-interaction.ts';
import { createResponseUrlReplies, responseOriginsFor } from './slack-response-url.ts';
import { createSlackAudit } from './slack-audit.ts';
import { createOperationStores } from './slack-stores.ts';

type SlackLogger = Pick<Logger, 'info' | 'warn' | 'error' | 'appendKeys'>;

/**
 * Step Functions for the Slack functions: one client, built here rather than in
 * shared/aws/clients.ts because these functions need nothing else of the SDK (that factory would
 * bundle the EC2, SSM and CodeBuild clients into them) and because Slack gives the whole request
 * 3 s: a call that has not answered in 1 s is given up after one more try, not the SDK's default
 * three with backoff.
 */
const createStepFunctionsClient = (aws: AwsConnection) =>
  new SFNClient({
    region: aws.region,
    credentials: aws.credentials,
    ...(aws.endpoint ? { endpoint: aws.endpoint } : {}),
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 1000 },
  });

/** Shared by both functions; every env key and the `operations` section are checked at cold start. */
const wireCommon = (env: SlackIngressEnv) => {
  const config = parseDeploymentConfig(env.deploymentConfig, 'DEPLOYMENT_CONFIG');
  if (!config.operations)
    throw new ConfigError(
      'DEPLOYMENT_CONFIG: operations is not configured, so no one may run GHES operations from Slack',
    );
  const dynamo = createJsonClient(dynamoDbSpec, env.aws);
  return {
    config,
    operations: config.operations,
    dynamo,
    signingSecret: createSecretsManagerSigningSecret(
      createJsonClient(secretsManagerSpec, env.aws),
      env.signingSecretArn,
    ),
    audit: createDynamoAuditLog(dynamo, env.auditTable),
    stores: createOperationStores(dynamo, env.operationsTable),
  };
};

/**
 * Wires `/ghes` from the Lambda's environment, once per container. A missing
 * SLACK_SIGNING_SECRET_ARN (or any other key) throws here, so the function refuses to start
 * instead of answering requests it cannot verify.
 */
export const createSlackCommandsFromEnv = (
  logger: SlackLogger,
  processEnv?: Parameters<typeof readSlackCommandEnv>[0],
): SlackCommands => {
  const env = readSlackCommandEnv(processEnv);
  const { operations, signingSecret, audit, stores } = wireCommon(env);
  const slackAudit = createSlackAudit(audit, logger);
  return createSlackCommands({
    signingSecret,
    operations,
    audit,
    status: { topology: stores.topology, locks: stores.locks },
    startFailover: createFailoverStarter({
      locks: stores.locks,
      executions: createStepFunctionsExecutions(
        createStepFunctionsClient(env.aws),
        env.failoverStateMachineArn,
      ),
      failover: operations.failover,
      now: () => new Date(),
      onOrphanedLock: async (holder, presence, request) => {
        logger.warn('taking over an orphaned operation lock', { holder: holder.owner, presence });
        await slackAudit.after({
          at: new Date(),
          actor: request.requestedBy,
          channelId: request.channelId,
          action: 'takeover',
          operation: holder.operation,
          executionName: holder.owner,
          result: `lock released: its execution is ${presence === 'missing' ? 'missing' : 'stopped'}`,
        });
      },
    }),
    logger,
  });
};

/** Wires the Approve/Abort buttons from the Lambda's environment, once per container. */
export const createSlackInteractionsFromEnv = (
  logger: SlackLogger,
  processEnv?: Parameters<typeof readSlackInteractionEnv>[0],
): SlackInteractions => {
  const env = readSlackInteractionEnv(processEnv);
  const { config, operations, signingSecret, audit, stores } = wireCommon(env);
  return createSlackInteractions({
    signingSecret,
    operations,
    approvals: stores.approvals,
    tasks: createStepFunctionsTaskTokens(createStepFunctionsClient(env.aws)),
    audit,
    replies: createResponseUrlReplies({ allowedOrigins: responseOriginsFor(config.slack?.apiUrl), logger }),
    logger,
  });
};
