import type { SandboxConfig } from '../sandbox/sandbox-config.ts';
import {
  startTwinAwsEndpoint,
  faultTargetsOf,
  type TwinAwsEndpoint,
  type TwinAwsService,
} from './aws-endpoint.ts';
import { createTwinClock, type TwinClock } from './clock.ts';
import { createCodeBuildTwin, type CodeBuildTwin } from './codebuild.ts';
import { startDynamoTwin, tableDefinitions, type DynamoTwin } from './dynamodb.ts';
import { createEc2Twin, type Ec2Twin } from './ec2.ts';
import { createEventBridgeTwin, type EventBridgeTwin } from './eventbridge.ts';
import { FaultInjector } from './faults.ts';
import { startGithubTwin, type GithubTwin } from './github-api.ts';
import { simulateRunners } from './runner-simulation.ts';
import { createSecretsManagerTwin, type SecretsManagerTwin } from './secrets-manager.ts';
import { createSsmParametersTwin, type SsmParametersTwin } from './ssm-parameters.ts';
import { createStsTwin, type StsTwin } from './sts.ts';
import { TwinQueue } from './sqs.ts';
import { readDeployedTiming, scaleTiming, type TwinTiming } from './dispatch-timing.ts';
import { createLambdaSessions, type LambdaSessions } from './lambda-sessions.ts';
import {
  createSsmCommandsTwin,
  joinServices,
  loadSsmDocument,
  type SsmCommandsTwin,
} from './ssm-commands.ts';
import { createRunnerHosts, MAINTENANCE_COMMANDS } from './runner-host.ts';
import { createStepFunctionsTwin, type StepFunctionsTwin } from './step-functions.ts';
import type { TwinLambda } from './lambda-host.ts';
import { channelIdOf, startSlackTwin, type SlackTwin } from './slack.ts';
import { createStepFunctionsApi } from './step-functions-api.ts';
import { createRoute53Twin, type Route53Twin } from './route53.ts';
import { createS3Twin, type S3Twin } from './s3.ts';
import { startGhesAppliances, type ApplianceCommandName, type GhesAppliances } from './ghes-appliances.ts';
import { readdirSync } from 'node:fs';

/**
 * Everything the Lambdas talk to, simulated: AWS services behind one loopback endpoint, a loopback
 * GHES API, and runners that boot, take their job and report back through signed webhooks.
 */
