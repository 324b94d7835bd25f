import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { createFailoverTasksFromEnv } from '../../shared/operations/create-failover-from-env.ts';

const logger = new Logger({ serviceName: 'ghes-failover-appliance' });
const runTask = createFailoverTasksFromEnv('appliance', logger); // once per container

/** A Task state of state-machines/ghes-failover.asl.json; errors go back to its Retry/Catch by name. */
const handle = async (event: { task?: string; execution?: string }) => {
  logger.appendKeys({ task: event?.task, execution: event?.execution });
  return runTask(event);
};

export const handler = middy(handle).use(injectLambdaContext(logger, { resetKeys: true }));
