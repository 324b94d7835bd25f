import { ConfigError } from '../http/errors.ts';
import type { AwsConnection } from '../aws/json-client.ts';
import { parseCidrList } from '../http/source-address.ts';
import { KMS_KEY_ARN } from './kms-key-arn.ts';

/**
 * The only place that reads `process.env`. Every Lambda gets its wiring (tables, bus, secret ARNs)
 * as environment variables set by serverless.yml; a missing key is named, all at once.
 */
type Env = Readonly<Record<string, string | undefined>>;

const required = (env: Env, keys: readonly string[]): Record<string, string> => {
  const missing = keys.filter((key) => !env[key]?.trim());
  if (missing.length > 0) {
    throw new ConfigError(
      `missing environment variable${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`,
    );
  }
  return Object.fromEntries(keys.map((key) => [key, env[key]!.trim()]));
};

/**
 * The customer-managed key the runners' SecureString parameters are encrypted with
 * (`kms.parameters ?? kms.keyArn` in the deployment config, set by serverless.yml). Absent: Parameter
 * Store's AWS-managed key (aws/ssm). A key ARN, never an alias: the IAM statements that let the runners
 * decrypt name the key ARN (shared/config/infrastructure-config.ts says why).
 */
const optionalKeyArn = (env: Env, key: string): { runnerParameterKeyArn?: string } => {
  const value = env[key]?.trim();
  if (!value) return {};
  if (!KMS_KEY_ARN.test(value))
    throw new ConfigError(
      `${key}: expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), got "${value}"`,
    );
  return { runnerParameterKeyArn: value };
};

const positiveNumber = (env: Env, key: string, fallback: number): number => {
  if (!env[key]) return fallback;
  const value = Number(env[key]);
  if (!(value > 0)) throw new ConfigError(`${key}: expected a positive number, got "${env[key]}"`);
  return value;
};

/** Lambda puts the execution role's credentials in these variables; the sandbox sets fake ones. */
export const readAwsConnection = (env: Env = process.env): AwsConnection => {
  const v = required(env, ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
  return {
    region: v.AWS_REGION!,
    // The SDK honours AWS_ENDPOINT_URL too, so one variable points every client at the twin.
    ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}),
    credentials: {
      accessKeyId: v.AWS_ACCESS_KEY_ID!,
      secretAccessKey: v.AWS_SECRET_ACCESS_KEY!,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    },
  };
};

export interface WebhookIntakeEnv {
  readonly aws: AwsConnection;
  readonly deliveriesTable: string;
  readonly jobsTable: string;
  readonly eventBusName: string;
  /** Secrets Manager secret holding the webhook secret, or `{"current":…,"previous":…}` while rotating. */
  readonly webhookSecretArn: string;
  /**
   * WEBHOOK_ALLOWED_SOURCE_CIDRS (`ingress.allowedSourceCidrs`, comma-separated): only these senders
   * may deliver. Absent: any sender (the signature still decides).
   */
  readonly allowedSourceCidrs?: readonly string[];
}

export const readWebhookIntakeEnv = (env: Env = process.env): WebhookIntakeEnv => {
  const v = required(env, ['DELIVERIES_TABLE', 'JOBS_TABLE', 'EVENT_BUS_NAME', 'WEBHOOK_SECRET_ARN']);
  const allowed = parseCidrList(env.WEBHOOK_ALLOWED_SOURCE_CIDRS);
  return {
    aws: readAwsConnection(env),
    deliveriesTable: v.DELIVERIES_TABLE!,
    jobsTable: v.JOBS_TABLE!,
    eventBusName: v.EVENT_BUS_NAME!,
    webhookSecretArn: v.WEBHOOK_SECRET_ARN!,
    ...(allowed ? { allowedSourceCidrs: allowed } : {}),
  };
};

