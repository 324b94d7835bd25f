import { createJsonClient, dynamoDbSpec, secretsManagerSpec } from '../aws/json-client.ts';
import { parseDeploymentConfig } from '../config/deployment-config.ts';
import { readDeployNotifierEnv } from '../config/runtime-env.ts';
import { createRouter } from '../routing/route-job.ts';
import { createSecretsManagerBotToken } from '../slack/bot-token.ts';
import { createSlackClient } from '../slack/slack-client.ts';
import { createNotificationRules } from './notification-rules.ts';
import { createDeployNotifier, type DeployNotifier } from './notify-deploys.ts';
import { webUrlOf } from './render-run-message.ts';
import { createDynamoRunMessageStore } from './run-message-store.ts';

/**
 * Wires the deploy notifier from the Lambda's environment, once per container (the config check
 * makes `slack` required as soon as a rule exists). The bot token is read
 * on the first Slack call, not here, so a cold start costs no Secrets Manager round trip for events
 * no rule selects.
 */
export const createDeployNotifierFromEnv = (): DeployNotifier => {
  const env = readDeployNotifierEnv();
  const config = parseDeploymentConfig(env.deploymentConfig, 'DEPLOYMENT_CONFIG');
  // Deployed whether or not rules are configured: with none, every event is acknowledged unread.
  if (!config.slack) return { handle: async () => ({ rules: [] }) };
  return createDeployNotifier({
    rules: createNotificationRules(config.notifications, createRouter(config.pools)),
    store: createDynamoRunMessageStore(createJsonClient(dynamoDbSpec, env.aws), env.notificationsTable),
    slack: createSlackClient({
      botToken: createSecretsManagerBotToken(
        createJsonClient(secretsManagerSpec, env.aws),
        config.slack.botTokenSecretArn,
      ),
      ...(config.slack.apiUrl ? { apiUrl: config.slack.apiUrl } : {}),
    }),
    webUrl: webUrlOf(config.github.apiUrl),
    renderLockSeconds: env.renderLockSeconds,
  });
};
