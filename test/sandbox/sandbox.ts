import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyStructuredResultV2, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { FAILOVER_STATE_MACHINE, startTwin, type Twin } from '../twin/twin.ts';
import { toApiGatewayV2Event } from './api-gateway-event.ts';
import { loadSandboxConfig, type SandboxConfig } from './sandbox-config.ts';
import { loadTwinLambda, type TwinLambda } from '../twin/lambda-host.ts';
import { createTwinMetrics, type TwinMetrics } from '../twin/cloudwatch-metrics.ts';
import { createFunctionLogs, type FunctionLogs } from '../twin/function-logs.ts';
import { FaultSpecError } from '../twin/faults.ts';
import { ApplianceUpdateError } from '../twin/ghes-appliances.ts';
import { verify } from '@octokit/webhooks-methods';
import { webhookPayloadOf } from './webhook-payload.ts';
import {
  createQueuedJobs,
  parseQueuedJobsRequest,
  QueuedJobsRequestError,
} from '../twin/github-queued-jobs.ts';
import { startPoolMaintenance, POOL_MAINTENANCE } from './pool-maintenance.ts';
import type { SqsMessage } from '../twin/sqs.ts';

/**
 * The local sandbox: the deployed HTTP routes in front of the real Lambda handlers, which run
 * against the twin. Everything listens on 127.0.0.1 only.
 */
export interface SandboxOptions {
  readonly config?: SandboxConfig;
  /** 0 picks a free port. */
  readonly port?: number;
  /** Handler log level (Powertools); the sandbox CLI shows INFO, tests keep quiet. */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Indented logs for a terminal (POWERTOOLS_DEV); off by default so logs are the JSON lines AWS gets. */
  readonly prettyLogs?: boolean;
  /**
   * Where the handlers' logs go: `console` (the sandbox CLI), or `kept` (the default: in `logs`, and
   * in the file `setFunctionLogFile` names), so that faults injected on purpose print no stack traces.
   */
  readonly functionLogs?: 'console' | 'kept';
}

export interface DeliveryRow {
  readonly id: string;
  readonly event: string;
  readonly action: string | null;
  readonly outcome: 'accepted' | 'duplicate' | 'ignored';
  readonly status: number;
  readonly receivedAt: string;
}

