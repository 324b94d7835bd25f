import type { Logger } from '@aws-lambda-powertools/logger';
import { createAwsClients } from '../aws/clients.ts';
import { createJsonClient, dynamoDbSpec } from '../aws/json-client.ts';
import { parseDeploymentConfig } from '../config/deployment-config.ts';
import { readPoolMaintenanceEnv } from '../config/runtime-env.ts';
import { createDynamoLeases } from '../dispatch/leases.ts';
import { createSsmCredentialsStore } from '../providers/runner-credentials-store.ts';
import { createInstanceMaintenance } from './instance-maintenance.ts';
import { planMaintenance } from './maintenance-plan.ts';
import { createMaintenanceTasks } from './maintenance-tasks.ts';

/** Wires the pool-maintenance task Lambda from its environment; once per container. */
export const createMaintenanceFromEnv = (logger: Pick<Logger, 'info' | 'error'>) => {
  const env = readPoolMaintenanceEnv();
  const { pools } = parseDeploymentConfig(env.deploymentConfig, 'DEPLOYMENT_CONFIG');
  const aws = createAwsClients(env.aws);
  const leases = createDynamoLeases(createJsonClient(dynamoDbSpec, env.aws), env.leasesTable);
  return createMaintenanceTasks({
    plan: (pool, execution) =>
      planMaintenance({
        ec2: aws.ec2,
        pools,
        parameterPrefix: env.runnerParameterPrefix,
        document: env.documentName,
        pool,
        execution,
      }),
    instances: createInstanceMaintenance({
      ec2: aws.ec2,
      ssm: aws.ssm,
      leases,
      credentials: createSsmCredentialsStore(
        aws.ssm,
        env.runnerParameterKeyArn ? { keyId: env.runnerParameterKeyArn } : {},
      ),
      parameterPrefix: env.runnerParameterPrefix,
      instanceArn: (instanceId) => `${env.runnerInstanceArnPrefix}${instanceId}`,
    }),
    logger,
  });
};