export interface Twin {
  readonly clock: TwinClock;
  readonly faults: FaultInjector;
  readonly endpoint: TwinAwsEndpoint;
  readonly dynamo: DynamoTwin;
  readonly events: EventBridgeTwin;
  readonly secrets: SecretsManagerTwin;
  readonly ssm: SsmParametersTwin;
  readonly sts: StsTwin;
  readonly ec2: Ec2Twin;
  readonly codebuild: CodeBuildTwin;
  readonly github: GithubTwin;
  readonly slack: SlackTwin;
  readonly queues: ReadonlyMap<string, TwinQueue>;
  readonly alerts: readonly { at: string; source: string; detail: string }[];
  /** Environment every twin Lambda gets: credentials, region, the endpoint, resource names. */
  readonly lambdaEnv: Readonly<Record<string, string>>;
  /** Lambda timeouts, dispatch lease and queue visibility: the deployed values, scaled together. */
  readonly timing: TwinTiming;
  /** Per-container credentials: the endpoint refuses those of a container discarded after a timeout. */
  readonly lambdaSessions: LambdaSessions;
  /** SSM Run Command, answered by the simulated runner hosts. */
  readonly ssmCommands: SsmCommandsTwin;
  /** Step Functions running the real ASL; its Lambda tasks invoke the Lambdas registered here. */
  readonly stepFunctions: StepFunctionsTwin;
  /** The GHES primary and replica of `operations.appliances` (none without an operations section). */
  readonly appliances: GhesAppliances | undefined;
  readonly route53: Route53Twin;
  readonly s3: S3Twin;
  registerLambda(lambda: TwinLambda): void;
  /** Where simulated runners send their signed webhooks (the sandbox's own route). */
  setWebhookTarget(url: string): void;
  /** The sandbox reports every delivery its intake accepted: GitHub's truth for the twin. */
  observeWebhook(event: string, payload: unknown): void;
  state(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export const TABLES = { deliveries: 'DeliveriesTable', jobs: 'JobsTable', leases: 'LeasesTable' } as const;
export const NOTIFICATIONS_TABLE = 'DeployNotificationsTable';
/** The bot token the twin's Secrets Manager holds and its Slack accepts. */
export const SLACK_BOT_TOKEN = 'xoxb-sandbox-bot-token';
export const EVENT_BUS_NAME = 'ghes-control-plane';
export const RUNNER_PARAMETER_PREFIX = '/ghes-cp/runners';
/** About 0.6 MB of state, polled every few ms by tests; the deliveries API keeps 10,000. */
export const HOOK_DELIVERIES_SHOWN = 2_000;
/** The pool-maintenance SSM document (infra/ssm-pool-maintenance.yaml) as the twin deploys it. */
export const MAINTENANCE_DOCUMENT = 'ghes-cp-pool-maintenance';
/** The S3 bucket SSM writes command output beyond its inline limits to (env COMMAND_OUTPUT_BUCKET). */
export const COMMAND_OUTPUT_BUCKET = 'ghes-cp-sandbox-command-output';
/** The Management Console password the twin's Secrets Manager holds for every `manageApi`. */
export const MANAGE_API_PASSWORD = 'sandbox-manage-password';

/**
 * The GHES command documents (infra/ssm-ghes-<x>.yaml), registered under their file stem
 * (`ghes-repl-status`); the command each runs is `ghe-<x>` (`ghe-repl-status`), the key product code
 * finds the document name under in env GHES_DOCUMENTS.
 */
const ghesDocuments = () =>
  readdirSync(new URL('../../infra/', import.meta.url))
    .filter((file) => /^ssm-ghes-[a-z-]+\.yaml$/.test(file))
    .map((file) => {
      const stem = file.replace(/^ssm-/, '').replace(/\.yaml$/, '');
      return {
        stem,
        command: stem.replace(/^ghes-/, 'ghe-') as ApplianceCommandName,
        document: loadSsmDocument(stem, new URL(`../../infra/${file}`, import.meta.url)),
      };
    });

/** The GHES operations tables and state machine (issue 14), by the names serverless.yml gives them. */
export const OPERATIONS_TABLE = 'OperationsTable';
export const AUDIT_TABLE = 'AuditTable';
export const FAILOVER_STATE_MACHINE = 'ghes-failover';

/** Read once: serverless.yml and infra/resources.yml do not change while tests run. */
let deployedTiming: ReturnType<typeof readDeployedTiming> | undefined;

export const startTwin = async (config: SandboxConfig): Promise<Twin> => {
  const clock = createTwinClock(config.sandbox.timeScale);
  const services: TwinAwsService[] = [];
  // The Slack twin starts later (it takes the injector); its fault targets join once it exists.
  const slackFaultTargets = new Map<string, Readonly<Record<string, number>>>();
  const faults = new FaultInjector(() => ({
    targets: new Map([...faultTargetsOf(services), ...slackFaultTargets]),
  }));
  // A command a runner host runs fails with an exit code, not an AWS error: `{"target":"ssm:os-update","exitCode":100}`.
  for (const task of MAINTENANCE_COMMANDS)
    faults.define(`ssm:${task}`, {
      errors: { CommandFailed: 0 },
      defaultError: 'CommandFailed',
      settings: ['exitCode'],
    });
  const alerts: { at: string; source: string; detail: string }[] = [];
  const { durations } = config.sandbox;

  const dynamo = await startDynamoTwin({ clock, tables: tableDefinitions() });
  const secrets = createSecretsManagerTwin();
  secrets.put(config.github.webhookSecretArn, config.sandbox.secrets.webhook);
  const homeAccount = config.sandbox.accountId;
  const sts = createStsTwin({ clock, homeAccount });
  const accountOf = sts.accountOf;
  const ssm = createSsmParametersTwin({ homeAccount, accountOf });
  const ec2 = createEc2Twin({
    clock,
    region: config.region,
    homeAccount,
    accountOf,
    bootMs: durations.instanceBootMs,
    // Set up for this stack: each instance names the prefix the dispatcher writes under.
    parameterPrefix: RUNNER_PARAMETER_PREFIX,
    instances: config.sandbox.instances.flatMap(({ count, ...seed }) =>
      Array.from({ length: count }, () => seed),
    ),
  });
  const codebuild = createCodeBuildTwin({
    clock,
    region: config.region,
    accountId: config.sandbox.accountId,
    accountOf,
    projects: config.sandbox.codebuildProjects,
    queuedMs: durations.buildStartMs / 2,
    provisioningMs: durations.buildStartMs / 2,
  });
  deployedTiming ??= readDeployedTiming();
  const timing = scaleTiming(deployedTiming, config.sandbox.timeScale, config.sandbox.lambdaTimeoutFloorMs);
  const lambdaSessions = createLambdaSessions();
  const dispatchQueue = new TwinQueue('DispatchQueue', timing.dispatchQueue);
  dispatchQueue.onDeadLetter = (message) =>
    // On AWS a CloudWatch alarm on the DLQ's depth raises this; the twin records it.
    alerts.push({
      at: new Date().toISOString(),
      source: 'DispatchDeadLetterQueue',
      detail: message.messageId,
    });
  // The deploy notifier's queue keeps the dispatcher's scaled visibility: both outlive a scaled
  // Lambda timeout and a scaled lock (render lock / dispatch lease) by the same margins.
  const notifierQueue = new TwinQueue('DeployNotifierQueue', {
    ...timing.dispatchQueue,
    maxReceiveCount: 8,
    concurrency: 2,
  });
  notifierQueue.onDeadLetter = (message) =>
    alerts.push({
      at: new Date().toISOString(),
      source: 'DeployNotifierDeadLetterQueue',
      detail: message.messageId,
    });
  const queues = new Map([
    [dispatchQueue.name, dispatchQueue],
    [notifierQueue.name, notifierQueue],
  ]);
  const events = createEventBridgeTwin({
    busName: EVENT_BUS_NAME,
    region: config.region,
    accountId: config.sandbox.accountId,
    queues,
    // The alerts topic: on AWS its subscribers (e-mail, chat) get each alert; the twin records it.
    topics: new Map([
      [
        'AlertsTopic',
        (event: Record<string, unknown>) => {
          const detail = event.detail as { kind?: string; summary?: string; detail?: string };
          alerts.push({
            at: new Date().toISOString(),
            source: String(event.source),
            detail: `${detail.kind}: ${detail.summary} — ${detail.detail}`,
          });
        },
      ],
    ]),
  });
  const runnerHosts = createRunnerHosts({ clock, ec2, faults, maintenanceDocument: MAINTENANCE_DOCUMENT });
  const operations = config.operations;
  const ghes = ghesDocuments();
  const appliances = operations
    ? await startGhesAppliances({
        clock,
        faults,
        appliances: operations.appliances,
        documents: Object.fromEntries(ghes.map((d) => [d.stem, d.command])),
        durations: durations,
        activeConnections: config.sandbox.ghes.activeConnections,
        replication: config.sandbox.ghes.replication,
        managePassword: MANAGE_API_PASSWORD,
      })
    : undefined;
  const s3 = createS3Twin();
  s3.createBucket(COMMAND_OUTPUT_BUCKET);
  const ssmCommands = createSsmCommandsTwin({
    documents: [
      loadSsmDocument(
        MAINTENANCE_DOCUMENT,
        new URL('../../infra/ssm-pool-maintenance.yaml', import.meta.url),
      ),
      ...ghes.map((d) => d.document),
    ],
    hostOf: (instanceId) => appliances?.hostOf(instanceId) ?? runnerHosts.hostOf(instanceId),
    instanceIds: () => [...ec2.list().map((i) => i.instanceId), ...(appliances?.instanceIds() ?? [])],
    s3,
    region: config.region,
    timeScale: config.sandbox.timeScale,
  });
  const route53 = createRoute53Twin({
    clock,
    syncMs: durations.dnsSyncMs,
    zones: operations
      ? [
          {
            id: operations.dns.hostedZoneId,
            // The zone is the record's parent domain: ghes.sandbox.internal → sandbox.internal.
            name: operations.dns.recordName.replace(/\.$/, '').split('.').slice(1).join('.'),
            records: [
              {
                name: operations.dns.recordName,
                type: operations.dns.type,
                ttl: operations.dns.ttl,
                values: [operations.appliances.find((a) => a.initialRole === 'primary')!.dnsValue],
              },
            ],
          },
        ]
      : [],
  });
  const lambdas = new Map<string, TwinLambda>();
  const stepFunctions = createStepFunctionsTwin({
    timeScale: config.sandbox.timeScale,
    region: config.region,
    accountId: config.sandbox.accountId,
    lambdas: (name) => lambdas.get(name),
  });
  const stepFunctionsApi = createStepFunctionsApi(stepFunctions, {
    region: config.region,
    accountId: config.sandbox.accountId,
  });
  services.push(
    ...[dynamo, secrets, events, joinServices(ssm, ssmCommands), ec2, codebuild, sts],
    ...[stepFunctionsApi, route53, s3],
  );
  const endpoint = await startTwinAwsEndpoint(services.map(lambdaSessions.guard), faults);

  let webhookTarget = '';
  const github = await startGithubTwin({
    clock,
    appId: config.github.appId,
    webhookSecret: config.sandbox.secrets.webhook,
    ghesVersion: config.sandbox.ghesVersion,
    runnerGroups: Object.fromEntries(
      Object.entries(config.sandbox.runnerGroups).map(([id, name]) => [Number(id), name]),
    ),
    bootMs: durations.runnerBootMs,
    jobMs: durations.jobMs,
    faults,
    deliverWebhook: async (headers, body) => {
      const response = await fetch(webhookTarget, { method: 'POST', headers, body });
      // The hook log shows what the intake answered, as GitHub's does.
      return {
        status: response.status,
        headers: Object.fromEntries(response.headers),
        body: await response.text(),
      };
    },
  });
  secrets.put(config.github.privateKeySecretArn, github.privateKeyPem);
  const instanceArnPrefix = `arn:aws:ec2:${config.region}:${homeAccount}:instance/`;
  const runners = simulateRunners({
    ...{ codebuild, ec2, ssm, github },
    instanceArn: ({ instanceId, account }) =>
      `arn:aws:ec2:${config.region}:${account}:instance/${instanceId}`,
  });

  const slack = await startSlackTwin({
    botToken: SLACK_BOT_TOKEN,
    channels: Object.fromEntries([
      ...config.notifications.map(({ channel }) => [
        channel,
        channel.startsWith('#') ? channelIdOf(channel) : channel,
      ]),
      // The operations channels, where the failover posts its progress message.
      ...(config.operations?.slack.channelIds ?? []).map((id) => [id, id]),
    ]),
    faults,
  });
  for (const [target, errors] of slack.faultTargets) slackFaultTargets.set(target, errors);
  if (config.slack) secrets.put(config.slack.botTokenSecretArn, SLACK_BOT_TOKEN);
  // The Slack app's signing secret, with which the sandbox's callers sign /slack/* requests; the
  // Management Console password of every appliance with a Manage API.
  if (operations) {
    secrets.put(operations.slack.signingSecretArn, config.sandbox.secrets.slackSigning);
    for (const appliance of operations.appliances)
      if (appliance.manageApi) secrets.put(appliance.manageApi.passwordSecretArn, MANAGE_API_PASSWORD);
  }

  const { sandbox: _sandbox, ...deployment } = config;
  const runnerParameterKey = deployment.kms?.parameters ?? deployment.kms?.keyArn;
  const deploymentConfig = {
    ...deployment,
    github: { ...deployment.github, apiUrl: github.apiUrl },
    ...(deployment.slack ? { slack: { ...deployment.slack, apiUrl: slack.apiUrl } } : {}),
    // Each appliance's /status and Manage API are the twin's loopback ones, as github.apiUrl is.
    ...(deployment.operations && appliances
      ? {
          operations: {
            ...deployment.operations,
            appliances: deployment.operations.appliances.map((appliance) => ({
              ...appliance,
              statusUrl: appliances.statusUrl(appliance.name),
              ...(appliance.manageApi
                ? { manageApi: { ...appliance.manageApi, url: appliances.manageUrl(appliance.name) } }
                : {}),
            })),
          },
        }
      : {}),
  };

  const jobs = async () =>
    (await dynamo.scan(TABLES.jobs))
      .map((row) => ({
        id: row.jobId,
        runId: row.runId,
        runAttempt: row.runAttempt,
        repository: row.repository,
        labels: row.labels,
        workflowName: row.workflowName ?? null,
        headBranch: row.headBranch ?? null,
        status: row.status,
        pool: row.pool ?? null,
        provider: row.provider ?? null,
        resourceId: row.resourceId ?? null,
        reason: row.reason ?? null,
        /** Each pool and candidate tried before the launch, and why it was passed over. */
        launchPath: row.launchPath ?? [],
        runnerName: row.runnerName ?? null,
        conclusion: row.conclusion ?? null,
        queuedAt: row.queuedAt ?? null,
        dispatchedAt: row.dispatchedAt ?? null,
        startedAt: row.startedAt ?? null,
        completedAt: row.completedAt ?? null,
        updatedAt: row.updatedAt ?? null,
      }))
      .sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)));

  const nowIso = () => new Date().toISOString();
  /** Unexpired `lock#<name>` rows of the operations table (a released lock's row is gone or expired). */
  const locks = async () =>
    (await dynamo.scan(OPERATIONS_TABLE))
      .filter((row) => typeof row.pk === 'string' && row.pk.startsWith('lock#'))
      .map(({ pk, expiresAtMs, ...row }) => ({
        ...row,
        name: String(pk).slice('lock#'.length),
        owner: row.owner ?? null,
        expiresAt:
          typeof row.expiresAt === 'string'
            ? row.expiresAt
            : typeof expiresAtMs === 'number'
              ? new Date(expiresAtMs).toISOString()
              : null,
      }))
      .filter((lock) => lock.expiresAt !== null && lock.expiresAt > nowIso());

  const maintenanceOf = (jobKey: unknown) =>
    typeof jobKey === 'string' && jobKey.startsWith('maintenance#') ? jobKey.split('#')[1]! : null;
  const jobIdOf = (jobKey: unknown) =>
    typeof jobKey === 'string' ? Number(jobKey.split('#')[0]) : undefined;

  return {
    clock,
    faults,
    endpoint,
    dynamo,
    events,
    secrets,
    ssm,
    sts,
    ec2,
    codebuild,
    github,
    slack,
    queues,
    alerts,
    ssmCommands,
    stepFunctions,
    appliances,
    route53,
    s3,
    registerLambda: (lambda) => void lambdas.set(lambda.name, lambda),
    timing,
    lambdaSessions,
    lambdaEnv: {
      AWS_REGION: config.region,
      AWS_ACCESS_KEY_ID: 'twin-access-key',
      AWS_SECRET_ACCESS_KEY: 'twin-secret-key',
      AWS_ENDPOINT_URL: endpoint.url,
      DELIVERIES_TABLE: TABLES.deliveries,
      JOBS_TABLE: TABLES.jobs,
      LEASES_TABLE: TABLES.leases,
      EVENT_BUS_NAME,
      WEBHOOK_SECRET_ARN: config.github.webhookSecretArn,
      DEPLOYMENT_CONFIG: JSON.stringify(deploymentConfig),
      RUNNER_PARAMETER_PREFIX,
      RUNNER_INSTANCE_ARN_PREFIX: instanceArnPrefix,
      // As serverless.yml sets it: the runners' parameters take kms.parameters, else kms.keyArn.
      ...(runnerParameterKey ? { RUNNER_PARAMETER_KEY_ARN: runnerParameterKey } : {}),
      MAINTENANCE_DOCUMENT_NAME: MAINTENANCE_DOCUMENT,
      // Scaled with the dispatcher's timeout and the queue's visibility timeout (dispatch-timing.ts).
      DISPATCH_LEASE_SECONDS: String(timing.dispatcher.leaseSeconds),
      DISPATCHER_TIMEOUT_SECONDS: String(timing.dispatcher.timeoutMs / 1000),
      NOTIFICATIONS_TABLE,
      // Scaled as the dispatch lease is: above the scaled Lambda timeout, below the visibility timeout.
      NOTIFY_RENDER_LOCK_SECONDS: String(timing.dispatcher.leaseSeconds),
      // The Slack operations functions (functions/slack-command, functions/slack-interaction).
      OPERATIONS_TABLE,
      AUDIT_TABLE,
      COMMAND_OUTPUT_BUCKET,
      // Command → deployed document name; the twin deploys each under its file stem.
      GHES_DOCUMENTS: JSON.stringify(Object.fromEntries(ghes.map((d) => [d.command, d.stem]))),
      FAILOVER_STATE_MACHINE_ARN: stepFunctions.stateMachineArn(FAILOVER_STATE_MACHINE),
      ...(operations ? { SLACK_SIGNING_SECRET_ARN: operations.slack.signingSecretArn } : {}),
    },
    setWebhookTarget(url) {
      webhookTarget = url;
    },
    observeWebhook(event, payload) {
      github.observeWebhook(event, payload);
      const p = payload as { action?: string; workflow_job?: { runner_name?: string | null } };
      if (event === 'workflow_job' && p.action === 'completed')
        runners.jobCompleted(p.workflow_job?.runner_name);
    },
    async state() {
      const leases = await dynamo.scan(TABLES.leases);
      const leaseOf = (pk: string) => leases.find((l) => l.pk === pk);
      return {
        jobs: await jobs(),
        pools: config.pools.map((pool) => ({
          ...pool,
          inUse: Number(leaseOf(`pool#${pool.name}`)?.inUse ?? 0),
        })),
        instances: ec2.list().map((i) => ({
          instanceId: i.instanceId,
          state: i.state,
          pool: i.pool,
          az: i.az,
          instanceType: i.instanceType,
          account: i.account,
          jobId: jobIdOf(leaseOf(`instance#${i.instanceId}`)?.jobKey) || null,
          /** The maintenance execution holding the instance's lease. */
          maintenance: maintenanceOf(leaseOf(`instance#${i.instanceId}`)?.jobKey),
          runnerVersion: runnerHosts.state(i.instanceId)?.runnerVersion ?? null,
        })),
        builds: codebuild.list().map((b) => ({
          id: b.id,
          project: b.project,
          status: b.status,
          phase: b.currentPhase,
          jobId: jobIdOf(b.environmentVariables.GHES_CP_JOB) ?? null,
          image: b.image,
          computeType: b.computeType,
          fleetArn: b.fleetArn,
          /** Whether the project's own phases run around the runner (`buildspec-override:true`). */
          projectPhases: b.buildspec?.includes(`${b.project}: pre_build`) ?? false,
          /** The parameter holding its runner credentials (a name only: the value never leaves SSM). */
          credentialsParameter: b.environmentVariables.RUNNER_CREDENTIALS ?? null,
        })),
        executions: stepFunctions.list().map((e) => ({
          name: e.name,
          executionArn: e.executionArn,
          stateMachine: e.stateMachine,
          status: e.status,
          startedAt: e.startedAt,
          stoppedAt: e.stoppedAt,
          currentStep: e.currentStep,
          input: e.input,
          ...(e.error ? { error: e.error, cause: e.cause } : {}),
          /** The run's own report (pool-maintenance: `instances[]` with each outcome). */
          report: e.output,
        })),
        commands: ssmCommands.invocations(),
        /** Operation locks held now (`lock#<name>` rows whose expiry is ahead): gone once released. */
        locks: await locks(),
        appliances: (appliances?.list() ?? []).map((a) => ({
          ...a,
          statusUrl: appliances!.statusUrl(a.name),
        })),
        /** The configured zone's records (not its SOA/NS), names as configured (no trailing dot). */
        dns: operations
          ? route53.records(operations.dns.hostedZoneId).map((r) => ({
              name: r.name.replace(/\.$/, ''),
              type: r.type,
              values: r.values,
              ttl: r.ttl,
            }))
          : [],
        dnsChanges: route53.changes(),
        /** Every audit row, oldest first, as written. */
        audit: (await dynamo.scan(AUDIT_TABLE)).sort((a, b) => String(a.sk).localeCompare(String(b.sk))),
        /** Every Slack Web API call sent, as sent (failed ones carry Slack's `error`). */
        slack: slack.calls,
        runners: github.runners(),
        /** The hook's delivery log, oldest first; the last HOOK_DELIVERIES_SHOWN attempts. */
        hookDeliveries: github.hookLog.recent(HOOK_DELIVERIES_SHOWN),
        alerts,
        faults: faults.list(),
        queues: [...queues.values()].map((q) => ({
          name: q.name,
          depth: q.depth,
          deadLetters: q.deadLetters.length,
        })),
        events: { archived: events.archive.length },
      };
    },
    async close() {
      stepFunctions.close();
      clock.close();
      await appliances?.close();
      for (const queue of queues.values()) queue.close();
      ec2.close();
      codebuild.close();
      await github.close();
      await slack.close();
      await endpoint.close();
      await dynamo.close();
    },
  };
};
