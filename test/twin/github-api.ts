import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import type { TwinClock } from './clock.ts';
import type { FaultTargetDefinition, InjectedError } from './faults.ts';
import { createHookLog, DELIVER_WEBHOOK_FAULT, type HookLog, type HookTransport } from './github-hook-log.ts';
import { registerHookDeliveryRoutes } from './github-hook-routes.ts';
import { createRateLimits, githubApiFault } from './github-rate-limit.ts';
import { paged, registerRunRoutes } from './github-runs.ts';

/**
 * A loopback GHES REST API and the Actions runners it hands work to. Signed `workflow_job`
 * deliveries the sandbox accepted are its only source of jobs; App auth is checked for real, so a
 * broken JWT or an expired token fails here as it would against GHES.
 */
export interface GithubTwinOptions {
  readonly clock: TwinClock;
  readonly webhookSecret: string;
  /** The App's webhook URL: every delivery goes through here and into the hook log. */
  readonly deliverWebhook: HookTransport;
  readonly appId: number;
  /** Where `github:DeliverWebhook` and `github:Api` faults are defined and taken. */
  readonly faults?: {
    define(target: string, definition: FaultTargetDefinition): void;
    take(target: string, call?: Record<string, string>): InjectedError | undefined;
  };
  /** The id of each org's webhook (`/orgs/{org}/hooks/{id}/deliveries`). @default 1 */
  readonly orgHookId?: number;
  /** `major.minor`, default 3.14; before 3.10 GHES has no JIT runner endpoint. */
  readonly ghesVersion?: string;
  /** Simulated time from launch until the runner is online (default 8 s) and job duration (30 s). */
  readonly bootMs?: number;
  readonly jobMs?: number;
  /** Runner groups beyond Default (id 1), by id. */
  readonly runnerGroups?: Readonly<Record<number, string>>;
}

export type JobStatus = 'queued' | 'waiting' | 'in_progress' | 'completed';
export interface JobView {
  readonly id: number;
  readonly runId: number;
  readonly runAttempt: number;
  readonly repository: string;
  readonly owner: string;
  readonly labels: readonly string[];
  readonly workflowName: string | null;
  readonly headBranch: string | null;
  readonly headSha: string | null;
  readonly name: string | null;
  readonly repositoryId: number | null;
  readonly runnerGroupId: number | null;
  readonly status: JobStatus;
  readonly conclusion: string | null;
  readonly runnerId: number | null;
  readonly runnerName: string | null;
  readonly installationId: number | null;
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
}

/** `offline`: registered, not started; `idle`/`busy`: online; `failed`: never got online. */
export type RunnerState = 'offline' | 'booting' | 'idle' | 'busy' | 'deregistered' | 'failed';
export interface RunnerView {
  readonly id: number | null; // null until a registration-token runner has configured itself
  readonly name: string;
  readonly owner: string;
  readonly repo: string | null; // set for repository-level runners
  readonly labels: readonly string[];
  readonly state: RunnerState;
  readonly jobId: number | null;
  readonly resourceId: string | null;
  readonly failure: string | null;
  /** Organisation runner group; null for repository runners. */
  readonly groupId: number | null;
}

export interface RunnerLaunch {
  encodedJitConfig?: string;
  registrationToken?: string;
  runnerName?: string;
  labels?: string[];
  /** With a registration token: the org, or `owner/repo`, of the URL the runner registers at. */
  owner?: string;
  /** With a registration token: `config.sh --runnergroup`. */
  runnerGroup?: string;
  resourceId: string;
  /** Simulated time an online runner waits for a job before it exits (the boot scripts' watchdog). */
  idleMs?: number;
}

