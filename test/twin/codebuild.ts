import { randomUUID } from 'node:crypto';
import { TwinAwsError, type TwinAwsService } from './aws-endpoint.ts';
import type { TwinClock } from './clock.ts';

/**
 * CodeBuild (JSON 1.1, target prefix CodeBuild_20161006) for runner builds: a build queues,
 * provisions, then sits in BUILD until the twin decides how the job ends with `finish`, because a
 * runner build's length is the job's, which only the simulated GitHub side knows.
 */
export type BuildStatus = 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'STOPPED';
export type BuildPhaseType = 'SUBMITTED' | 'QUEUED' | 'PROVISIONING' | 'BUILD' | 'COMPLETED';

export interface BuildView {
  readonly id: string;
  readonly project: string;
  readonly status: BuildStatus;
  readonly currentPhase: BuildPhaseType;
  readonly startTime: Date;
  readonly endTime?: Date;
  readonly environmentVariables: Readonly<Record<string, string>>;
  readonly image: string;
  readonly computeType: string;
  readonly environmentType: string;
  readonly fleetArn: string | null;
  /** The buildspec the build runs (the override, as a runner build always has one). */
  readonly buildspec: string | null;
  readonly jobId?: string;
  /** The account the build runs in (the caller's: a pool's role may act in another account). */
  readonly account: string;
}

/** Called on every status or phase change; `previous` is undefined for a build just started. */
export type BuildStatusListener = (
  view: BuildView,
  previous: { status: BuildStatus; currentPhase: BuildPhaseType } | undefined,
) => void;

export interface CodeBuildTwin extends TwinAwsService {
  list(): BuildView[];
  setJobId(buildId: string, jobId: string | undefined): void;
  onStatusChange(listener: BuildStatusListener): void;
  finish(buildId: string, status: 'SUCCEEDED' | 'FAILED'): void;
  close(): void;
}

export interface CodeBuildTwinOptions {
  readonly clock: TwinClock;
  readonly region: string;
  readonly accountId: string;
  /** The account a caller's access key acts in; every account is given the same projects. */
  readonly accountOf?: (caller: string) => string;
  readonly projects: readonly string[];
  /** Simulated time in QUEUED before a build is picked up. */
  readonly queuedMs?: number;
  /** Simulated time in PROVISIONING before the buildspec runs. */
  readonly provisioningMs?: number;
}

interface EnvironmentVariable {
  name: string;
  value: string;
  type: string;
}

interface PhaseRecord {
  phaseType: BuildPhaseType;
  phaseStatus?: string;
  startTime: Date;
  endTime?: Date;
}

interface Build {
  readonly id: string;
  readonly arn: string;
  readonly project: string;
  readonly buildNumber: number;
  readonly startTime: Date;
  readonly phases: PhaseRecord[];
  /** The `source` and `environment` AWS reports, the project's defaults with the overrides applied. */
  readonly source: { type: string; buildspec?: string };
  readonly environment: {
    type: string;
    image: string;
    computeType: string;
    environmentVariables: EnvironmentVariable[];
    fleet?: { fleetArn: string };
  };
  status: BuildStatus;
  endTime?: Date;
  jobId?: string;
  cancelTimer?: () => void;
  readonly account: string;
}

const IDEMPOTENCY_WINDOW_MS = 5 * 60_000;

/** Every twin project's own buildspec: what `buildspec-override:true` brings into a runner build. */
export const twinProjectBuildspec = (project: string) => `version: 0.2
phases:
  install:
    commands:
      - echo "${project}: install"
  pre_build:
    commands:
      - echo "${project}: pre_build"
  build:
    commands:
      - echo "${project}: the project's own build, which a runner build replaces"
  post_build:
    commands:
      - echo "${project}: post_build"
`;
const epochSeconds = (date: Date) => date.getTime() / 1000;
const invalid = (message: string) => new TwinAwsError('InvalidInputException', message);
const optionalString = (input: Record<string, unknown>, key: string): string | undefined => {
  const value = input[key] ?? undefined;
  if (value !== undefined && typeof value !== 'string') throw invalid(`${key} must be a string`);
  return value;
};

