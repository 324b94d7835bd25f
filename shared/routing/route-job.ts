import picomatch from 'picomatch';
import type { PoolConfig } from '../config/deployment-config.ts';

/**
 * Decides where a queued `workflow_job` runs. Pure: no I/O, so the dispatcher can call it per job
 * and tests can cover every rule without AWS.
 */

/** The fields of a `WorkflowJobEvent` that routing reads. */
export interface RoutableJob {
  readonly labels: readonly string[];
  readonly workflowName: string | null;
  /** `owner/repo` */
  readonly repository: string;
  readonly headBranch: string | null;
  readonly runId: number;
  readonly runAttempt: number;
}

/** What a job may change about its build through AWS's modifier labels, as its pool allows. */
export interface CodeBuildOverrides {
  readonly computeType?: string;
  readonly image?: string;
  readonly environmentType?: string;
  readonly fleetArn?: string;
  /** `buildspec-override:true`: the project's install/pre_build/post_build phases run around the runner. */
  readonly projectBuildspec?: boolean;
}

export type Route =
  /** `overrides`: only for the pool the label scheme chose; its fallbacks launch as configured. */
  | { readonly kind: 'pool'; readonly pool: PoolConfig; readonly overrides?: CodeBuildOverrides }
  | { readonly kind: 'unmatched'; readonly reason: string };

export interface Router {
  route(job: RoutableJob): Route;
  /** The pool with this name, for following `fallback`. */
  pool(name: string): PoolConfig | undefined;
}

/** A reason is logged and stored on the job record; a bounded length keeps both readable. */
const maxReason = 200;

/** `instance-size:<size>` values AWS documents for its CodeBuild-hosted runners. */
const computeTypes: Readonly<Record<string, string>> = {
  small: 'BUILD_GENERAL1_SMALL',
  medium: 'BUILD_GENERAL1_MEDIUM',
  large: 'BUILD_GENERAL1_LARGE',
  xlarge: 'BUILD_GENERAL1_XLARGE',
  '2xlarge': 'BUILD_GENERAL1_2XLARGE',
};

/*
 * `codebuild-<project>-<run_id>-<run_attempt>`. Digits hold no dash, so the anchored tail takes the
 * last two fields as the ids whatever dashes the project name has. The name's character class is
 * CodeBuild's own rule, so a stray label cannot name something that is not a project.
 */
const codebuildLabel = /^codebuild-([A-Za-z0-9][A-Za-z0-9_-]{1,254})-(\d+)-(\d+)$/i;

/** The modifier labels of AWS's scheme (https://docs.aws.amazon.com/codebuild/latest/userguide/sample-github-action-runners-update-labels.html). */
const MODIFIERS = ['image', 'instance-size', 'fleet', 'buildspec-override'] as const;
type Modifier = (typeof MODIFIERS)[number];

type Matcher = (value: string) => boolean;

interface CompiledPool {
  readonly config: PoolConfig;
  readonly labels: ReadonlySet<string>;
  readonly workflowName?: RegExp;
  readonly repositories?: Matcher;
  readonly branches?: Matcher;
}

/*
 * `windows: false`: repositories and branches are always slash-separated, whatever the host OS.
 * `dot: true`: `acme/.github` is an ordinary repository and must match `acme/*`.
 */
const globs = (patterns: readonly string[] | undefined, nocase: boolean): Matcher | undefined =>
  patterns === undefined ? undefined : picomatch([...patterns], { dot: true, nocase, windows: false });

const compile = (config: PoolConfig): CompiledPool => ({
  config,
  labels: new Set(config.labels.map((label) => label.toLowerCase())),
  // Same flags as the config cross-check, so a pattern that passed validation compiles here.
  workflowName: config.workflowName === undefined ? undefined : new RegExp(config.workflowName),
  // GitHub treats owner and repository names case-insensitively; git branch names are not.
  repositories: globs(config.repositories, true),
  branches: globs(config.branches, false),
});