export interface DispatcherEnv {
  readonly aws: AwsConnection;
  readonly jobsTable: string;
  readonly leasesTable: string;
  /** The control-plane bus, where alerts for the operator go. */
  readonly eventBusName: string;
  /** The deployment config (YAML or JSON text), validated at cold start. */
  readonly deploymentConfig: string;
  /** Parameter Store path under which runner credentials are written. */
  readonly runnerParameterPrefix: string;
  /** `arn:<partition>:ec2:<region>:<account>:instance/`: an instance's parameter is tagged with its ARN. */
  readonly runnerInstanceArnPrefix: string;
  /** RUNNER_PARAMETER_KEY_ARN: the KMS key runner credentials are written with; absent: aws/ssm. */
  readonly runnerParameterKeyArn?: string;
  /**
   * How long a dispatcher holds a job it is launching: longer than the function's timeout (a lease
   * that ran out under a live invocation lets a second dispatcher launch for the same job), shorter
   * than the queue's visibility timeout (a redelivery after a crash finds it expired).
   */
  readonly dispatchLeaseSeconds: number;
}

/**
 * Lambda tells no function its own timeout; serverless.yml passes it as DISPATCHER_TIMEOUT_SECONDS
 * so that a lease that would not outlive an invocation stops the cold start instead of allowing
 * double launches.
 */
const dispatchLease = (env: Env): number => {
  const lease = positiveNumber(env, 'DISPATCH_LEASE_SECONDS', 120);
  if (!env.DISPATCHER_TIMEOUT_SECONDS) return lease;
  const timeout = positiveNumber(env, 'DISPATCHER_TIMEOUT_SECONDS', 0);
  if (!(lease > timeout)) {
    throw new ConfigError(
      `DISPATCH_LEASE_SECONDS: ${lease} must exceed the function timeout DISPATCHER_TIMEOUT_SECONDS (${timeout})`,
    );
  }
  return lease;
};

export const readDispatcherEnv = (env: Env = process.env): DispatcherEnv => {
  const v = required(env, [
    'JOBS_TABLE',
    'LEASES_TABLE',
    'EVENT_BUS_NAME',
    'DEPLOYMENT_CONFIG',
    'RUNNER_PARAMETER_PREFIX',
    'RUNNER_INSTANCE_ARN_PREFIX',
  ]);
  return {
    aws: readAwsConnection(env),
    jobsTable: v.JOBS_TABLE!,
    leasesTable: v.LEASES_TABLE!,
    eventBusName: v.EVENT_BUS_NAME!,
    deploymentConfig: v.DEPLOYMENT_CONFIG!,
    runnerInstanceArnPrefix: v.RUNNER_INSTANCE_ARN_PREFIX!,
    runnerParameterPrefix: v.RUNNER_PARAMETER_PREFIX!.replace(/\/$/, ''),
    ...optionalKeyArn(env, 'RUNNER_PARAMETER_KEY_ARN'),
    dispatchLeaseSeconds: dispatchLease(env),
  };
};

export interface ReconcilerEnv {
  /** Seconds a job row with no reason is left for its own event first. */
  readonly quietSeconds: number;
  /** Dispatches per run. */
  readonly maxDispatches: number;
  /** Seconds a job may stay `dispatched` before it is re-checked against GitHub. */
  readonly staleSeconds: number;
  /** GitHub calls a run's recovery work (redelivery, discovery, orphans) may make. */
  readonly githubBudget: number;
  /** Repositories with jobs queued this many hours back are searched for jobs the ledger never saw. */
  readonly activeRepositoryHours: number;
  /** Seconds an offline registration with no launch recorded for it is given to come online. */
  readonly orphanGraceSeconds: number;
  /** How far back the first run (no cursor yet) reads the hook delivery log. */
  readonly firstLookbackSeconds: number;
}

