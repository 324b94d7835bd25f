import { describe, expect, it } from 'vitest';
import {
  createSlackCommandsFromEnv,
  createSlackInteractionsFromEnv,
} from '../../../shared/operations/create-slack-from-env.ts';
import { ConfigError } from '../../../shared/http/errors.ts';
import { loadSandboxConfig } from '../../sandbox/sandbox-config.ts';
import { captureLogger } from './slack-fakes.ts';

const { sandbox: _sandbox, ...deployment } = loadSandboxConfig(undefined, {});
const env = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'a',
  AWS_SECRET_ACCESS_KEY: 'b',
  SLACK_SIGNING_SECRET_ARN:
    'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ghes-cp/slack-signing-secret',
  OPERATIONS_TABLE: 'OperationsTable',
  AUDIT_TABLE: 'AuditTable',
  FAILOVER_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:111122223333:stateMachine:ghes-failover',
  DEPLOYMENT_CONFIG: JSON.stringify(deployment),
};
const without = (key: keyof typeof env) => {
  const { [key]: _gone, ...rest } = env;
  return rest;
};

describe('the Slack functions at cold start', () => {
  it('start with every key present', () => {
    const { logger } = captureLogger();
    expect(createSlackCommandsFromEnv(logger, env)).toHaveProperty('receive');
    expect(createSlackInteractionsFromEnv(logger, without('FAILOVER_STATE_MACHINE_ARN'))).toHaveProperty(
      'receive',
    );
  });

  it('refuse to start without a signing secret, naming the variable', () => {
    const { logger } = captureLogger();
    for (const create of [createSlackCommandsFromEnv, createSlackInteractionsFromEnv])
      expect(() => create(logger, without('SLACK_SIGNING_SECRET_ARN'))).toThrow(
        new ConfigError('missing environment variable: SLACK_SIGNING_SECRET_ARN'),
      );
  });

  it('refuse to start when the deployment config has no operations section', () => {
    const { operations: _operations, ...noOperations } = deployment;
    expect(() =>
      createSlackCommandsFromEnv(captureLogger().logger, {
        ...env,
        DEPLOYMENT_CONFIG: JSON.stringify(noOperations),
      }),
    ).toThrow(/DEPLOYMENT_CONFIG: operations is not configured/);
  });

  it('the command needs the state machine it starts', () => {
    expect(() =>
      createSlackCommandsFromEnv(captureLogger().logger, without('FAILOVER_STATE_MACHINE_ARN')),
    ).toThrow('missing environment variable: FAILOVER_STATE_MACHINE_ARN');
  });
});
