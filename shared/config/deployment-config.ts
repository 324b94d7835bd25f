import * as z from 'zod/mini';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../http/errors.ts';
import { describeIssue } from './describe-issue.ts';
import { eventBridgeCronProblem } from '../maintenance/eventbridge-cron.ts';
import { arn, nonEmpty, secretArn } from './schema-primitives.ts';
import { crossCheckOperations, operationsSchema } from './operations-config.ts';
import {
  crossCheckInfrastructure,
  ingressSchema,
  kmsSchema,
  networkSchema,
} from './infrastructure-config.ts';

/**
 * One YAML file describes a deployment: the GHES it serves, the GitHub App, and the runner pools.
 * Objects are strict so a typo (`maxConcurent`) is an error, not a silently ignored key.
 */
/** `instance-size:<size>` values of AWS's CodeBuild runner labels. */
export const INSTANCE_SIZES = ['small', 'medium', 'large', 'xlarge', '2xlarge'] as const;

/**
 * Opt-in to AWS's CodeBuild runner label scheme for this pool's project: a job labelled
 * `codebuild-<project>-<run_id>-<run_attempt>` is routed here (and then through the pool like any other
 * job). Each modifier label a workflow may add is allowed only when its key is present, and only with
 * the values listed: a workflow author picks among what the operator allows, never more.
 */
const labelSchemeSettings = z.strictObject({
  /** `image:<value>` → the image (and environment type) the value stands for. */
  images: z.optional(
    z.record(nonEmpty, z.strictObject({ image: nonEmpty, environmentType: z.optional(nonEmpty) })),
  ),
  /** `instance-size:<size>` values allowed. */
  instanceSizes: z.optional(z.array(z.enum(INSTANCE_SIZES))),
  /** `fleet:<name>` → the reserved-capacity fleet's ARN. */
  fleets: z.optional(z.record(nonEmpty, arn)),
  /** `buildspec-override:true` runs the project's own install/pre_build/post_build phases around the runner. */
  buildspecOverride: z.optional(z.boolean()),
});

const codebuildSettings = z.strictObject({
  /** CodeBuild project that runs the runner buildspec. */
  project: nonEmpty,
  /** e.g. BUILD_GENERAL1_MEDIUM; the project's own when unset. */
  computeType: z.optional(nonEmpty),
  image: z.optional(nonEmpty),
  environmentType: z.optional(nonEmpty),
  /** AWS's `codebuild-<project>-<run_id>-<run_attempt>` labels route here. @default off */
  labelScheme: z.optional(labelSchemeSettings),
});

const ec2WakeSettings = z.strictObject({
  /**
   * Value of the `ghes-cp:pool` tag that marks the pool's stopped instances. The key is fixed: the
   * dispatcher's IAM policy may start only instances carrying it. @default the pool name
   */
  tagValue: z.optional(nonEmpty),
});

/** What the pool-maintenance SSM document can do (infra/ssm-pool-maintenance.yaml). */
export const MAINTENANCE_TASKS = ['disk-reclaim', 'runner-update', 'os-update'] as const;

/**
 * Scheduled upkeep of an ec2-wake pool's stopped instances (state-machines/pool-maintenance.asl.json).
 * Every value here reaches the instance only as a typed SSM document parameter with an
 * `allowedPattern`, so the patterns below are the same ones the document enforces.
 */
const maintenanceSettings = z.strictObject({
  /** EventBridge cron, outside busy hours, e.g. `cron(0 3 ? * SUN *)` (UTC). */
  schedule: z.string().check(
    z.refine((value) => eventBridgeCronProblem(value) === undefined, {
      error: (issue) => eventBridgeCronProblem(String(issue.input)) ?? 'expected a cron expression',
    }),
  ),
  /** Instances woken at once; the rest of the pool stays ready for jobs. @default 2 */
  batchSize: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(10)), 2),
  tasks: z.array(z.enum(MAINTENANCE_TASKS)).check(
    z.minLength(1, 'expected at least one task'),
    z.refine((tasks) => new Set(tasks).size === tasks.length, 'expected each task once'),
  ),
  /** Actions runner version for `runner-update`, e.g. 2.321.0. */
  runnerVersion: z.optional(
    z.string().check(z.regex(/^2\.\d{1,4}\.\d{1,4}$/, 'expected an Actions runner version such as 2.321.0')),
  ),
  /** SHA-256 of `actions-runner-linux-<arch>-<version>.tar.gz` (from the release notes), for `runner-update`. */
  runnerSha256: z.optional(z.string().check(z.regex(/^[a-f0-9]{64}$/, 'expected 64 lowercase hex digits'))),
  /**
   * The whole run's budget: leases last this long, so an instance a failed run left claimed is
   * free again after it, and each instance's command is cut off well inside it. @default 60
   */
  budgetMinutes: z._default(z.number().check(z.int(), z.minimum(10), z.maximum(720)), 60),
});