export const readReconcilerEnv = (env: Env = process.env): ReconcilerEnv => ({
  quietSeconds: positiveNumber(env, 'RECONCILE_QUIET_SECONDS', 120),
  maxDispatches: positiveNumber(env, 'RECONCILE_MAX_DISPATCHES', 25),
  staleSeconds: positiveNumber(env, 'RECONCILE_STALE_SECONDS', 600),
  githubBudget: positiveNumber(env, 'RECONCILE_GITHUB_BUDGET', 50),
  activeRepositoryHours: positiveNumber(env, 'RECONCILE_ACTIVE_REPOSITORY_HOURS', 6),
  orphanGraceSeconds: positiveNumber(env, 'RECONCILE_ORPHAN_GRACE_SECONDS', 900),
  firstLookbackSeconds: positiveNumber(env, 'RECONCILE_FIRST_LOOKBACK_SECONDS', 3600),
});

export interface PoolMaintenanceEnv {
  readonly aws: AwsConnection;
  readonly leasesTable: string;
  readonly deploymentConfig: string;
  /** The dispatcher's: the maintenance marker goes where a job's credentials would. */
  readonly runnerParameterPrefix: string;
  readonly runnerInstanceArnPrefix: string;
  /** The dispatcher's key, for the same parameters (RUNNER_PARAMETER_KEY_ARN); absent: aws/ssm. */
  readonly runnerParameterKeyArn?: string;
  /** The SSM Command document (infra/ssm-pool-maintenance.yaml) as deployed. */
  readonly documentName: string;
}

export const readPoolMaintenanceEnv = (env: Env = process.env): PoolMaintenanceEnv => {
  const v = required(env, [
    'LEASES_TABLE',
    'DEPLOYMENT_CONFIG',
    'RUNNER_PARAMETER_PREFIX',
    'RUNNER_INSTANCE_ARN_PREFIX',
    'MAINTENANCE_DOCUMENT_NAME',
  ]);
  return {
    aws: readAwsConnection(env),
    leasesTable: v.LEASES_TABLE!,
    deploymentConfig: v.DEPLOYMENT_CONFIG!,
    runnerParameterPrefix: v.RUNNER_PARAMETER_PREFIX!.replace(/\/$/, ''),
    runnerInstanceArnPrefix: v.RUNNER_INSTANCE_ARN_PREFIX!,
    ...optionalKeyArn(env, 'RUNNER_PARAMETER_KEY_ARN'),
    documentName: v.MAINTENANCE_DOCUMENT_NAME!,
  };
};

export interface DeployNotifierEnv {
  readonly aws: AwsConnection;
  /** Per-run message state (DeployNotificationsTable). */
  readonly notificationsTable: string;
  /** The deployment config (YAML or JSON text): `notifications`, `slack`, `pools`, `github.apiUrl`. */
  readonly deploymentConfig: string;
  /**
   * How long one worker may hold a run's render lock: above the function's timeout, below the
   * queue's visibility timeout (serverless.yml, infra/resources.yml). @default 60
   */
  readonly renderLockSeconds: number;
}

export const readDeployNotifierEnv = (env: Env = process.env): DeployNotifierEnv => {
  const v = required(env, ['NOTIFICATIONS_TABLE', 'DEPLOYMENT_CONFIG']);
  return {
    aws: readAwsConnection(env),
    notificationsTable: v.NOTIFICATIONS_TABLE!,
    deploymentConfig: v.DEPLOYMENT_CONFIG!,
    renderLockSeconds: positiveNumber(env, 'NOTIFY_RENDER_LOCK_SECONDS', 60),
  };
};

/**
 * The failover state machine's task functions (functions/ghes-failover-*). Each reads only what its
 * role allows it to use: the control function the bus for alerts, the appliance and promote
 * functions the SSM documents and the output bucket, the DNS function neither.
 */
export type FailoverTaskFunction = 'control' | 'appliance' | 'promote' | 'dns';

