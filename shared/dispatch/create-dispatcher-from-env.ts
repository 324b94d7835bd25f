import type { Logger } from '@aws-lambda-powertools/logger';
import { createEventBridgeAlertSink } from '../alerts/alert-sink.ts';
import { createJsonClient, dynamoDbSpec, eventBridgeSpec, secretsManagerSpec } from '../aws/json-client.ts';
import { configWarnings, parseDeploymentConfig, type DeploymentConfig } from '../config/deployment-config.ts';
import { readDispatcherEnv } from '../config/runtime-env.ts';
import type { RequestHook } from '../github/app-session.ts';
import { createGithubApp, type GithubAppOptions } from '../github/github-app.ts';
import { ConfigError } from '../http/errors.ts';
import { createDynamoDispatchRecords } from '../ledger/dispatch-records.ts';
import type { AccountProviders } from '../providers/account-providers.ts';
import { createRouter, type Router } from '../routing/route-job.ts';
import { createDynamoPendingJobs } from '../ledger/pending-jobs.ts';
import { createDispatcher, type Dispatcher, type RunnerProviders } from './dispatch-job.ts';
import { createSlotBackfill } from './slot-backfill.ts';
import { createDynamoLeases } from './leases.ts';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { withDispatchMetrics } from '../observability/dispatch-metrics.ts';

/** What the reconciler builds on besides the dispatcher: the same config, App and router. */
export interface DispatcherWiring {
  /** Counted (launches, fallbacks, jobs left without a runner) when built with `metrics`. */
  readonly dispatcher: Dispatcher;
  readonly config: DeploymentConfig;
  readonly router: Router;
  readonly github: GithubAppOptions;
}

/**
 * Wires the dispatcher from the Lambda's environment; called once per container. With `metrics`,
 * every dispatch it finishes is counted.
 */
export const createDispatcherFromEnv = async (
  logger: Pick<Logger, 'info' | 'warn' | 'error'>,
  metrics?: Metrics,
) => (await createDispatcherWiring(logger, metrics ? { metrics } : {})).dispatcher;

/** `requestHook`: wraps every GitHub call of the dispatcher (the reconciler's per-run budget). */
export const createDispatcherWiring = async (
  logger: Pick<Logger, 'info' | 'warn' | 'error'>,
  options: { requestHook?: RequestHook; metrics?: Metrics } = {},
): Promise<DispatcherWiring> => {
  const env = readDispatcherEnv();
  const config = parseDeploymentConfig(env.deploymentConfig, 'DEPLOYMENT_CONFIG');
  for (const warning of configWarnings(config)) logger.warn('deployment config', { warning });
  const secrets = createJsonClient(secretsManagerSpec, env.aws);
  const secret = async (arn: string) => {
    const { SecretString } = await secrets<{ SecretString?: string }>('GetSecretValue', { SecretId: arn });
    if (!SecretString?.trim()) throw new ConfigError(`secret ${arn} is blank`);
    return SecretString;
  };
  const dynamo = createJsonClient(dynamoDbSpec, env.aws);
  const leases = createDynamoLeases(dynamo, env.leasesTable);
  /**
   * Providers per account: the home one, and one per pool `roleArn`, built on first use. Their SDK
   * clients (EC2, SSM, CodeBuild) were most of what a cold start evaluated, so their module is
   * imported with the account's first launch or check instead: a container pays for them only once
   * it has a job to launch, and never for an account no job goes to. (The build puts the module in
   * chunk files of its own, read only then: scripts/build.ts.)
   */
  const providersByRole = new Map<string, RunnerProviders>();
  const providers = (roleArn?: string): RunnerProviders => {
    const key = roleArn ?? '';
    let found = providersByRole.get(key);
    if (!found) {
      found = onFirstUse(async () =>
        (await import('../providers/account-providers.ts')).createAccountProviders({
          connection: env.aws,
          ...(roleArn ? { roleArn } : {}),
          leases,
          parameterPrefix: env.runnerParameterPrefix,
          homeInstanceArnPrefix: env.runnerInstanceArnPrefix,
          ...(env.runnerParameterKeyArn ? { homeParameterKeyArn: env.runnerParameterKeyArn } : {}),
        }),
      );
      providersByRole.set(key, found);
    }
    return found;
  };
  // Both reads at once: they are the cold start's only network round trips.
  const [privateKey, caBundle] = await Promise.all([
    secret(config.github.privateKeySecretArn),
    config.github.caBundleSecretArn ? secret(config.github.caBundleSecretArn) : undefined,
  ]);
  const pending = createDynamoPendingJobs(dynamo, env.jobsTable);
  // Late-bound: the backfill dispatches through the very dispatcher it is handed to.
  const backfill = createSlotBackfill(pending, () => counted, logger);
  const router = createRouter(config.pools);
  const github: GithubAppOptions = {
    apiUrl: config.github.apiUrl,
    appId: config.github.appId,
    privateKey,
    ...(caBundle ? { caBundle } : {}),
    runnerScope: config.github.runnerScope,
    ...(options.requestHook ? { requestHook: options.requestHook } : {}),
  };
  const dispatcher: Dispatcher = createDispatcher({
    router,
    github: createGithubApp(github),
    providers,
    defaultRunnerGroupId: config.github.runnerGroupId,
    leases,
    records: createDynamoDispatchRecords(dynamo, env.jobsTable),
    alerts: createEventBridgeAlertSink(
      createJsonClient(eventBridgeSpec, env.aws),
      env.eventBusName,
      'ghes-control-plane.runner-dispatcher',
    ),
    dispatchLeaseSeconds: env.dispatchLeaseSeconds,
    onSlotFreed: backfill,
    logger,
  });
  // The backfill dispatches through this too, so its launches are counted like the event path's.
  const counted = options.metrics
    ? withDispatchMetrics(dispatcher, config.pools, options.metrics, logger)
    : dispatcher;
  return { dispatcher: counted, config, router, github };
};

/** Providers whose every call first awaits `load` (once; a failed load is tried again next call). */
const onFirstUse = (load: () => Promise<AccountProviders>): RunnerProviders => {
  let loading: Promise<AccountProviders> | undefined;
  const loaded = () =>
    (loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    }));
  return {
    codebuild: {
      launch: async (request, target) => (await loaded()).codebuild.launch(request, target),
      isAlive: async (buildId) => (await loaded()).codebuild.isAlive(buildId),
      adopt: async (jobKey, target) => (await loaded()).codebuild.adopt?.(jobKey, target),
    },
    ec2Wake: {
      launch: async (request, target) => (await loaded()).ec2Wake.launch(request, target),
      isAlive: async (instanceId) => (await loaded()).ec2Wake.isAlive(instanceId),
    },
    credentials: { remove: async (name) => (await loaded()).credentials.remove(name) },
  };
};