const parseEnvironment = (raw: unknown): EnvironmentVariable[] => {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalid('environmentVariablesOverride must be a list');
  return raw.map((entry: Record<string, unknown>) => {
    if (typeof entry?.name !== 'string' || !entry.name || typeof entry.value !== 'string') {
      throw invalid('Each environment variable needs a non-empty name and a string value');
    }
    return { name: entry.name, value: entry.value, type: optionalString(entry, 'type') ?? 'PLAINTEXT' };
  });
};

const phaseJson = ({ phaseType, phaseStatus, startTime, endTime }: PhaseRecord) => ({
  phaseType,
  ...(phaseStatus ? { phaseStatus } : {}),
  startTime: epochSeconds(startTime),
  ...(endTime
    ? {
        endTime: epochSeconds(endTime),
        durationInSeconds: Math.round((endTime.getTime() - startTime.getTime()) / 1000),
      }
    : {}),
});

export const createCodeBuildTwin = (options: CodeBuildTwinOptions): CodeBuildTwin => {
  const { clock, region, accountId } = options;
  const queuedMs = options.queuedMs ?? 5_000;
  const provisioningMs = options.provisioningMs ?? 10_000;
  const projects = new Set(options.projects);
  const builds = new Map<string, Build>();
  const buildNumbers = new Map<string, number>();
  /** `project␀token` → the build it started; each entry forgets itself after the window. */
  const tokens = new Map<string, { buildId: string; fingerprint: string; expire: () => void }>();
  const listeners: BuildStatusListener[] = [];

  const currentPhase = (build: Build) => build.phases[build.phases.length - 1]!.phaseType;
  const view = (build: Build): BuildView => ({
    id: build.id,
    project: build.project,
    status: build.status,
    currentPhase: currentPhase(build),
    startTime: build.startTime,
    ...(build.endTime ? { endTime: build.endTime } : {}),
    environmentVariables: Object.fromEntries(
      build.environment.environmentVariables.map((v) => [v.name, v.value]),
    ),
    image: build.environment.image,
    computeType: build.environment.computeType,
    environmentType: build.environment.type,
    fleetArn: build.environment.fleet?.fleetArn ?? null,
    buildspec: build.source.buildspec ?? null,
    ...(build.jobId !== undefined ? { jobId: build.jobId } : {}),
    account: build.account,
  });

  /** Closes the current phase with `closing` and opens `next`, telling the listeners. */
  const enterPhase = (build: Build, next: BuildPhaseType, closing = 'SUCCEEDED', status = build.status) => {
    const previous = { status: build.status, currentPhase: currentPhase(build) };
    const now = clock.now();
    Object.assign(build.phases[build.phases.length - 1]!, { phaseStatus: closing, endTime: now });
    build.phases.push({ phaseType: next, startTime: now });
    build.status = status;
    const shown = view(build);
    for (const listener of listeners) listener(shown, previous);
  };

  /** Walks the timed phases; each next step is scheduled before listeners run, so `complete` cancels it. */
  const advance = (build: Build, steps: readonly (readonly [number, BuildPhaseType])[]) => {
    const [step, ...rest] = steps;
    if (!step) return;
    build.cancelTimer = clock.after(step[0], () => {
      build.cancelTimer = undefined;
      advance(build, rest);
      enterPhase(build, step[1]);
    });
  };

  const complete = (build: Build, status: Exclude<BuildStatus, 'IN_PROGRESS'>) => {
    build.cancelTimer?.();
    build.cancelTimer = undefined;
    build.endTime = clock.now();
    enterPhase(build, 'COMPLETED', status, status);
  };

  const toJson = (build: Build) => ({
    id: build.id,
    arn: build.arn,
    buildNumber: build.buildNumber,
    projectName: build.project,
    startTime: epochSeconds(build.startTime),
    ...(build.endTime ? { endTime: epochSeconds(build.endTime) } : {}),
    currentPhase: currentPhase(build),
    buildStatus: build.status,
    buildComplete: build.status !== 'IN_PROGRESS',
    initiator: 'ghes-control-plane',
    timeoutInMinutes: 60,
    queuedTimeoutInMinutes: 480,
    phases: build.phases.map(phaseJson),
    source: build.source,
    environment: build.environment,
  });

  const startBuild = (input: Record<string, unknown>, account: string) => {
    const project = optionalString(input, 'projectName');
    if (!project) throw invalid('projectName must not be empty');
    if (!projects.has(project)) {
      throw new TwinAwsError(
        'ResourceNotFoundException',
        `Project cannot be found: arn:aws:codebuild:${region}:${account}:project/${project}`,
      );
    }
    const buildspec = optionalString(input, 'buildspecOverride');
    const source = {
      type: optionalString(input, 'sourceTypeOverride') ?? 'NO_SOURCE',
      ...(buildspec !== undefined ? { buildspec } : {}),
    };
    const fleet = input.fleetOverride as { fleetArn?: unknown } | undefined;
    if (fleet !== undefined && typeof fleet?.fleetArn !== 'string')
      throw invalid('fleetOverride.fleetArn must be a string');
    const environment = {
      type: optionalString(input, 'environmentTypeOverride') ?? 'LINUX_CONTAINER',
      image: optionalString(input, 'imageOverride') ?? 'aws/codebuild/amazonlinux-x86_64-standard:5.0',
      computeType: optionalString(input, 'computeTypeOverride') ?? 'BUILD_GENERAL1_SMALL',
      environmentVariables: parseEnvironment(input.environmentVariablesOverride),
      ...(fleet ? { fleet: { fleetArn: fleet.fleetArn as string } } : {}),
    };
    const token = optionalString(input, 'idempotencyToken');
    const tokenKey = `${account}\u0000${project}\u0000${token}`;
    const fingerprint = JSON.stringify({ source, environment });
    const earlier = token ? tokens.get(tokenKey) : undefined;
    if (earlier) {
      // AWS documents a "parameter mismatch error"; InvalidInputException is StartBuild's modelled fit.
      if (earlier.fingerprint !== fingerprint) {
        throw invalid(`idempotencyToken ${token} was used with different parameters`);
      }
      return { build: toJson(builds.get(earlier.buildId)!) };
    }

    const buildNumber = (buildNumbers.get(project) ?? 0) + 1;
    buildNumbers.set(project, buildNumber);
    const id = `${project}:${randomUUID()}`;
    const now = clock.now();
    const build: Build = {
      id,
      arn: `arn:aws:codebuild:${region}:${account}:build/${id}`,
      account,
      project,
      buildNumber,
      startTime: now,
      phases: [
        { phaseType: 'SUBMITTED', phaseStatus: 'SUCCEEDED', startTime: now, endTime: now },
        { phaseType: 'QUEUED', startTime: now },
      ],
      source,
      environment,
      status: 'IN_PROGRESS',
    };
    builds.set(id, build);
    if (token) {
      // The window is simulated time, like every AWS-side duration in the twin.
      const expire = clock.after(IDEMPOTENCY_WINDOW_MS, () => tokens.delete(tokenKey));
      tokens.set(tokenKey, { buildId: id, fingerprint, expire });
    }
    advance(build, [
      [queuedMs, 'PROVISIONING'],
      [provisioningMs, 'BUILD'],
    ]);
    const shown = view(build);
    for (const listener of listeners) listener(shown, undefined);
    return { build: toJson(build) };
  };

  const batchGetBuilds = ({ ids }: Record<string, unknown>) => {
    const valid =
      Array.isArray(ids) && ids.length >= 1 && ids.length <= 100 && ids.every((id) => typeof id === 'string');
    if (!valid) throw invalid('ids must be a list of 1 to 100 build ids');
    return {
      builds: ids.filter((id: string) => builds.has(id)).map((id: string) => toJson(builds.get(id)!)),
      buildsNotFound: ids.filter((id: string) => !builds.has(id)),
    };
  };

  /** Newest first by default, 100 ids a page, as AWS pages them. */
  const listBuildsForProject = (input: Record<string, unknown>, account: string) => {
    const project = optionalString(input, 'projectName');
    if (!project || !projects.has(project)) {
      throw new TwinAwsError('ResourceNotFoundException', `Project cannot be found: ${String(project)}`);
    }
    const ascending = optionalString(input, 'sortOrder') === 'ASCENDING';
    const ids = [...builds.values()]
      .filter((build) => build.project === project && build.account === account)
      .sort((a, b) => (ascending ? 1 : -1) * (a.buildNumber - b.buildNumber))
      .map((build) => build.id);
    const start = Number(optionalString(input, 'nextToken') ?? 0);
    const page = ids.slice(start, start + 100);
    return { ids: page, ...(start + 100 < ids.length ? { nextToken: String(start + 100) } : {}) };
  };

  const batchGetProjects = ({ names }: Record<string, unknown>, account: string) => {
    if (!Array.isArray(names) || names.length < 1 || names.length > 100)
      throw invalid('names must be a list of 1 to 100 project names');
    const known = names.filter((name: string) => projects.has(name));
    return {
      projects: known.map((name: string) => ({
        name,
        arn: `arn:aws:codebuild:${region}:${account}:project/${name}`,
        source: { type: 'NO_SOURCE', buildspec: twinProjectBuildspec(name) },
      })),
      projectsNotFound: names.filter((name: string) => !projects.has(name)),
    };
  };

  return {
    id: 'codebuild',
    signingName: 'codebuild',
    protocol: 'json',
    operations: {
      StartBuild: {
        ResourceNotFoundException: 400,
        AccountLimitExceededException: 400,
        InvalidInputException: 400,
        ThrottlingException: 400,
      },
      BatchGetBuilds: { InvalidInputException: 400, ThrottlingException: 400 },
      ListBuildsForProject: {
        InvalidInputException: 400,
        ResourceNotFoundException: 400,
        ThrottlingException: 400,
      },
      BatchGetProjects: { InvalidInputException: 400, ThrottlingException: 400 },
      StopBuild: { InvalidInputException: 400, ResourceNotFoundException: 400, ThrottlingException: 400 },
    },
    async handle({ operation, input, caller }) {
      const account = caller && options.accountOf ? options.accountOf(caller) : accountId;
      switch (operation) {
        case 'StartBuild':
          return startBuild(input, account);
        case 'BatchGetBuilds':
          return batchGetBuilds(input);
        case 'ListBuildsForProject':
          return listBuildsForProject(input, account);
        case 'BatchGetProjects':
          return batchGetProjects(input, account);
        case 'StopBuild': {
          const build = typeof input.id === 'string' ? builds.get(input.id) : undefined;
          if (!build)
            throw new TwinAwsError('ResourceNotFoundException', `Build not found: ${String(input.id)}`);
          // Stopping a finished build leaves it as it ended.
          if (build.status === 'IN_PROGRESS') complete(build, 'STOPPED');
          return { build: toJson(build) };
        }
        default:
          throw new Error(`the CodeBuild twin lists ${operation} but does not handle it`);
      }
    },
    list: () => [...builds.values()].map(view),
    setJobId(buildId, jobId) {
      const build = builds.get(buildId);
      if (!build) throw new Error(`no twin build ${buildId}`);
      if (jobId === undefined) delete build.jobId;
      else build.jobId = jobId;
    },
    onStatusChange(listener) {
      listeners.push(listener);
    },
    finish(buildId, status) {
      const build = builds.get(buildId);
      if (!build) throw new Error(`no twin build ${buildId}`);
      if (build.status !== 'IN_PROGRESS') throw new Error(`build ${buildId} already ended ${build.status}`);
      complete(build, status);
    },
    close() {
      for (const build of builds.values()) build.cancelTimer?.();
      for (const { expire } of tokens.values()) expire();
      tokens.clear();
      listeners.length = 0;
    },
  };
};