export const poolSchema = z.strictObject({
  name: z
    .string()
    .check(z.regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected lowercase letters, digits and dashes')),
  provider: z.enum(['codebuild', 'ec2-wake']),
  /** A job matches when every one of its labels is in this list (case-insensitive, GitHub's rule). */
  labels: z.array(nonEmpty).check(z.minLength(1, 'expected at least one label')),
  /** Regular expression on the workflow name, e.g. `^(action.*dev-deploy)$`. */
  workflowName: z.optional(nonEmpty),
  /** Globs on `owner/repo`. */
  repositories: z.optional(z.array(nonEmpty)),
  /** Globs on the head branch. */
  branches: z.optional(z.array(nonEmpty)),
  /** Higher wins; then config order. @default 0 */
  priority: z._default(z.number().check(z.int()), 0),
  maxConcurrent: z.number().check(z.int(), z.positive()),
  /** Pool to try when this one has no capacity. */
  fallback: z.optional(nonEmpty),
  /** Role to assume for this pool's resources (another account). */
  roleArn: z.optional(arn),
  /**
   * GHES runner group the pool's runners join, so only the repositories that group allows can use
   * them (a production-deploy pool, say). @default github.runnerGroupId
   */
  runnerGroupId: z.optional(z.number().check(z.int(), z.positive())),
  /** Minutes a woken instance may sit idle before it is stopped. @default 10 */
  idleMinutes: z._default(z.number().check(z.positive()), 10),
  codebuild: z.optional(codebuildSettings),
  ec2: z.optional(ec2WakeSettings),
  /** Scheduled upkeep of the pool's stopped instances (ec2-wake only). */
  maintenance: z.optional(maintenanceSettings),
});

const hookDeliveriesSchema = z.discriminatedUnion(
  'source',
  [
    z.strictObject({ source: z.literal('app') }),
    z.strictObject({
      source: z.literal('org'),
      org: nonEmpty,
      hookId: z.number().check(z.int(), z.positive()),
    }),
  ],
  { error: 'expected source: app, or source: org with org and hookId' },
);
/** The Slack app the control plane posts as. */
const slackSettings = z.strictObject({
  /** Secret holding the bot token (`xoxb-…`), as a plain string. */
  botTokenSecretArn: secretArn,
  /** Web API base; the sandbox points it at its loopback Slack. @default https://slack.com/api/ */
  apiUrl: z.optional(z.string().check(z.regex(/^https?:\/\/[^/]+(\/.*)?$/, 'expected an http(s) URL'))),
});

/**
 * A deploy-notification rule: the runs it selects get one Slack message, edited as their jobs move.
 * `workflow`, `repositories` and `branches` select runs; `pools` selects jobs within them.
 */
export const notificationRuleSchema = z.strictObject({
  name: nonEmpty,
  /** Regular expression on the workflow name, e.g. `-deploy$`. */
  workflow: nonEmpty,
  /** Globs on `owner/repo`, as a pool's `repositories` (case-insensitive). */
  repositories: z.optional(z.array(nonEmpty)),
  /** Globs on the head branch, as a pool's `branches`. */
  branches: z.optional(z.array(nonEmpty)),
  /** Only jobs routed to one of these pools are shown (and only they start a message). */
  pools: z.optional(z.array(nonEmpty).check(z.minLength(1, 'expected at least one pool'))),
  /** A channel ID (`C0123ABCD`) or name (`#deploys`) the bot has been invited to. */
  channel: z
    .string()
    .check(z.regex(/^(#[a-z0-9_-]{1,80}|[CG][A-Z0-9]{2,})$/, 'expected a channel ID (C…) or #name')),
  /** Slack mention added when a job fails: `<!subteam^S0123ABCD>`, `<@U0123ABCD>`, `<!here>`. */
  mentionOnFailure: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^<(!subteam\^[A-Z0-9]+|@[UW][A-Z0-9]+|!here|!channel)>$/,
          'expected a Slack mention such as <!subteam^S0123ABCD> or <@U0123ABCD>',
        ),
      ),
  ),
});

export const deploymentConfigSchema = z.strictObject({
  region: z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as eu-west-1')),
  github: z.strictObject({
    /** GHES REST API base, `https://<host>/api/v3`. */
    apiUrl: z.string().check(z.regex(/^https?:\/\/[^/]+(\/.*)?$/, 'expected an http(s) URL')),
    appId: z.number().check(z.int(), z.positive()),
    privateKeySecretArn: secretArn,
    webhookSecretArn: secretArn,
    /** PEM bundle trusted in addition to the system CAs (an internal CA in front of GHES). */
    caBundleSecretArn: z.optional(secretArn),
    /** Register runners on the organisation or on each repository. @default org */
    runnerScope: z._default(z.enum(['org', 'repo']), 'org'),
    /** Runner group for pools that name none; 1 is GHES's "Default" group. @default 1 */
    runnerGroupId: z._default(z.number().check(z.int(), z.positive()), 1),
    /**
     * The hook delivery log the reconciler reads to redeliver failed `workflow_job` deliveries: the
     * App's own hook (App JWT) or an organisation hook (`organization_hooks` read & write). Absent:
     * no redelivery.
     */
    hookDeliveries: z.optional(hookDeliveriesSchema),
  }),
  pools: z._default(z.array(poolSchema), []),
  slack: z.optional(slackSettings),
  /** Deploy notifications in Slack; needs `slack`. */
  notifications: z._default(z.array(notificationRuleSchema), []),
  /** GHES operations from Slack (failover); needs `slack`. */
  operations: z.optional(operationsSchema),
  /** The VPC the GHES-facing functions run in; absent: no VPC (shared/config/infrastructure-config.ts). */
  network: z.optional(networkSchema),
  /** How GHES reaches the webhook. @default { mode: public } */
  ingress: z._default(ingressSchema, { mode: 'public' }),
  /** Customer-managed KMS keys; absent: AWS-managed keys. */
  kms: z.optional(kmsSchema),
});

export type DeploymentConfig = z.infer<typeof deploymentConfigSchema>;
export type NotificationRuleConfig = z.infer<typeof notificationRuleSchema>;

/** Rules that need the whole document: unique names, a regex that compiles, pools that exist, a Slack app. */
export const crossCheckNotifications = (
  config: Pick<DeploymentConfig, 'notifications' | 'pools' | 'slack'>,
  at = 'notifications',
): string[] => {
  const problems: string[] = [];
  const pools = new Set(config.pools.map((pool) => pool.name));
  const names = new Map<string, number>();
  config.notifications.forEach((rule, i) => {
    if (names.has(rule.name))
      problems.push(`${at}[${i}].name: "${rule.name}" is already used by ${at}[${names.get(rule.name)}]`);
    else names.set(rule.name, i);
    try {
      new RegExp(rule.workflow);
    } catch (error) {
      problems.push(`${at}[${i}].workflow: not a valid regular expression (${(error as Error).message})`);
    }
    (rule.pools ?? []).forEach((pool, j) => {
      if (!pools.has(pool)) problems.push(`${at}[${i}].pools[${j}]: no pool named "${pool}"`);
    });
  });
  if (config.notifications.length > 0 && !config.slack)
    problems.push(`slack: required when notifications are configured (slack.botTokenSecretArn)`);
  return problems;
};
export type PoolConfig = z.infer<typeof poolSchema>;

export type MaintenanceConfig = NonNullable<PoolConfig['maintenance']>;

const maintenanceProblems = (pool: PoolConfig, at: string): string[] => {
  const { maintenance } = pool;
  if (!maintenance) return [];
  if (pool.provider !== 'ec2-wake') return [`${at}: only for provider ec2-wake`];
  // The maintenance role acts in the home account only; another account's instances are not its own.
  if (pool.roleArn) return [`${at}: not supported for a pool with roleArn (instances in another account)`];
  const updates = maintenance.tasks.includes('runner-update');
  return [
    ...(updates && !maintenance.runnerVersion ? [`${at}.runnerVersion: required for runner-update`] : []),
    ...(updates && !maintenance.runnerSha256 ? [`${at}.runnerSha256: required for runner-update`] : []),
    ...(!updates && maintenance.runnerVersion ? [`${at}.runnerVersion: only with runner-update`] : []),
  ];
};

/** Checks that need the whole document: unique names, fallbacks that exist and do not loop, regexes that compile. */
export const crossCheckPools = (pools: readonly PoolConfig[], at = 'pools'): string[] => {
  const problems: string[] = [];
  const byName = new Map<string, number>();
  pools.forEach((pool, i) => {
    if (byName.has(pool.name))
      problems.push(`${at}[${i}].name: "${pool.name}" is already used by ${at}[${byName.get(pool.name)}]`);
    else byName.set(pool.name, i);
    if (pool.workflowName !== undefined) {
      try {
        new RegExp(pool.workflowName);
      } catch (error) {
        problems.push(
          `${at}[${i}].workflowName: not a valid regular expression (${(error as Error).message})`,
        );
      }
    }
    if (pool.provider === 'codebuild' && !pool.codebuild) {
      problems.push(`${at}[${i}].codebuild: required when provider is codebuild`);
    }
    if (pool.provider !== 'codebuild' && pool.codebuild) {
      problems.push(`${at}[${i}].codebuild: only for provider codebuild`);
    }
    if (pool.provider !== 'ec2-wake' && pool.ec2) {
      problems.push(`${at}[${i}].ec2: only for provider ec2-wake`);
    }
    problems.push(...maintenanceProblems(pool, `${at}[${i}].maintenance`));
  });
  pools.forEach((pool, i) => {
    if (pool.fallback === undefined) return;
    if (!byName.has(pool.fallback)) {
      problems.push(`${at}[${i}].fallback: no pool named "${pool.fallback}"`);
      return;
    }
    const seen = new Set([pool.name]);
    for (let next: PoolConfig | undefined = pool; next?.fallback !== undefined;) {
      if (seen.has(next.fallback)) {
        problems.push(`${at}[${i}].fallback: fallbacks loop back to "${next.fallback}"`);
        break;
      }
      seen.add(next.fallback);
      next = pools[byName.get(next.fallback)!];
    }
  });
  return problems;
};

/** A pool that looks like it deploys: another account's role, or a name that says so. */
const deploysLike = /deploy|prd|prod/i;

/**
 * Things that are valid but probably not what the operator meant; printed by `npm run package` and
 * logged at the dispatcher's cold start. Workflow names, branches and repository names are written by
 * whoever writes the workflow, so they select a pool but keep nobody out: only a GHES runner group
 * (which repositories may use its runners, enforced by GHES) does.
 */
export const configWarnings = (config: Pick<DeploymentConfig, 'pools'>, at = 'pools'): string[] =>
  config.pools.flatMap((pool, i) => {
    const deploys = pool.roleArn !== undefined || deploysLike.test(pool.name);
    if (!deploys || pool.runnerGroupId !== undefined) return [];
    const guards = ['workflowName', 'repositories', 'branches'].filter(
      (key) => pool[key as keyof PoolConfig] !== undefined,
    );
    const guardedBy = guards.length ? `only by ${guards.join(', ')}, which` : 'by nothing but labels, which';
    return [
      `${at}[${i}] (${pool.name}): looks like it deploys (${pool.roleArn ? 'roleArn' : 'its name'}) but is guarded ${guardedBy} the workflow's author chooses; set runnerGroupId to a GHES runner group that only the repositories allowed to deploy can use`,
    ];
  });

/**
 * JSON is YAML too. The Lambdas get their config as JSON (serverless.yml's DEPLOYMENT_CONFIG,
 * written by JSON.stringify), which `JSON.parse` reads at once where the YAML parser took ~10% of
 * the dispatcher's cold start. (One difference: of a key given twice in JSON, the last counts.)
 */
const parseJsonOrYaml = (text: string): unknown => {
  if (text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // Not JSON after all (a YAML flow mapping): the YAML parser reads it, or says what is wrong.
    }
  }
  return parseYaml(text);
};

