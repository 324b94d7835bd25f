import type { Logger } from '@aws-lambda-powertools/logger';
import { createEventBridgeAlertSink } from '../alerts/alert-sink.ts';
import { createOperationsAwsClients } from '../aws/operations-clients.ts';
import { createJsonClient, dynamoDbSpec, eventBridgeSpec, secretsManagerSpec } from '../aws/json-client.ts';
import { parseDeploymentConfig } from '../config/deployment-config.ts';
import {
  readFailoverTaskEnv,
  type FailoverTaskEnv,
  type FailoverTaskFunction,
} from '../config/runtime-env.ts';
import { createApplianceActions } from '../ghes/appliance-actions.ts';
import { createApplianceCommands } from '../ghes/appliance-commands.ts';
import { createApplianceReader } from '../ghes/appliance-reader.ts';
import { parseDocumentNames } from '../ghes/commands.ts';
import { createManageApi } from '../ghes/manage-api.ts';
import { probeStatus } from '../ghes/status-probe.ts';
import { ConfigError } from '../http/errors.ts';
import { createSecretsManagerBotToken } from '../slack/bot-token.ts';
import { createSlackClient } from '../slack/slack-client.ts';
import { createDynamoApprovals } from './approvals.ts';
import { createDynamoAuditLog } from './audit-log.ts';
import { createApplianceTasks } from './failover-appliance-tasks.ts';
import { createControlTasks } from './failover-control-tasks.ts';
import { createDnsTasks } from './failover-dns-tasks.ts';
import { createFailoverProgress } from './failover-progress.ts';
import { createPromoteTasks } from './failover-promote-tasks.ts';
import { routeFailoverTasks } from './failover-task-router.ts';
import { createGhesApplianceOperations } from './ghes-appliance-operations.ts';
import { createDynamoOperationLocks } from './operation-lock.ts';
import { createDynamoProgressStore } from './progress-store.ts';
import { createRoute53Records } from './route53-records.ts';
import { createDynamoTopology } from './topology.ts';

/**
 * Wires one of the failover's task functions from its environment, once per container, and returns
 * its task router (the handler's whole job is to call it).
 */
export const createFailoverTasksFromEnv = (
  fn: FailoverTaskFunction,
  logger: Pick<Logger, 'warn' | 'error'>,
): ((event: unknown) => Promise<unknown>) => {
  const env = readFailoverTaskEnv(fn);
  const config = parseDeploymentConfig(env.deploymentConfig, 'DEPLOYMENT_CONFIG');
  const { operations, slack } = config;
  if (!operations || !slack)
    throw new ConfigError('DEPLOYMENT_CONFIG: the failover needs the operations and slack sections');
  const dynamo = createJsonClient(dynamoDbSpec, env.aws);
  const secrets = createJsonClient(secretsManagerSpec, env.aws);
  const slackClient = createSlackClient({
    botToken: createSecretsManagerBotToken(secrets, slack.botTokenSecretArn),
    ...(slack.apiUrl ? { apiUrl: slack.apiUrl } : {}),
  });
  const progress = createFailoverProgress({
    store: createDynamoProgressStore(dynamo, env.operationsTable),
    slack: slackClient,
    audit: createDynamoAuditLog(dynamo, env.auditTable),
    logger,
  });
  const topology = createDynamoTopology(dynamo, env.operationsTable, operations.appliances);
  const name = `ghes-failover-${fn}`;

  switch (fn) {
    case 'control':
      return routeFailoverTasks(
        name,
        createControlTasks({
          operations,
          locks: createDynamoOperationLocks(dynamo, env.operationsTable),
          approvals: createDynamoApprovals(dynamo, env.operationsTable),
          topology,
          progress,
          slack: slackClient,
          alerts: createEventBridgeAlertSink(
            createJsonClient(eventBridgeSpec, env.aws),
            env.eventBusName!,
            'ghes-control-plane.failover',
          ),
        }),
      );
    case 'appliance':
      return routeFailoverTasks(
        name,
        createApplianceTasks({
          operations,
          appliances: appliancesFor(env, operations.failover.promoteTimeoutMinutes, secrets),
          topology,
          dns: createRoute53Records(createOperationsAwsClients(env.aws).route53),
          progress,
        }),
      );
    case 'promote':
      return routeFailoverTasks(
        name,
        createPromoteTasks({
          operations,
          appliances: appliancesFor(env, operations.failover.promoteTimeoutMinutes, secrets),
          progress,
        }),
      );
    case 'dns':
      return routeFailoverTasks(
        name,
        createDnsTasks({
          operations,
          dns: createRoute53Records(createOperationsAwsClients(env.aws).route53),
          progress,
        }),
      );
  }
};

const appliancesFor = (
  env: FailoverTaskEnv,
  promoteTimeoutMinutes: number,
  secrets: ReturnType<typeof createJsonClient>,
) => {
  const aws = createOperationsAwsClients(env.aws);
  const commands = createApplianceCommands({
    ssm: aws.ssm,
    s3: aws.s3,
    documents: parseDocumentNames(env.ghesDocuments),
    ...(env.commandOutputBucket ? { output: { bucket: env.commandOutputBucket } } : {}),
  });
  // Management Console passwords, read when an appliance has a Manage API; cached per container.
  const passwords = new Map<string, Promise<string>>();
  const password = (arn: string) => {
    if (!passwords.has(arn))
      passwords.set(
        arn,
        secrets<{ SecretString?: string }>('GetSecretValue', { SecretId: arn }).then((out) => {
          if (!out.SecretString) throw new ConfigError(`Manage API password secret ${arn} is blank`);
          return out.SecretString;
        }),
      );
    return passwords.get(arn)!;
  };
  return createGhesApplianceOperations({
    reader: createApplianceReader({ commands, manageApi: createManageApi({ password }) }),
    actions: createApplianceActions({ commands }),
    probe: (url) => probeStatus(url),
    promoteTimeoutSeconds: promoteTimeoutMinutes * 60,
  });
};