const list = (values: readonly string[]): string => `[${values.join(', ')}]`;

const clip = (text: string): string => (text.length <= maxReason ? text : `${text.slice(0, maxReason - 1)}…`);

/** Undefined when the filters admit the job; otherwise why they do not. */
const excludedBy = (pool: CompiledPool, job: RoutableJob): string | undefined => {
  const { config } = pool;
  if (pool.workflowName) {
    if (job.workflowName === null) return `job has no workflow name (filter ${config.workflowName})`;
    if (!pool.workflowName.test(job.workflowName))
      return `workflow name "${job.workflowName}" does not match ${config.workflowName}`;
  }
  if (pool.repositories && !pool.repositories(job.repository))
    return `repository "${job.repository}" matches none of ${list(config.repositories!)}`;
  if (pool.branches) {
    if (job.headBranch === null) return `job has no head branch (filter ${list(config.branches!)})`;
    if (!pool.branches(job.headBranch))
      return `branch "${job.headBranch}" matches none of ${list(config.branches!)}`;
  }
  return undefined;
};

const splitModifier = (label: string): [Modifier, string] | undefined => {
  const colon = label.indexOf(':');
  if (colon < 0) return undefined;
  const key = label.slice(0, colon).toLowerCase();
  return (MODIFIERS as readonly string[]).includes(key)
    ? [key as Modifier, label.slice(colon + 1)]
    : undefined;
};

/** The project named by a label `codebuild-<project>-<run_id>-<run_attempt>` of this very run. */
const schemeProjectOf = (job: RoutableJob): string | undefined => {
  for (const label of job.labels) {
    const match = codebuildLabel.exec(label);
    // String comparison, so `0042` does not pass for run 42: AWS writes the ids unpadded.
    if (match && match[2] === String(job.runId) && match[3] === String(job.runAttempt)) return match[1];
  }
  return undefined;
};

/**
 * The overrides a scheme job asks for, if the pool allows every one of them; otherwise why not.
 * Whoever writes the workflow writes these labels: they pick among what the operator listed, never more.
 */
const overridesFor = (pool: PoolConfig, job: RoutableJob): CodeBuildOverrides | string => {
  const allowed = pool.codebuild!.labelScheme!;
  const chosen = new Map<Modifier, string>();
  for (const label of job.labels) {
    const modifier = splitModifier(label);
    if (!modifier) continue;
    const [key, value] = modifier;
    const earlier = chosen.get(key);
    if (earlier !== undefined && earlier !== value)
      return `labels ask for ${key}:${earlier} and ${key}:${value}`;
    chosen.set(key, value);
  }
  const overrides: { -readonly [K in keyof CodeBuildOverrides]: CodeBuildOverrides[K] } = {};
  for (const [key, value] of chosen) {
    const refuse = (what: string) => `${key}:${value} is not allowed (${what})`;
    if (key === 'buildspec-override') {
      const on = value.toLowerCase();
      if (on !== 'true' && on !== 'false') return refuse('expected true or false');
      if (on === 'true') {
        if (!allowed.buildspecOverride) return refuse('codebuild.labelScheme.buildspecOverride is not set');
        overrides.projectBuildspec = true;
      }
    } else if (key === 'instance-size') {
      const size = value.toLowerCase();
      if (!allowed.instanceSizes?.includes(size as never))
        return refuse(`allowed sizes: ${list(allowed.instanceSizes ?? [])}`);
      overrides.computeType = computeTypes[size];
    } else if (key === 'image') {
      const image = Object.hasOwn(allowed.images ?? {}, value) ? allowed.images![value] : undefined;
      if (!image) return refuse(`allowed images: ${list(Object.keys(allowed.images ?? {}))}`);
      overrides.image = image.image;
      if (image.environmentType) overrides.environmentType = image.environmentType;
    } else {
      const fleetArn = Object.hasOwn(allowed.fleets ?? {}, value) ? allowed.fleets![value] : undefined;
      if (!fleetArn) return refuse(`allowed fleets: ${list(Object.keys(allowed.fleets ?? {}))}`);
      overrides.fleetArn = fleetArn;
    }
  }
  return overrides;
};