export interface GithubTwin {
  readonly apiUrl: string;
  readonly appId: number;
  readonly privateKeyPem: string;
  observeWebhook(event: string, payload: unknown): void;
  /** Every webhook the twin sends, and the deliveries API over it. */
  readonly hookLog: HookLog;
  /** The sandbox App's installation on `owner` (the one observed, else a stable made-up id). */
  installationIdOf(owner: string): number;
  startRunner(options: RunnerLaunch): void;
  /** Called when a runner exits without a job (idle too long): its machine powers off. */
  onIdleExit(listener: (resourceId: string) => void): void;
  jobs(): JobView[];
  runners(): RunnerView[];
  readonly calls: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

type Json = Record<string, unknown>;
/** What GitHub changes on a job after it is queued, named as in its payload and REST shape. */
type Live = Json & { status: JobStatus; runner_id: unknown; runner_name: unknown; started_at: unknown };
type Job = { id: number; owner: string; repository: string; labels: string[]; installationId: number | null };
type StoredJob = Job & { createdMs: number; seq: number; payload: Json & { workflow_job: Json }; live: Live };
type Runner = { -readonly [K in keyof RunnerView]: RunnerView[K] } & {
  stop?: () => void;
  groupName?: string;
  idleMs?: number;
  cancelIdle?: () => void;
  outbox: Promise<void>;
};
type Scope = { owner: string; repo: string | null };
export type Answer = [status: number, body?: unknown, headers?: Record<string, string>];
export type Handler = (
  params: Record<string, string>,
  scope: Scope,
  body: Json,
  query: URLSearchParams,
) => Answer;
/** Registers `METHOD /path/{param}` with the credential it takes. */
export type RouteTable = (spec: string, auth: 'jwt' | 'token', handle: Handler) => void;

const RANK: Record<JobStatus, number> = { queued: 0, waiting: 0, in_progress: 1, completed: 2 };
const HOUR = 3_600_000;
const DOCS = 'https://docs.github.com/enterprise-server/rest';
const lower = (s: string) => s.toLowerCase();
const text = (v: unknown) => (typeof v === 'string' ? v : null);
const objectOr = (v: unknown): Json =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
const isScalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
/** The named fields of `from` that hold a string, number, boolean or null; nothing nested. */
const scalarsOf = (from: Json, fields: readonly string[]): Json =>
  Object.fromEntries(
    fields.filter((f) => Object.hasOwn(from, f) && isScalar(from[f])).map((f) => [f, from[f]]),
  );
/** The `workflow_job` fields of GitHub's payload that are scalars (labels are kept apart; steps are not kept). */
const JOB_FIELDS = [
  ...['id', 'run_id', 'run_attempt', 'run_url', 'node_id', 'head_sha', 'head_branch', 'url', 'html_url'],
  ...['check_run_url', 'status', 'conclusion', 'created_at', 'started_at', 'completed_at', 'name'],
  ...['workflow_name', 'runner_id', 'runner_name', 'runner_group_id', 'runner_group_name'],
];
const OWNER_FIELDS = ['login', 'id', 'type'];
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'); // as GitHub writes them
const error = (status: number, message: string): Answer => [status, { message, documentation_url: DOCS }];
const NOT_FOUND = error(404, 'Not Found');
/** Hook-style deliveries carry no installation: give the owner an id that is the same every run. */
const derivedInstallationId = (owner: string) =>
  10_000_000 + (createHash('sha256').update(lower(owner)).digest().readUInt32BE(0) % 90_000_000);

export const startGithubTwin = async (options: GithubTwinOptions): Promise<GithubTwin> => {
  const { clock, appId, bootMs = 8000, jobMs = 30000, ghesVersion = '3.14' } = options;
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  // PKCS#1, the format of the key file GitHub lets you download for an App.
  const privateKeyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const [major = 0, minor = 0] = ghesVersion.split('.').map(Number);
  const hasJit = major > 3 || (major === 3 && minor >= 10);
  /** Runner groups of every organisation: GHES's Default (1) and those the options add. */
  const groups = new Map<number, string>([
    [1, 'Default'],
    ...Object.entries(options.runnerGroups ?? {}).map(([id, name]) => [Number(id), name] as [number, string]),
  ]);

  const jobs = new Map<number, StoredJob>();
  const runners: Runner[] = [];
  const installations = new Map<string, { id: number; login: string; type: string }>(); // by lowercase owner
  const repoOwners = new Map<string, string>(); // lowercase full_name → owner (the examples disagree)
  const tokens = new Map<string, { owner: string; expiresAt: number }>();
  const registrationTokens = new Map<string, Scope & { expiresAt: number }>();
  const timers = new Set<() => void>();
  const idleExitListeners: ((resourceId: string) => void)[] = [];
  const calls: GithubTwin['calls'] = [];
  let nextRunnerId = 1;
  let seq = 0;
  let closed = false;
  let apiUrl = '';

  const now = () => clock.now().getTime();
  const after = (simulatedMs: number, fn: () => void) => {
    const cancel = clock.after(simulatedMs, () => {
      timers.delete(cancel);
      fn();
    });
    timers.add(cancel);
    return () => {
      timers.delete(cancel);
      cancel();
    };
  };
  const ownerOf = (s: Scope) => lower((s.repo && repoOwners.get(lower(`${s.owner}/${s.repo}`))) || s.owner);
  const registered = (r: Runner) => r.id !== null && ['offline', 'booting', 'idle', 'busy'].includes(r.state);
  const inScope = (r: Runner, s: Scope) =>
    lower(r.owner) === lower(s.owner) && r.repo === (s.repo && lower(s.repo));
  const nameTaken = (s: Scope, name: string) =>
    runners.some((r) => registered(r) && inScope(r, s) && lower(r.name) === lower(name));
  const addRunner = (fields: Pick<Runner, 'name' | 'owner' | 'labels' | 'state'> & Partial<Runner>) => {
    const runner: Runner = {
      id: null,
      repo: null,
      jobId: null,
      resourceId: null,
      failure: null,
      groupId: null,
      ...fields,
      outbox: Promise.resolve(),
    };
    runners.push(runner);
    return runner;
  };

  /** Why GHES would refuse this App JWT, or null when it would accept it. */
  const jwtProblem = (authorization = ''): string | null => {
    const [, h = '', p = '', s = ''] = /^Bearer\s+([\w-]+)\.([\w-]+)\.([\w-]+)$/i.exec(authorization) ?? [];
    let header: Json, claims: Json;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Json;
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Json;
    } catch {
      return 'A JSON web token could not be decoded';
    }
    const signed = verify('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'));
    if (header.alg !== 'RS256' || !signed) return 'A JSON web token could not be decoded';
    if (String(claims.iss) !== String(appId)) return "'Issuer' claim ('iss') must be the App's id";
    const { iat, exp } = claims;
    const seconds = now() / 1000;
    if (typeof iat !== 'number' || typeof exp !== 'number') return "'iat' and 'exp' claims must be numbers";
    if (exp <= seconds) return "'Expiration time' claim ('exp') must be a time in the future";
    if (exp - iat > 600) return "'Expiration time' claim ('exp') is too far in the future";
    if (iat > seconds + 60) return "'Issued at' claim ('iat') must be a time in the past"; // 1 min of skew
    return null;
  };
  const tokenOwner = (authorization = '') => {
    const token = tokens.get(/^(?:token|bearer)\s+(\S+)$/i.exec(authorization)?.[1] ?? '');
    return token && token.expiresAt > now() ? token.owner : undefined;
  };

  const hookLog = createHookLog({
    webhookSecret: options.webhookSecret,
    appId,
    transport: (headers, body) =>
      closed ? Promise.reject(new Error('closed')) : options.deliverWebhook(headers, body),
    now,
    ...(options.faults ? { faults: { take: options.faults.take.bind(options.faults) } } : {}),
  });
  options.faults?.define('github:DeliverWebhook', DELIVER_WEBHOOK_FAULT);

  /** The job's webhook as GitHub sends it: logged, and lost if it fails (GitHub does not retry). */
  const deliverJob = (job: StoredJob) => {
    const { live, payload } = job;
    const body = JSON.stringify({
      ...payload,
      action: live.status,
      workflow_job: { ...payload.workflow_job, ...live },
    });
    const repositoryId = objectOr(payload.repository).id;
    return hookLog.deliver({
      event: 'workflow_job',
      action: live.status,
      owner: lower(job.owner),
      installationId: job.installationId,
      repositoryId: Number.isSafeInteger(repositoryId) ? (repositoryId as number) : null,
      body,
    });
  };

  // ---- the simulated runners ----
  const deliver = (runner: Runner, job: StoredJob) => {
    // One runner's events leave in order: `completed` never overtakes a slow `in_progress` delivery.
    // The body is taken now: `completed` must not be sent as the state it reaches later.
    const send = deliverJob.bind(null, { ...job, live: { ...job.live } });
    runner.outbox = runner.outbox.then(async () => {
      if (!closed) await send();
    });
  };

  const fits = (runner: Runner, job: StoredJob) => {
    const has = new Set(runner.labels.map(lower));
    const sameScope = runner.repo
      ? lower(job.repository) === `${lower(runner.owner)}/${runner.repo}`
      : lower(job.owner) === lower(runner.owner);
    return job.live.status === 'queued' && sameScope && job.labels.every((l) => has.has(lower(l)));
  };

  /** GitHub gives an online runner the oldest queued job it can run, whoever launched it for. */
  const takeWork = (runner: Runner) => {
    const fitting = [...jobs.values()]
      .filter((job) => fits(runner, job))
      .sort((a, b) => a.createdMs - b.createdMs || a.seq - b.seq);
    const job = fitting.find((j) => new RegExp(`(^|\\D)${j.id}(\\D|$)`).test(runner.name)) ?? fitting[0];
    if (!job) {
      // Online and idle until a new queued job is observed, or until its idle limit runs out.
      if (runner.idleMs !== undefined && !runner.cancelIdle) {
        runner.cancelIdle = after(runner.idleMs, () => {
          runner.cancelIdle = undefined;
          if (runner.state !== 'idle') return;
          runner.state = 'deregistered'; // an ephemeral runner that exits is removed
          for (const listener of idleExitListeners) listener(runner.resourceId ?? '');
        });
      }
      return;
    }
    runner.cancelIdle?.();
    runner.cancelIdle = undefined;
    Object.assign(runner, { state: 'busy', jobId: job.id });
    Object.assign(job.live, { status: 'in_progress', runner_id: runner.id, runner_name: runner.name });
    job.live.started_at = isoSeconds(now());
    deliver(runner, job);
    runner.stop = after(jobMs, () => {
      Object.assign(job.live, {
        status: 'completed',
        conclusion: 'success',
        completed_at: isoSeconds(now()),
      });
      deliver(runner, job);
      runner.state = 'deregistered'; // ephemeral: one job, then the runner removes itself
    });
  };

  const fail = (runner: Runner, failure: string) => void Object.assign(runner, { state: 'failed', failure });

  const comeOnline = (runner: Runner, registrationToken: string | undefined) => {
    if (runner.state !== 'booting') return fail(runner, 'the runner was removed before it came online');
    if (registrationToken !== undefined) {
      // config.sh runs now: the token must still be valid and the name free where it registers.
      const grant = registrationTokens.get(registrationToken);
      if (!grant || grant.expiresAt <= now()) return fail(runner, 'registration token invalid or expired');
      if (lower(grant.owner) !== lower(runner.owner))
        return fail(runner, 'registration token of another owner');
      runner.repo = grant.repo && lower(grant.repo);
      if (nameTaken(runner, runner.name)) return fail(runner, `a runner named ${runner.name} already exists`);
      if (!runner.repo) {
        // config.sh --runnergroup takes a name; without one the runner joins Default.
        const groupId = [...groups].find(([, name]) => name === (runner.groupName ?? 'Default'))?.[0];
        if (groupId === undefined) return fail(runner, `no runner group named ${runner.groupName}`);
        runner.groupId = groupId;
      }
      runner.id = nextRunnerId++;
    }
    runner.state = 'idle';
    takeWork(runner);
  };

  const startRunner = (launch: RunnerLaunch) => {
    const { encodedJitConfig, registrationToken, resourceId } = launch;
    let runner: Runner | undefined;
    if (encodedJitConfig !== undefined) {
      let config: { runnerId?: number; name?: string } = {};
      try {
        config = JSON.parse(Buffer.from(encodedJitConfig, 'base64').toString('utf8')) as typeof config;
      } catch {
        // an unreadable config names no runner: refused below
      }
      runner = runners.find((r) => r.id === config.runnerId && r.name === config.name);
      if (runner?.state !== 'offline') {
        // A JIT config registers its runner once; a removed runner's config is dead.
        const failure =
          runner && runner.state !== 'deregistered' ? 'JIT config already used' : 'JIT config unknown';
        addRunner({ name: config.name ?? '?', owner: '', labels: [], state: 'failed', resourceId, failure });
        return;
      }
    } else {
      const [owner = '', repo] = (launch.owner ?? '').split('/');
      const name = launch.runnerName ?? `runner-${resourceId}`;
      runner = addRunner({
        name,
        owner,
        repo: repo ? lower(repo) : null,
        labels: launch.labels ?? [],
        state: 'offline',
      });
      if (launch.runnerGroup) runner.groupName = launch.runnerGroup;
    }
    Object.assign(runner, { state: 'booting', resourceId });
    if (launch.idleMs !== undefined) runner.idleMs = launch.idleMs;
    const target = runner;
    after(bootMs, () =>
      comeOnline(target, encodedJitConfig === undefined ? (registrationToken ?? '') : undefined),
    );
  };

  // ---- webhooks in ----
  /**
   * Takes what the twin needs from a delivery and nothing else: the job's scalar fields (as GitHub
   * names them, for its REST answers and the runners' own deliveries), its string labels, and who
   * owns the repository. The rest is never kept, cloned or walked, so no input — a field nested
   * 200,000 deep, a label that is an object, a payload that is `null` — can make this throw.
   */
  const observeWebhook = (event: string, payload: unknown) => {
    const p = objectOr(payload);
    const repository = objectOr(p.repository);
    const repoOwner = objectOr(repository.owner);
    const fullName = text(repository.full_name);
    const owner = text(repoOwner.login) ?? fullName?.split('/')[0] ?? text(objectOr(p.organization).login);
    if (!owner) return;
    if (fullName) repoOwners.set(lower(fullName), lower(owner));
    const given = objectOr(p.installation).id;
    const installationId = Number.isSafeInteger(given) ? (given as number) : null;
    const type = text(repoOwner.type) ?? 'Organization';
    if (installationId !== null || !installations.has(lower(owner)))
      installations.set(lower(owner), {
        id: installationId ?? derivedInstallationId(owner),
        login: owner,
        type,
      });

    const raw = objectOr(p.workflow_job);
    const w = scalarsOf(raw, JOB_FIELDS);
    const action = text(p.action) as JobStatus;
    if (event !== 'workflow_job' || !fullName || !Object.hasOwn(RANK, action)) return;
    if (!Number.isSafeInteger(w.id)) return;
    const id = w.id as number;
    let job = jobs.get(id);
    if (!job) {
      const labels = Array.isArray(raw.labels)
        ? raw.labels.filter((l): l is string => typeof l === 'string')
        : [];
      const live: Live = {
        status: action,
        conclusion: null,
        runner_id: null,
        runner_name: null,
        started_at: null,
        completed_at: null,
      };
      const stored = { id, owner, repository: fullName, labels, installationId, live, seq: seq++ };
      job = {
        ...stored,
        createdMs: Date.parse(text(w.created_at) ?? '') || 0,
        payload: {
          repository: {
            ...scalarsOf(repository, ['id', 'name', 'full_name']),
            owner: scalarsOf(repoOwner, OWNER_FIELDS),
          },
          ...(installationId === null ? {} : { installation: { id: installationId } }),
          workflow_job: { ...w, labels: [...labels] },
        },
      };
      jobs.set(id, job);
    } else if (RANK[action] < RANK[job.live.status]) return; // late or repeated: GitHub never goes back
    const live = job.live;
    live.status = action;
    if (RANK[action] > 0) {
      Object.assign(live, {
        runner_id: w.runner_id ?? live.runner_id,
        runner_name: w.runner_name ?? live.runner_name,
      });
      live.started_at = w.started_at ?? live.started_at;
    }
    if (action === 'completed') {
      Object.assign(live, { conclusion: w.conclusion ?? null, completed_at: w.completed_at ?? null });
      // Cancelled elsewhere: the runner on it stops and, being ephemeral, goes away.
      for (const r of runners.filter((r) => r.state === 'busy' && r.jobId === id)) {
        r.stop?.();
        r.state = 'deregistered';
      }
    }
    if (action === 'queued') for (const r of runners.filter((r) => r.state === 'idle')) takeWork(r);
  };

  const integerOr = (v: unknown) => (Number.isSafeInteger(v) ? (v as number) : null);
  const jobViews = (): JobView[] =>
    [...jobs.values()].map(({ id, owner, repository, labels, installationId, payload, live }) => {
      const w = payload.workflow_job;
      return {
        ...{ id, runId: Number(w.run_id), runAttempt: Number(w.run_attempt ?? 1), repository, owner, labels },
        ...{ workflowName: text(w.workflow_name), headBranch: text(w.head_branch), status: live.status },
        ...{
          headSha: text(w.head_sha),
          name: text(w.name),
          repositoryId: integerOr(objectOr(payload.repository).id),
        },
        runnerGroupId: integerOr(live.runner_group_id ?? w.runner_group_id),
        ...{ conclusion: text(live.conclusion), installationId, createdAt: text(w.created_at) },
        runnerId: typeof live.runner_id === 'number' ? live.runner_id : null,
        runnerName: text(live.runner_name),
        startedAt: text(live.started_at),
        completedAt: text(live.completed_at),
      };
    });

  // ---- the REST API ----
  const restRunner = (r: Runner) => ({
    ...{ id: r.id, name: r.name, os: 'linux', busy: r.state === 'busy' },
    status: r.state === 'idle' || r.state === 'busy' ? 'online' : 'offline',
    labels: r.labels.map((name, i) => ({ id: i + 1, name, type: 'custom' })),
  });
  const installation = (owner: string, organizationsOnly = false): Answer => {
    const found = installations.get(lower(owner));
    if (organizationsOnly && found?.type === 'User') return NOT_FOUND; // a user is not an org
    return found ? [200, { id: found.id, account: { login: found.login }, app_id: appId }] : NOT_FOUND;
  };
  const issue = <T>(store: Map<string, T>, token: string, grant: T, extra: Json = {}): Answer => {
    store.set(token, grant);
    return [201, { token, expires_at: isoSeconds(now() + HOUR), ...extra }];
  };

  const routes: [method: string, pattern: RegExp, auth: 'jwt' | 'token', handle: Handler, spec: string][] =
    [];
  /** `{name}` matches one path segment; `{scope}` is `/orgs/{org}` or `/repos/{owner}/{repo}`. */
  const route: RouteTable = (spec, auth, handle) => {
    const [method = '', path = ''] = spec.split(' ');
    const source = path
      .replace('{scope}', '(?:/orgs/{org}|/repos/{owner}/{repo})')
      .replace(/\{(\w+)\}/g, '(?<$1>[^/]+)');
    routes.push([method, new RegExp(`^${source}$`), auth, handle, spec]);
  };

  route('GET /app', 'jwt', () => [
    200,
    { id: appId, slug: 'ghes-control-plane-twin', name: 'GHES CP (twin)' },
  ]);
  route('GET /orgs/{org}/installation', 'jwt', (_p, s) => installation(s.owner, true));
  route('GET /users/{org}/installation', 'jwt', (_p, s) => installation(s.owner));
  route('GET /repos/{owner}/{repo}/installation', 'jwt', (_p, s) => installation(ownerOf(s)));
  route('POST /app/installations/{id}/access_tokens', 'jwt', ({ id }) => {
    const owner = [...installations].find(([, i]) => i.id === Number(id))?.[0];
    if (owner === undefined) return NOT_FOUND;
    const expiresAt = now() + HOUR;
    return issue(tokens, `ghs_${randomBytes(18).toString('hex')}`, { owner, expiresAt }, { permissions: {} });
  });
  route('GET /repos/{owner}/{repo}/actions/jobs/{id}', 'token', (params) => {
    const job = jobs.get(Number(params.id));
    if (!job || lower(job.repository) !== lower(`${params.owner}/${params.repo}`)) return NOT_FOUND;
    return [
      200,
      { ...job.payload.workflow_job, run_attempt: job.payload.workflow_job.run_attempt ?? 1, ...job.live },
    ];
  });
  route('POST {scope}/actions/runners/generate-jitconfig', 'token', (_p, scope, body) => {
    if (!hasJit) return NOT_FOUND; // the endpoint arrived in GHES 3.10
    const { name, runner_group_id: group, labels } = body;
    const invalid = (field: string) => error(422, `Invalid request.\n\n"${field}" wasn't supplied.`);
    if (typeof name !== 'string' || !name) return invalid('name');
    if (typeof group !== 'number') return invalid('runner_group_id');
    if (!Array.isArray(labels) || !labels.length || !labels.every((l) => typeof l === 'string' && l))
      return invalid('labels');
    if (nameTaken(scope, name))
      return error(409, `Already exists - A runner with the name ${name} already exists.`);
    const { owner, repo } = scope;
    if (!repo && !groups.has(group)) return error(404, 'Not Found'); // no such runner group
    const runner = addRunner({
      id: nextRunnerId++,
      name,
      owner,
      repo: repo && lower(repo),
      labels,
      state: 'offline',
      groupId: repo ? null : group,
    });
    const config = JSON.stringify({ runnerId: runner.id, name, labels, owner, ...(repo ? { repo } : {}) });
    return [201, { runner: restRunner(runner), encoded_jit_config: Buffer.from(config).toString('base64') }];
  });
  route('GET /orgs/{org}/actions/runner-groups/{id}', 'token', ({ id }) => {
    const name = groups.get(Number(id));
    return name ? [200, { id: Number(id), name, visibility: 'selected', default: id === '1' }] : NOT_FOUND;
  });
  route('POST {scope}/actions/runners/registration-token', 'token', (_p, scope) => {
    const token = randomBytes(15).toString('hex').toUpperCase().slice(0, 29);
    return issue(registrationTokens, token, { ...scope, expiresAt: now() + HOUR });
  });
  route('GET {scope}/actions/runners', 'token', (_p, scope, _b, query) => {
    const name = query.get('name');
    const listed = runners.filter((r) => registered(r) && inScope(r, scope) && (!name || r.name === name));
    return [200, { total_count: listed.length, runners: paged(listed, query).map(restRunner) }];
  });
  route('DELETE {scope}/actions/runners/{id}', 'token', ({ id }, scope) => {
    const runner = runners.find((r) => registered(r) && inScope(r, scope) && r.id === Number(id));
    if (!runner) return NOT_FOUND;
    if (runner.state === 'busy')
      return error(422, `Bad request - Runner "${runner.name}" is still running a job`);
    runner.state = 'deregistered';
    return [204];
  });

  registerHookDeliveryRoutes(route, hookLog, { apiUrl: () => apiUrl, orgHookId: options.orgHookId ?? 1 });
  registerRunRoutes(route, () => jobViews());
  options.faults?.define('github:Api', githubApiFault(routes.map(([, , , , spec]) => spec)));
  const rateLimits = createRateLimits(now);

  /** Who a call counts against for rate limits, set once its credential is checked. */
  type Call = { caller: string };
  const answer = (req: IncomingMessage, url: URL, raw: string, call: Call): Answer => {
    if (!url.pathname.startsWith('/api/v3/')) return NOT_FOUND;
    const path = url.pathname.slice('/api/v3'.length);
    const found = routes.find(([method, pattern]) => method === req.method && pattern.test(path));
    if (!found) return NOT_FOUND; // GitHub answers a wrong method like an unknown route
    const [, pattern, auth, handle, spec] = found;
    const params = Object.fromEntries(
      Object.entries(pattern.exec(path)!.groups ?? {}).flatMap(([k, v]) =>
        v ? [[k, decodeURIComponent(v)]] : [],
      ),
    ) as Record<string, string>;
    const scope = {
      owner: params.org ?? params.owner ?? '',
      repo: params.org ? null : (params.repo ?? null),
    };
    if (auth === 'jwt') {
      const problem = jwtProblem(req.headers.authorization);
      if (problem) return error(401, problem);
      call.caller = 'app';
    } else {
      const owner = tokenOwner(req.headers.authorization);
      if (!owner) return error(401, 'Bad credentials');
      call.caller = `installation:${owner}`;
      if (owner !== ownerOf(scope)) return error(403, 'Resource not accessible by integration');
    }
    let body: Json;
    try {
      body = raw ? (JSON.parse(raw) as Json) : {};
    } catch {
      return error(400, 'Problems parsing JSON');
    }
    const injected = options.faults?.take('github:Api', { route: spec });
    if (!injected) return handle(params, scope, body, url.searchParams);
    if (injected.afterEffect) handle(params, scope, body, url.searchParams); // done; the answer is lost
    const refusal = rateLimits.refusal(call.caller, injected);
    return [refusal.status, refusal.body, { ...refusal.headers, 'x-twin-fault': injected.code }];
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://twin');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let result: Answer;
      const call = { caller: 'anonymous' };
      try {
        result = answer(req, url, Buffer.concat(chunks).toString('utf8'), call);
      } catch (cause) {
        result = error(500, String(cause));
      }
      const [status, body, headers = {}] = result;
      calls.push({ method: req.method ?? 'GET', path: url.pathname, status });
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'x-github-enterprise-version': ghesVersion,
        // Every answer carries the caller's rate limit; a refusal sets its own.
        ...(headers['x-ratelimit-remaining'] === undefined ? rateLimits.count(call.caller) : {}),
        ...headers,
      });
      res.end(body === undefined ? '' : JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  apiUrl = `http://127.0.0.1:${port}/api/v3`;

  return {
    apiUrl,
    appId,
    privateKeyPem,
    calls,
    observeWebhook,
    hookLog,
    installationIdOf: (owner) => installations.get(lower(owner))?.id ?? derivedInstallationId(owner),
    startRunner,
    onIdleExit: (listener) => void idleExitListeners.push(listener),
    jobs: jobViews,
    runners: () =>
      runners.map(({ stop: _s, outbox: _o, idleMs: _i, cancelIdle: _c, groupName: _g, ...view }) => ({
        ...view,
      })),
    async close() {
      closed = true;
      for (const cancel of [...timers]) cancel();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
