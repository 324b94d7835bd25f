import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { fromApiGatewayV2 } from '../../shared/http/api-gateway.ts';
import { createSlackInteractionsFromEnv } from '../../shared/operations/create-slack-from-env.ts';
import { toSlackHttpResult } from '../../shared/operations/slack-request.ts';

const logger = new Logger({ serviceName: 'slack-interaction' });
const interactions = createSlackInteractionsFromEnv(logger); // once per container; throws without a signing secret

const receive = async (event: APIGatewayProxyEventV2) =>
  toSlackHttpResult(await interactions.receive(fromApiGatewayV2(event)));

export const handler = middy(receive).use(injectLambdaContext(logger, { resetKeys: true }));