export interface Sandbox {
  readonly url: string;
  readonly config: SandboxConfig;
  readonly twin: Twin;
  readonly deliveries: readonly DeliveryRow[];
  /** The metrics the handlers emitted (EMF), taken off stdout. */
  readonly metrics: TwinMetrics;
  /** What the handlers wrote to stdout/stderr besides metrics: their log groups. */
  readonly logs: FunctionLogs;
  state(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** API Gateway HTTP APIs refuse payloads over 10 MB before any Lambda runs. */
export const API_GATEWAY_MAX_BODY = 10 * 1024 * 1024;

const functionPath = (name: string) =>
  fileURLToPath(new URL(`../../functions/${name}/handler.ts`, import.meta.url));
const dashboard = () => readFileSync(new URL('./dashboard.html', import.meta.url));

class BodyTooLargeError extends Error {}

const readBody = (req: IncomingMessage, limit: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume(); // drain without keeping it
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

/** Runs `run` every `ms` until the returned function is called. */
const every = (ms: number, run: () => Promise<void>) => {
  const timer = setInterval(() => void run(), ms);
  return () => clearInterval(timer);
};

const sendJson = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

export const startSandbox = async (options: SandboxOptions = {}): Promise<Sandbox> => {
  const config = options.config ?? loadSandboxConfig();
  const twin = await startTwin(config);
  const lambdaEnv = {
    ...twin.lambdaEnv,
    POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
    ...(options.prettyLogs ? { POWERTOOLS_DEV: 'true' } : {}),
  };
  // The handlers' EMF metric lines, kept off the console and shown in the state as `metrics`.
  const metrics = createTwinMetrics();
  const logs = createFunctionLogs(options.functionLogs ?? 'kept');
  const webhook: TwinLambda = await loadTwinLambda({
    name: 'github-webhook',
    modulePath: functionPath('github-webhook'),
    env: { ...lambdaEnv, AWS_ACCESS_KEY_ID: 'twin-github-webhook' },
    // serverless.yml's timeouts, scaled where the twin scales them (test/twin/dispatch-timing.ts).
    timeoutMs: twin.timing.webhook.timeoutMs,
    sessions: twin.lambdaSessions,
    faults: twin.faults,
    metrics,
    logs,
  });
  const dispatcher: TwinLambda = await loadTwinLambda({
    name: 'runner-dispatcher',
    modulePath: functionPath('runner-dispatcher'),
    env: { ...lambdaEnv, AWS_ACCESS_KEY_ID: 'twin-runner-dispatcher' },
    timeoutMs: twin.timing.dispatcher.timeoutMs,
    sessions: twin.lambdaSessions,
    faults: twin.faults,
    metrics,
    logs,
  });
  const reconciler: TwinLambda = await loadTwinLambda({
    name: 'runner-reconciler',
    modulePath: functionPath('runner-reconciler'),
    env: {
      ...lambdaEnv,
      AWS_ACCESS_KEY_ID: 'twin-runner-reconciler',
      // A row with no reason waits 120 s of simulated time for its own event first.
      RECONCILE_QUIET_SECONDS: String(120 * config.sandbox.timeScale),
      // …and a launch 600 s to become a runner before the job is re-checked against GitHub.
      RECONCILE_STALE_SECONDS: String(600 * config.sandbox.timeScale),
      // …and an offline registration with no launch recorded 900 s before it counts as orphaned.
      RECONCILE_ORPHAN_GRACE_SECONDS: String(900 * config.sandbox.timeScale),
    },
    timeoutMs: twin.timing.dispatcher.timeoutMs,
    sessions: twin.lambdaSessions,
    faults: twin.faults,
    metrics,
    logs,
  });
  const poolMaintenance: TwinLambda = await loadTwinLambda({
    name: POOL_MAINTENANCE,
    modulePath: functionPath(POOL_MAINTENANCE),
    env: { ...lambdaEnv, AWS_ACCESS_KEY_ID: `twin-${POOL_MAINTENANCE}` },
    timeoutMs: twin.timing.dispatcher.timeoutMs,
    sessions: twin.lambdaSessions,
    faults: twin.faults,
    metrics,
    logs,
  });
  twin.registerLambda(poolMaintenance);
  const deployNotifier: TwinLambda = await loadTwinLambda({
    name: 'deploy-notifier',
    modulePath: functionPath('deploy-notifier'),
    env: { ...lambdaEnv, AWS_ACCESS_KEY_ID: 'twin-deploy-notifier' },
    timeoutMs: twin.timing.dispatcher.timeoutMs,
    sessions: twin.lambdaSessions,
    faults: twin.faults,
    metrics,
    logs,
  });
  // The Slack routes of GHES operations, when the config has an `operations` section (without one
  // the functions refuse to start, as they would on AWS).
  const slackFunction = (name: 'slack-command' | 'slack-interaction') =>
    loadTwinLambda({
      name,
      modulePath: functionPath(name),
      env: { ...lambdaEnv, AWS_ACCESS_KEY_ID: `twin-${name}` },
      timeoutMs: twin.timing.webhook.timeoutMs,
      sessions: twin.lambdaSessions,
      faults: twin.faults,
      metrics,
      logs,
    });
  // The failover state machine and its task functions (state-machines/ghes-failover.asl.json), with
  // the timeouts serverless.yml gives them (handler work is not scaled).
  if (config.operations) {
    const placeholders: Record<string, string> = {};
    const timeouts = { control: 30, appliance: 150, promote: 30, dns: 30 };
    for (const fn of ['control', 'appliance', 'promote', 'dns'] as const) {
      const name = `ghes-failover-${fn}`;
      twin.registerLambda(
        await loadTwinLambda({
          name,
          modulePath: functionPath(name),
          env: { ...lambdaEnv, AWS_ACCESS_KEY_ID: `twin-${name}` },
          timeoutMs: timeouts[fn] * 1000,
          sessions: twin.lambdaSessions,
          faults: twin.faults,
          metrics,
          logs,
        }),
      );
      placeholders[`GhesFailover${fn[0]!.toUpperCase()}${fn.slice(1)}FunctionArn`] = name;
    }
    twin.stepFunctions.register(
      FAILOVER_STATE_MACHINE,
      JSON.parse(
        readFileSync(new URL('../../state-machines/ghes-failover.asl.json', import.meta.url), 'utf8'),
      ),
      placeholders,
    );
  }
  const slackCommand = config.operations ? await slackFunction('slack-command') : undefined;
  const slackInteraction = config.operations ? await slackFunction('slack-interaction') : undefined;
  // The EventBridge schedule `rate(1 minute)`, at timeScale; a run still going skips its turn, as
  // reservedConcurrency 1 makes Lambda do.
  let reconciling = false;
  const reconcileRuns: Record<string, unknown>[] = [];
  const stopSchedule = config.sandbox.schedules
    ? every(60_000 * config.sandbox.timeScale, async () => {
        if (reconciling) return;
        reconciling = true;
        try {
          const report = await reconciler.invoke<Record<string, unknown>>({ source: 'aws.events' });
          reconcileRuns.push({ at: new Date().toISOString(), ...report });
          reconcileRuns.splice(0, Math.max(0, reconcileRuns.length - 50));
        } catch {
          // Counted in the Lambda's stats; the next run tries again.
        } finally {
          reconciling = false;
        }
      })
    : () => {};
  // The SQS event source mappings: batches in, `batchItemFailures` back.
  const sqsEvent = (queue: string, messages: readonly SqsMessage[]) => ({
    Records: messages.map((m): SQSRecord => ({
      messageId: m.messageId,
      receiptHandle: `${m.messageId}#${m.receiveCount}`,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(m.sentAt),
        SenderId: 'events.amazonaws.com',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${config.region}:${config.sandbox.accountId}:${queue}`,
      awsRegion: config.region,
    })),
  });
  twin.queues
    .get('DeployNotifierQueue')!
    .attach(async (messages) =>
      deployNotifier.invoke<SQSBatchResponse>(sqsEvent('DeployNotifierQueue', messages)),
    );
  twin.queues
    .get('DispatchQueue')!
    .attach(async (messages) => dispatcher.invoke<SQSBatchResponse>(sqsEvent('DispatchQueue', messages)));
  const deliveries: DeliveryRow[] = [];

  const invokeHttp = async (
    lambda: TwinLambda,
    req: IncomingMessage,
    res: ServerResponse,
    beforeInvoke: (body: Buffer) => Promise<void> = async () => {},
  ) => {
    let body: Buffer;
    try {
      body = await readBody(req, API_GATEWAY_MAX_BODY);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      res.setHeader('connection', 'close');
      sendJson(res, 413, { message: 'Request Entity Too Large' }); // API Gateway's own answer
      return undefined;
    }
    await beforeInvoke(body);
    let result: APIGatewayProxyStructuredResultV2;
    try {
      result = await lambda.invoke<APIGatewayProxyStructuredResultV2>(toApiGatewayV2Event(req, body));
    } catch {
      sendJson(res, 500, { message: 'Internal Server Error' }); // what API Gateway says when the Lambda fails
      return undefined;
    }
    res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
    res.end(result.body ?? '');
    return { result, body };
  };

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> = {
    'POST /github/webhook': async (req, res) => {
      // GitHub knows a job before it sends the webhook, and the dispatcher asks it about the job
      // while the intake is still answering: a delivery signed with the sandbox's secret is
      // GitHub's truth for the twin from the moment it arrives.
      const contentType = req.headers['content-type'];
      let observed = false;
      const observe = (event: string, body: Buffer) => {
        const payload = webhookPayloadOf(body, contentType);
        if (payload === undefined) return;
        twin.observeWebhook(event, payload);
        observed = true;
      };
      const observeSigned = async (body: Buffer) => {
        const event = req.headers['x-github-event'];
        const signature = req.headers['x-hub-signature-256'];
        if (typeof event !== 'string' || typeof signature !== 'string') return;
        const secret = config.sandbox.secrets.webhook;
        if (await verify(secret, body.toString('utf8'), signature).catch(() => false)) observe(event, body);
      };
      const invoked = await invokeHttp(webhook, req, res, observeSigned);
      if (!invoked) return;
      const { result, body } = invoked;
      if (!result.body || (result.statusCode ?? 500) >= 300) return;
      const answer = JSON.parse(result.body) as Partial<DeliveryRow> & { delivery?: string };
      // Also signed with a secret the intake still accepts during a rotation.
      if (answer.outcome === 'accepted' && answer.event && !observed) observe(answer.event, body);
      if (answer.outcome && answer.delivery) {
        deliveries.push({
          id: answer.delivery,
          event: answer.event ?? '',
          action: answer.action ?? null,
          outcome: answer.outcome,
          status: result.statusCode ?? 200,
          receivedAt: new Date().toISOString(),
        });
      }
    },
    ...(slackCommand && slackInteraction
      ? {
          'POST /slack/commands': async (req: IncomingMessage, res: ServerResponse) =>
            void (await invokeHttp(slackCommand, req, res)),
          'POST /slack/interactions': async (req: IncomingMessage, res: ServerResponse) =>
            void (await invokeHttp(slackInteraction, req, res)),
        }
      : {}),
    'GET /sandbox/state': async (_req, res) => sendJson(res, 200, await state()),
    // What a pool's maintenance schedule does, now: 202 with the execution's name.
    'POST /sandbox/maintenance': async (req, res) => {
      const answer = startPoolMaintenance(twin, config, (await readBody(req, 64 * 1024)).toString('utf8'));
      sendJson(res, answer.status, answer.body);
    },
    'GET /sandbox/faults': async (_req, res) => sendJson(res, 200, { faults: twin.faults.list() }),
    'POST /sandbox/faults': async (req, res) => {
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8'));
      } catch {
        sendJson(res, 400, { error: 'body must be JSON' });
        return;
      }
      try {
        sendJson(res, 201, { fault: twin.faults.arm(body) });
      } catch (error) {
        if (!(error instanceof FaultSpecError)) throw error;
        sendJson(res, 400, { error: error.message });
      }
    },
    // GitHub queues jobs and sends their webhooks itself (test/twin/github-queued-jobs.ts).
    'POST /sandbox/github/jobs': async (req, res) => {
      let request;
      try {
        request = parseQueuedJobsRequest(JSON.parse((await readBody(req, 64 * 1024)).toString('utf8')));
      } catch (error) {
        if (error instanceof QueuedJobsRequestError) return sendJson(res, 400, { error: error.message });
        if (error instanceof BodyTooLargeError) return sendJson(res, 413, { error: 'body over 64 KB' });
        if (error instanceof SyntaxError) return sendJson(res, 400, { error: 'body must be JSON' });
        throw error;
      }
      const { runId, jobIds } = createQueuedJobs(twin.github, request);
      sendJson(res, 201, { runId, jobIds });
    },
    // The simulated GHES nodes: `{"name":"ghes-replica","replication":"catching-up"}` or
    // `{"name":"ghes-primary","activeConnections":40}`; 400 naming the problem, nothing changed.
    'POST /sandbox/appliances': async (req, res) => {
      if (!twin.appliances) return sendJson(res, 400, { error: 'no operations.appliances in the config' });
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8'));
      } catch {
        return sendJson(res, 400, { error: 'body must be JSON' });
      }
      try {
        const name = (body as { name?: unknown } | null)?.name;
        sendJson(res, 200, { appliance: twin.appliances.update(String(name), body) });
      } catch (error) {
        if (!(error instanceof ApplianceUpdateError)) throw error;
        sendJson(res, 400, { error: error.message });
      }
    },
    'DELETE /sandbox/faults': async (_req, res) => {
      twin.faults.clear();
      sendJson(res, 200, { faults: [] });
    },
    'GET /': async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(dashboard());
    },
  };

  const state = async () => ({
    timeScale: config.sandbox.timeScale,
    /** The simulated durations timeScale multiplies (promote, drain, DNS INSYNC, …), before scaling. */
    durations: config.sandbox.durations,
    deliveries,
    ...(await twin.state()),
    lambdas: {
      'github-webhook': webhook.stats,
      'runner-dispatcher': dispatcher.stats,
      'runner-reconciler': reconciler.stats,
      [POOL_MAINTENANCE]: poolMaintenance.stats,
      'deploy-notifier': deployNotifier.stats,
      ...(slackCommand ? { 'slack-command': slackCommand.stats } : {}),
      ...(slackInteraction ? { 'slack-interaction': slackInteraction.stats } : {}),
    },
    reconciler: reconcileRuns,
    metrics: metrics.summary(),
  });

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://sandbox').pathname;
    const route = routes[`${req.method} ${path}`];
    if (!route) {
      const known = Object.keys(routes).some((key) => key.endsWith(` ${path}`));
      sendJson(res, known ? 405 : 404, {
        error: known ? `${req.method} not allowed on ${path}` : `no route ${path}`,
      });
      return;
    }
    route(req, res).catch((error: unknown) => {
      console.error(`sandbox: ${req.method} ${path} failed`, error);
      if (!res.headersSent) sendJson(res, 500, { error: 'sandbox failure' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  twin.setWebhookTarget(`http://127.0.0.1:${port}/github/webhook`);

  return {
    url: `http://127.0.0.1:${port}`,
    config,
    twin,
    deliveries,
    metrics,
    logs,
    state,
    async close() {
      stopSchedule();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await twin.close();
    },
  };
};
