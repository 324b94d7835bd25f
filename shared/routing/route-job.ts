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

export type Route =
  | { readonly kind: 'pool'; readonly pool: PoolConfig }
  /** AWS's native label scheme named the project; no pool config is involved. */
  | {
      readonly kind: 'codebuild-project';
      readonly project: string;
      readonly computeType?: string;
      readonly image?: string;
    }
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

/** AWS's CodeBuild-runner labels; undefined when no label names this very run. */
const codebuildProjectRoute = (job: RoutableJob): Route | undefined => {
  const runId = String(job.runId);
  const runAttempt = String(job.runAttempt);
  let project: string | undefined;
  let computeType: string | undefined;
  let image: string | undefined;
  for (const label of job.labels) {
    const match = codebuildLabel.exec(label);
    // String comparison, so `0042` does not pass for run 42: AWS writes the ids unpadded.
    if (match && project === undefined && match[2] === runId && match[3] === runAttempt) project = match[1];
    const [key, value] = splitOverride(label);
    if (key === 'instance-size') computeType = computeTypes[value.toLowerCase()] ?? computeType;
    else if (key === 'image' && value !== '') image = value;
  }
  if (project === undefined) return undefined;
  return {
    kind: 'codebuild-project',
    project,
    ...(computeType === undefined ? {} : { computeType }),
    ...(image === undefined ? {} : { image }),
  };
};

const splitOverride = (label: string): [string, string] => {
  const colon = label.indexOf(':');
  return colon < 0 ? ['', ''] : [label.slice(0, colon).toLowerCase(), label.slice(colon + 1)];
};

/**
 * Compiles every pool's regex and globs once; `route` then does no parsing per job.
 * Throws if a `workflowName` is not a valid regex (`crossCheckPools` rejects such configs first).
 *
 * Rules: a label `codebuild-<project>-<run_id>-<run_attempt>` for this run wins outright. Otherwise
 * a pool matches when every job label is one of its labels (case-insensitive, GitHub's rule for
 * self-hosted runners) and its workflowName/repositories/branches filters, where set, admit the job.
 * Highest priority wins; ties go to the pool listed first. A job without labels matches nothing.
 */
export const createRouter = (pools: readonly PoolConfig[]): Router => {
  // Array.prototype.sort is stable, so equal priorities keep config order.
  const ordered = pools.map(compile).sort((a, b) => b.config.priority - a.config.priority);
  const byName = new Map(pools.map((pool) => [pool.name, pool]));

  const route = (job: RoutableJob): Route => {
    // Without this guard an empty label list is a subset of every pool and would steal jobs.
    if (job.labels.length === 0)
      return { kind: 'unmatched', reason: 'job has no labels; it matches no pool' };
    const native = codebuildProjectRoute(job);
    if (native) return native;

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