/**
 * Compiles every pool's regex and globs once; `route` then does no parsing per job.
 * Throws if a `workflowName` is not a valid regex (`crossCheckPools` rejects such configs first).
 *
 * Rules: a label `codebuild-<project>-<run_id>-<run_attempt>` for this run (AWS's CodeBuild runner
 * scheme) goes only to a pool whose `codebuild.labelScheme` enables that project, and only if the
 * pool's filters admit the job and it allows every modifier label the job carries; other labels of
 * such a job become its runner's labels. Otherwise a pool matches when every job label is one of its labels (case-insensitive, GitHub's rule for
 * self-hosted runners) and its workflowName/repositories/branches filters, where set, admit the job.
 * Highest priority wins; ties go to the pool listed first. A job without labels matches nothing.
 */
export const createRouter = (pools: readonly PoolConfig[]): Router => {
  // Array.prototype.sort is stable, so equal priorities keep config order.
  const ordered = pools.map(compile).sort((a, b) => b.config.priority - a.config.priority);
  const byName = new Map(pools.map((pool) => [pool.name, pool]));

  /** Pools that opted in to the label scheme, by project, highest priority first. */
  const schemePools = new Map<string, CompiledPool[]>();
  for (const pool of ordered) {
    const settings = pool.config.provider === 'codebuild' ? pool.config.codebuild : undefined;
    if (!settings?.labelScheme) continue;
    schemePools.set(settings.project, [...(schemePools.get(settings.project) ?? []), pool]);
  }

  /** A scheme job goes through the pool that enables its project like any other job: filters first. */
  const routeScheme = (job: RoutableJob, project: string): Route => {
    const candidates = schemePools.get(project);
    if (!candidates)
      return {
        kind: 'unmatched',
        reason: clip(
          `label codebuild-${project}-…: no pool enables the label scheme for CodeBuild project ${project}`,
        ),
      };
    let firstRefusal: string | undefined;
    for (const pool of candidates) {
      const exclusion = excludedBy(pool, job);
      const overrides = exclusion ?? overridesFor(pool.config, job);
      if (typeof overrides !== 'string') return { kind: 'pool', pool: pool.config, overrides };
      firstRefusal ??= `pool ${pool.config.name}: ${overrides}`;
    }
    return { kind: 'unmatched', reason: clip(`label scheme for ${project}: ${firstRefusal}`) };
  };

  const route = (job: RoutableJob): Route => {
    // Without this guard an empty label list is a subset of every pool and would steal jobs.
    if (job.labels.length === 0)
      return { kind: 'unmatched', reason: 'job has no labels; it matches no pool' };
    const project = schemeProjectOf(job);
    if (project !== undefined) return routeScheme(job, project);

    const wanted = job.labels.map((label) => label.toLowerCase());
    let firstExclusion: string | undefined;
    let exclusions = 0;
    for (const pool of ordered) {
      if (!wanted.every((label) => pool.labels.has(label))) continue;
      const exclusion = excludedBy(pool, job);
      if (exclusion === undefined) return { kind: 'pool', pool: pool.config };
      firstExclusion ??= `pool ${pool.config.name}: ${exclusion}`;
      exclusions++;
    }
    const labels = `labels ${list(job.labels)}`;
    if (firstExclusion === undefined) return { kind: 'unmatched', reason: clip(`${labels} matched no pool`) };
    // The highest-priority exclusion is the one an operator most likely meant the job for.
    const others = exclusions > 1 ? ` (+${exclusions - 1} more pools excluded by filters)` : '';
    return { kind: 'unmatched', reason: clip(`${firstExclusion}${others}; ${labels}`) };
  };

  return { route, pool: (name) => byName.get(name) };
};