export interface FailoverTaskEnv {
  readonly aws: AwsConnection;
  /** Locks, approvals, topology and the progress records (OperationsTable). */
  readonly operationsTable: string;
  /** Each step's result and the outcome (AuditTable). */
  readonly auditTable: string;
  /** The deployment config (YAML or JSON text): `operations`, `slack`. */
  readonly deploymentConfig: string;
  /** control: the control-plane bus, where "needs an operator" alerts go. */
  readonly eventBusName?: string;
  /** appliance, promote: SSM document names, JSON (see shared/ghes/commands.ts). */
  readonly ghesDocuments?: string;
  /** appliance, promote: where SSM writes output beyond its inline limits. */
  readonly commandOutputBucket?: string;
}

const FAILOVER_TASK_KEYS: Record<FailoverTaskFunction, readonly string[]> = {
  control: ['EVENT_BUS_NAME'],
  appliance: ['GHES_DOCUMENTS', 'COMMAND_OUTPUT_BUCKET'],
  promote: ['GHES_DOCUMENTS', 'COMMAND_OUTPUT_BUCKET'],
  dns: [],
};

export const readFailoverTaskEnv = (fn: FailoverTaskFunction, env: Env = process.env): FailoverTaskEnv => {
  const v = required(env, [
    'OPERATIONS_TABLE',
    'AUDIT_TABLE',
    'DEPLOYMENT_CONFIG',
    ...FAILOVER_TASK_KEYS[fn],
  ]);
  return {
    aws: readAwsConnection(env),
    operationsTable: v.OPERATIONS_TABLE!,
    auditTable: v.AUDIT_TABLE!,
    deploymentConfig: v.DEPLOYMENT_CONFIG!,
    ...(v.EVENT_BUS_NAME ? { eventBusName: v.EVENT_BUS_NAME } : {}),
    ...(v.GHES_DOCUMENTS ? { ghesDocuments: v.GHES_DOCUMENTS } : {}),
    ...(v.COMMAND_OUTPUT_BUCKET ? { commandOutputBucket: v.COMMAND_OUTPUT_BUCKET } : {}),
  };
};

export interface SlackIngressEnv {
  readonly aws: AwsConnection;
  /**
   * Secrets Manager secret holding the Slack app's signing secret. Required: without it no request
   * can be verified, so the function refuses to start rather than answer anything.
   */
  readonly signingSecretArn: string;
  /** Locks, approvals and the topology record (OperationsTable). */
  readonly operationsTable: string;
  /** Who asked for what and how it ended (AuditTable). */
  readonly auditTable: string;
  /** The deployment config (YAML or JSON text): `operations`, `slack.apiUrl`. */
  readonly deploymentConfig: string;
}

const readSlackIngress = (env: Env, extra: readonly string[]) => {
  const v = required(env, [
    'SLACK_SIGNING_SECRET_ARN',
    'OPERATIONS_TABLE',
    'AUDIT_TABLE',
    'DEPLOYMENT_CONFIG',
    ...extra,
  ]);
  return {
    v,
    common: {
      aws: readAwsConnection(env),
      signingSecretArn: v.SLACK_SIGNING_SECRET_ARN!,
      operationsTable: v.OPERATIONS_TABLE!,
      auditTable: v.AUDIT_TABLE!,
      deploymentConfig: v.DEPLOYMENT_CONFIG!,
    },
  };
};

export interface SlackCommandEnv extends SlackIngressEnv {
  /** The failover state machine `/ghes failover` starts. */
  readonly failoverStateMachineArn: string;
}

export const readSlackCommandEnv = (env: Env = process.env): SlackCommandEnv => {
  const { v, common } = readSlackIngress(env, ['FAILOVER_STATE_MACHINE_ARN']);
  return { ...common, failoverStateMachineArn: v.FAILOVER_STATE_MACHINE_ARN! };
};

/** Approve/Abort clicks answer a waiting task by its token: no state machine ARN needed. */
export const readSlackInteractionEnv = (env: Env = process.env): SlackIngressEnv =>
  readSlackIngress(env, []).common;
