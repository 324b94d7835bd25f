import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { createMaintenanceFromEnv } from '../../shared/maintenance/create-maintenance-from-env.ts';
import { parseMaintenanceTask } from '../../shared/maintenance/maintenance-tasks.ts';

const logger = new Logger({ serviceName: 'pool-maintenance' });
const runTask = createMaintenanceFromEnv(logger); // once per container

/** A Task state of state-machines/pool-maintenance.asl.json; errors go back to its Retry/Catch by name. */
const handle = async (event: unknown) => {
  const task = parseMaintenanceTask(event);
  if ('item' in task)
    logger.appendKeys({ instanceId: task.item.instanceId, execution: task.item.run.execution });
  return runTask(task);
};

export const handler = middy(handle).use(injectLambdaContext(logger, { resetKeys: true }));