/**
 * Parses and validates a YAML document against `schema`, collecting every problem and throwing once:
 * `sandbox.yaml: pools[1].maxConcurrent: expected a number`.
 */
export const parseYamlConfig = <S extends z.ZodMiniType>(
  text: string,
  schema: S,
  source: string,
  crossCheck: (value: z.infer<S>) => string[] = () => [],
): z.infer<S> => {
  let document: unknown;
  try {
    document = parseJsonOrYaml(text);
  } catch (error) {
    throw new ConfigError(`${source}: not valid YAML: ${(error as Error).message}`);
  }
  const result = z.safeParse(schema, document ?? {});
  const problems = result.success ? crossCheck(result.data) : result.error.issues.map(describeIssue);
  if (problems.length > 0) {
    throw new ConfigError(
      `${source}: ${problems.length} problem${problems.length > 1 ? 's' : ''}\n  ${problems.join('\n  ')}`,
    );
  }
  return result.data as z.infer<S>;
};

export const parseDeploymentConfig = (text: string, source: string): DeploymentConfig =>
  parseYamlConfig(text, deploymentConfigSchema, source, (config) => [
    ...crossCheckPools(config.pools),
    ...crossCheckNotifications(config),
    ...crossCheckOperations(config.operations, config.slack !== undefined),
    ...crossCheckInfrastructure(config),
  ]);
