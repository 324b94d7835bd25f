import * as z from 'zod/mini';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../http/errors.ts';
import { describeIssue } from './describe-issue.ts';

/**
 * One YAML file describes a deployment: the GHES it serves, the GitHub App, and the runner pools.
 * Objects are strict so a typo (`maxConcurent`) is an error, not a silently ignored key.
 */
const nonEmpty = z.string().check(z.minLength(1, 'expected a non-empty string'));
const arn = z.string().check(z.regex(/^arn:aws[\w-]*:/, 'expected an ARN (arn:aws:…)'));

const codebuildSettings = z.strictObject({
  /** CodeBuild project that runs the runner buildspec. */
  project: nonEmpty,
  /** e.g. BUILD_GENERAL1_MEDIUM; the project's own when unset. */
  computeType: z.optional(nonEmpty),
  image: z.optional(nonEmpty),
  environmentType: z.optional(nonEmpty),
});

const ec2WakeSettings = z.strictObject({
  /** Tag that marks the pool's stopped instances. @default `ghes-cp:pool` = the pool name */
  tagKey: z.optional(nonEmpty),
  tagValue: z.optional(nonEmpty),
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
});

export const deploymentConfigSchema = z.strictObject({
  region: z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as eu-west-1')),
  github: z.strictObject({
    /** GHES REST API base, `https://<host>/api/v3`. */
    apiUrl: z.string().check(z.regex(/^https?:\/\/[^/]+(\/.*)?$/, 'expected an http(s) URL')),
    appId: z.number().check(z.int(), z.positive()),
    privateKeySecretArn: arn,
    webhookSecretArn: arn,
    /** PEM bundle trusted in addition to the system CAs (an internal CA in front of GHES). */
    caBundleSecretArn: z.optional(arn),
    /** Register runners on the organisation or on each repository. @default org */
    runnerScope: z._default(z.enum(['org', 'repo']), 'org'),
    /** Runner group for pools that name none; 1 is GHES's "Default" group. @default 1 */
    runnerGroupId: z._default(z.number().check(z.int(), z.positive()), 1),
  }),
  pools: z._default(z.array(poolSchema), []),
});

export type DeploymentConfig = z.infer<typeof deploymentConfigSchema>;
export type PoolConfig = z.infer<typeof poolSchema>;

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
    document = parseYaml(text);
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
  parseYamlConfig(text, deploymentConfigSchema, source, (config) => crossCheckPools(config.pools));
