import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { sign } from '@octokit/webhooks-methods';
import type {
  ALBEvent,
  ALBResult,
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { startSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { loadSandboxConfig } from '../sandbox/sandbox-config.ts';
import { loadTwinLambda, type TwinLambda } from '../twin/lambda-host.ts';
import {
  postDelivery,
  signedDelivery,
  workflowJobPayload,
  type SignedDelivery,
} from '../support/github-deliveries.ts';

/**
 * The two ingress modes through the real webhook handler on the twin. The sandbox serves the HTTP
 * API's route as it always has; beside it runs the same handler as deployed with
 * `ingress.allowedSourceCidrs: [10.20.0.0/16]` (WEBHOOK_ALLOWED_SOURCE_CIDRS), invoked as the
 * internal load balancer invokes it (ingress private) and as the HTTP API does (ingress public).
 */
const GHES_SUBNET = '10.20.0.0/16';
const GHES_ADDRESS = '10.20.1.5';

let sandbox: Sandbox;
let secret: string;
let allowListed: TwinLambda;
let nextJobId = 73_000;

beforeAll(async () => {
  // Refusals are expected here: kept out of the test output.
  sandbox = await startSandbox({ config: loadSandboxConfig(undefined, {}), logLevel: 'SILENT' });
  secret = sandbox.config.sandbox.secrets.webhook;
  allowListed = await loadTwinLambda({
    name: 'github-webhook',
    modulePath: fileURLToPath(new URL('../../functions/github-webhook/handler.ts', import.meta.url)),
    env: {
      ...sandbox.twin.lambdaEnv,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      AWS_ACCESS_KEY_ID: 'twin-github-webhook',
      WEBHOOK_ALLOWED_SOURCE_CIDRS: GHES_SUBNET,
    },
    timeoutMs: sandbox.twin.timing.webhook.timeoutMs,
    sessions: sandbox.twin.lambdaSessions,
  });
});
afterAll(async () => sandbox?.close());

/** What the load balancer hands a Lambda target (Elastic Load Balancing guide), from GHES's address. */
const albEvent = (delivery: SignedDelivery, from = GHES_ADDRESS): ALBEvent => ({
  requestContext: {
    elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/hook/0123' },
  },
  httpMethod: 'POST',
  path: '/github/webhook',
  queryStringParameters: {},
  headers: {
    ...delivery.headers,
    host: 'hooks.example.internal',
    // A client's own X-Forwarded-For first; the load balancer appends the connection's address.
    'x-forwarded-for': `192.0.2.1, ${from}`,
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
  },
  body: delivery.body,
  isBase64Encoded: false,
});

/** What the HTTP API hands the function, from `sourceIp` (the TCP peer API Gateway saw). */
const httpApiEvent = (delivery: SignedDelivery, sourceIp: string): APIGatewayProxyEventV2 =>
  ({
    version: '2.0',
    routeKey: 'POST /github/webhook',
    rawPath: '/github/webhook',
    rawQueryString: '',
    headers: { ...delivery.headers, 'x-forwarded-for': GHES_ADDRESS },
    requestContext: {
      accountId: '111122223333',
      apiId: 'hooks',
      domainName: 'hooks.example.com',
      domainPrefix: 'hooks',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      http: {
        method: 'POST',
        path: '/github/webhook',
        protocol: 'HTTP/1.1',
        sourceIp,
        userAgent: 'GitHub-Hookshot',
      },
      requestId: randomUUID(),
      routeKey: 'POST /github/webhook',
      stage: '$default',
    },
    body: delivery.body,
    isBase64Encoded: false,
  }) as APIGatewayProxyEventV2;

const viaLoadBalancer = async (delivery: SignedDelivery, from?: string) => {
  const result = await allowListed.invoke<ALBResult>(albEvent(delivery, from));
  return { result, answer: { status: result.statusCode, body: JSON.parse(result.body ?? '{}') } };
};

const queuedPayload = (jobId: number) => workflowJobPayload('queued', { id: jobId, run_id: jobId * 10 });
/** GitHub knows a job before it delivers its webhook; the dispatcher asks the twin's GitHub about it. */
const queuedDelivery = async (jobId: number) => {
  const payload = queuedPayload(jobId);
  sandbox.twin.observeWebhook('workflow_job', payload);
  return signedDelivery(payload, { secret });
};

const jobRow = async (id: number) =>
  ((await (await fetch(`${sandbox.url}/sandbox/state`)).json()) as { jobs: { id: number }[] }).jobs.find(
    (job) => job.id === id,
  );

/** Everything a delivery can change: rows, events on the bus, messages to the queue, the intake's AWS calls. */
const sideEffects = async () => ({
  deliveries: (await sandbox.twin.dynamo.scan('DeliveriesTable')).length,
  jobs: (await sandbox.twin.dynamo.scan('JobsTable')).length,
  events: sandbox.twin.events.archive.length,
  sentToQueue: sandbox.twin.queues.get('DispatchQueue')!.sent,
  awsCalls: sandbox.twin.endpoint.calls.filter(
    (call) => call.caller === 'twin-github-webhook' && !call.target.startsWith('secretsmanager:'),
  ).length,
});

describe('ingress private: the internal load balancer invokes the webhook', () => {
  it('answers 202 in the shape the load balancer needs and records the job in the ledger', async () => {
    const jobId = ++nextJobId;
    const { result } = await viaLoadBalancer(await queuedDelivery(jobId));
    expect(result).toMatchObject({
      statusCode: 202,
      statusDescription: '202 Accepted',
      isBase64Encoded: false,
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(result.body!)).toMatchObject({ outcome: 'accepted', jobId });
    expect(await jobRow(jobId)).toMatchObject({
      id: jobId,
      runId: jobId * 10,
      repository: 'Codertocat/Hello-World',
    });
    expect(sandbox.twin.events.archive.at(-1)).toMatchObject({
      'detail-type': 'workflow_job.queued',
      detail: expect.objectContaining({ jobId }),
    });
  });

  it('takes a base64 body, as the load balancer sends for a content type it does not treat as text', async () => {
    const jobId = ++nextJobId;
    const delivery = await queuedDelivery(jobId);
    const event = {
      ...albEvent(delivery),
      body: Buffer.from(delivery.body).toString('base64'),
      isBase64Encoded: true,
    };
    const result = await allowListed.invoke<ALBResult>(event);
    expect(result.statusCode).toBe(202);
    expect(await jobRow(jobId)).toMatchObject({ id: jobId });
  });

  it('gives the same 401 and 400 answers as the HTTP API route, and changes nothing', async () => {
    const before = await sideEffects();
    const forged = await queuedDelivery(++nextJobId);
    forged.headers['x-hub-signature-256'] = await sign('not-the-secret', forged.body);
    const broken = await signedDelivery(undefined, { secret, body: '{"action":"queued","workflow_job":' });

    const forgedAlb = await viaLoadBalancer(forged);
    const brokenAlb = await viaLoadBalancer(broken);
    expect(forgedAlb.answer.status).toBe(401);
    expect(forgedAlb.result.statusDescription).toBe('401 Unauthorized');
    expect(brokenAlb.answer).toEqual({ status: 400, body: { error: 'body is not valid JSON' } });
    expect(brokenAlb.result.statusDescription).toBe('400 Bad Request');
    const afterAlb = await sideEffects();

    // The sandbox's route is the HTTP API's: the same deliveries get the same answers there.
    expect(await postDelivery(sandbox.url, forged)).toEqual(forgedAlb.answer);
    expect(await postDelivery(sandbox.url, broken)).toEqual(brokenAlb.answer);
    expect(afterAlb).toEqual(before);
  });

  it('refuses with 403 a sender the load balancer saw outside the allow-list, whatever X-Forwarded-For claimed first', async () => {
    const before = await sideEffects();
    const delivery = await queuedDelivery(++nextJobId);
    const event = albEvent(delivery, '10.99.0.7');
    event.headers!['x-forwarded-for'] = `${GHES_ADDRESS}, 10.99.0.7`;
    const result = await allowListed.invoke<ALBResult>(event);
    expect(result).toMatchObject({ statusCode: 403, statusDescription: '403 Forbidden' });
    expect(await sideEffects()).toEqual(before);
  });
});

describe('ingress public with allowedSourceCidrs', () => {
  it('answers 403 to a correctly signed delivery from outside the list: nothing stored, nothing published', async () => {
    const before = await sideEffects();
    const jobId = ++nextJobId;
    const delivery = await queuedDelivery(jobId);
    // X-Forwarded-For names GHES, but the HTTP API's peer is elsewhere: the peer decides.
    const result = await allowListed.invoke<APIGatewayProxyStructuredResultV2>(
      httpApiEvent(delivery, '198.51.100.7'),
    );
    expect(result.statusCode).toBe(403);
    expect(JSON.parse(result.body!)).toEqual({
      error: 'source address 198.51.100.7 may not deliver webhooks',
    });
    expect(await sideEffects()).toEqual(before);
    expect(await jobRow(jobId)).toBeUndefined();
  });

  it('accepts the same delivery from inside the list', async () => {
    const jobId = ++nextJobId;
    const result = await allowListed.invoke<APIGatewayProxyStructuredResultV2>(
      httpApiEvent(await queuedDelivery(jobId), GHES_ADDRESS),
    );
    expect(result.statusCode).toBe(202);
    expect(await jobRow(jobId)).toMatchObject({ id: jobId });
  });
});
