import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { ALBEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { fromAlbEvent, isAlbEvent, toAlbResult } from '../../shared/http/alb.ts';
import { fromApiGatewayV2, toApiGatewayResult } from '../../shared/http/api-gateway.ts';
import { createIntakeFromEnv } from '../../shared/intake/create-intake-from-env.ts';

const logger = new Logger({ serviceName: 'github-webhook' });
const intake = createIntakeFromEnv(logger); // once per container

// The HTTP API (ingress public) or the internal load balancer (ingress private): one intake.
const receive = async (event: APIGatewayProxyEventV2 | ALBEvent) =>
  isAlbEvent(event)
    ? toAlbResult(await intake.receive(fromAlbEvent(event)))
    : toApiGatewayResult(await intake.receive(fromApiGatewayV2(event)));

// No early-timeout race: GitHub's 10 s limit is the Lambda's own timeout, and the race costs a timer
// and two promises on every request.
export const handler = middy(receive, { timeoutEarlyInMillis: 0 }).use(
  injectLambdaContext(logger, { resetKeys: true }),
);
