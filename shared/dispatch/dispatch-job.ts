import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { PoolConfig } from '../config/deployment-config.ts';
import type { WorkflowJobDetail } from '../events/control-plane-events.ts';
import type { GithubApi, RunnerCredentials } from '../github/github-app.ts';
import type { DispatchRecords, EarlierLaunch } from '../ledger/dispatch-records.ts';
import { jobKey as keyOf } from '../ledger/job-ledger.ts';
import type { AlertSink } from '../alerts/alert-sink.ts';
import type { CredentialsStore } from '../providers/runner-credentials-store.ts';
import type { CodeBuildTarget, Ec2WakeTarget, RunnerProvider } from '../providers/runner-provider.ts';
import { needsOperator, NoCapacityError } from '../providers/runner-provider.ts';
import type { CodeBuildOverrides, Route, Router } from '../routing/route-job.ts';
import type { Leases } from './leases.ts';
import { createRunnerRegistrations, type RunnerRegistrations } from './runner-registrations.ts';

/**
 * One queued job → at most one runner. The order matters:
 * 1. lease the job row (only a pending job with no resource can be leased: duplicates stop here);
 * 2. ask GitHub whether the job is still queued (a job already taken needs no runner);
 * 3. route it to a pool, claim a capacity slot atomically, launch; on no capacity, free the slot and
 *    try the pool's fallback chain;
 * 4. record what was launched — or why nothing was, leaving the job `queued` for the reconciler.
 */
export type DispatchOutcome =
  | { readonly outcome: 'launched'; readonly pool: string; readonly resourceId: string }
  | { readonly outcome: 'skipped' | 'unmatched' | 'no-capacity' | 'failed'; readonly reason: string };

export interface DispatcherDeps {
  readonly router: Router;
  readonly github: GithubApi;
  /** The providers acting in the pool's account: its `roleArn`, or the dispatcher's own. */
  readonly providers: (roleArn?: string) => RunnerProviders;
  readonly leases: Leases;
  readonly records: DispatchRecords;
  /** Where problems only an operator can fix (a missing permission) are raised. */
  readonly alerts: AlertSink;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** The runner group of pools that name none (config `github.runnerGroupId`). @default 1 */
  readonly defaultRunnerGroupId?: number;
  /** Longer than the dispatcher's timeout, so a live dispatcher never loses its job. */
  readonly dispatchLeaseSeconds?: number;
  /**
   * Called with the pool whose slot a closed job gave back, so a job waiting for it runs now rather
   * than at the reconciler's next minute. Its failure does not fail the release.
   */
  readonly onSlotFreed?: (pool: string) => Promise<void>;
  readonly now?: () => Date;
}

export interface RunnerProviders {
  readonly codebuild: RunnerProvider<CodeBuildTarget>;
  readonly ec2Wake: RunnerProvider<Ec2WakeTarget>;
  /** The account's Parameter Store, where a gone launch's leftover credentials are deleted. */
  readonly credentials?: Pick<CredentialsStore, 'remove'>;
}

export interface DispatchOptions {
  /**
   * The event was delivered before (SQS receive count > 1): an earlier attempt may have launched and
   * died before recording it, so a provider that can find such a launch is asked first.
   */
  readonly redelivered?: boolean;
}

export interface Dispatcher {
  dispatch(job: WorkflowJobDetail, options?: DispatchOptions): Promise<DispatchOutcome>;
  /** Frees the capacity of a job that closed. */
  release(job: Pick<WorkflowJobDetail, 'jobId' | 'runAttempt'>): Promise<void>;
  /** The pools a job may launch in, in order: the one it routes to, then that pool's fallbacks. */
  poolsFor(job: WorkflowJobDetail): string[];
  /**
   * A job recorded `dispatched` that no runner has reported for a while. GitHub says it is closed:
   * closed here too, capacity freed. Still queued and its launch is gone (a build that failed before
   * the job started, an instance that stopped): reopened and dispatched again. Otherwise left alone.
   */
  recheck(job: WorkflowJobDetail, launch: EarlierLaunch): Promise<'closed' | 'relaunched' | 'left'>;
}

/** Another dispatcher holds the job; SQS delivers the message again after its visibility timeout. */
export class JobLeasedError extends Error {
  override name = 'JobLeasedError';
}

/**
 * Keys on each line, not `appendKeys`: one container dispatches a batch's records at once, and
 * keys appended to the shared logger would name whichever job came last.
 */
const logKeys = (job: Pick<WorkflowJobDetail, 'jobId' | 'runAttempt'>) => ({
  jobId: job.jobId,
  runAttempt: job.runAttempt,
});

/** The key is fixed: the dispatcher's IAM policy may start only instances that carry it. */
const poolTarget = (pool: PoolConfig): Ec2WakeTarget => ({
  tagKey: 'ghes-cp:pool',
  tagValue: pool.ec2?.tagValue ?? pool.name,
});

const codebuildTarget = (pool: PoolConfig, overrides: CodeBuildOverrides = {}): CodeBuildTarget => {
  const { labelScheme: _scheme, ...settings } = pool.codebuild!;
  return { ...settings, ...overrides };
};

export const createDispatcher = (deps: DispatcherDeps): Dispatcher => {
  const now = deps.now ?? (() => new Date());
  const leaseSeconds = deps.dispatchLeaseSeconds ?? 120;
  const defaultRunnerGroupId = deps.defaultRunnerGroupId ?? 1;

  /** The pool, then its fallbacks in order (config validation guarantees no loops). */
  const chainOf = (pool: PoolConfig): PoolConfig[] => {
    const chain = [pool];
    for (let next = pool.fallback; next !== undefined;) {
      const fallback = deps.router.pool(next);
      if (!fallback) break;
      chain.push(fallback);
      next = fallback.fallback;
    }
    return chain;
  };

  const launchOn = async (
    pool: PoolConfig,
    request: Parameters<RunnerProvider<unknown>['launch']>[0],
    overrides: CodeBuildOverrides | undefined,
  ) =>
    pool.provider === 'codebuild'
      ? deps.providers(pool.roleArn).codebuild.launch(request, codebuildTarget(pool, overrides))
      : deps.providers(pool.roleArn).ec2Wake.launch(request, poolTarget(pool));

  /**
   * Fencing right before each launch: the lease is renewed with a conditional write (claiming again
   * as its owner), so a dispatcher that lost the job — its lease ran out during a slow cleanup and
   * another dispatcher took it, or the job moved on — launches nothing. Renewed here, the lease
   * outlives the rest of this invocation, since it is longer than the Lambda timeout (runtime-env).
   */
  const holdLease = async (jobKey: string, owner: string) => {
    const renewed = await deps.records.claim(jobKey, owner, now(), leaseSeconds);
    if (!renewed.claimed) throw new JobLeasedError(`lease lost before launch: ${renewed.why}`);
  };

  /** The pool's account (rows written before the label scheme went through pools name `codebuild:<project>`: ours). */
  const earlierLaunchAlive = async (earlier: EarlierLaunch) => {
    const providers = deps.providers(deps.router.pool(earlier.pool)?.roleArn);
    const provider = earlier.provider === 'ec2-wake' ? providers.ec2Wake : providers.codebuild;
    return provider.isAlive(earlier.resourceId);
  };

  /** Why a pool of the chain launched nothing; `needsOperator` when retrying cannot help. */
  type Attempt =
    | {
        readonly launched: {
          readonly resourceId: string;
          readonly credentials?: RunnerCredentials;
          readonly passedOver?: readonly string[];
          readonly credentialsParameter?: string;
        };
      }
    | { readonly passed: string; readonly needsOperator?: boolean };

  /** One pool of the chain: a slot, then (on a redelivery) an earlier build to take over, else a launch. */
  const tryPool = async (
    pool: PoolConfig,
    route: Extract<Route, { kind: 'pool' }>,
    claim: { job: WorkflowJobDetail; jobKey: string; owner: string; options: DispatchOptions },
    registrations: RunnerRegistrations,
  ): Promise<Attempt> => {
    const { job, jobKey, owner, options } = claim;
    if (!(await deps.leases.claimSlot(pool.name, jobKey, pool.maxConcurrent))) {
      return { passed: `${pool.name}: all ${pool.maxConcurrent} slots in use` };
    }
    // The label scheme's overrides belong to the pool that allowed them, not to its fallbacks.
    const overrides = pool === route.pool ? route.overrides : undefined;
    if (options.redelivered && pool.provider === 'codebuild') {
      const target = codebuildTarget(pool, overrides);
      const adopted = await deps.providers(pool.roleArn).codebuild.adopt?.(jobKey, target);
      if (adopted) {
        deps.logger.info('an earlier attempt launched the runner; recording it', {
          ...logKeys(job),
          resourceId: adopted.resourceId,
        });
        return { launched: { resourceId: adopted.resourceId } };
      }
    }
    const credentials = await registrations
      .forGroup(pool.runnerGroupId ?? defaultRunnerGroupId)
      .catch(async (error: unknown) => {
        await deps.leases.releaseSlot(pool.name, jobKey);
        throw error;
      });
    // Not inside the try below: a dispatcher that lost the lease must not free the job's slot,
    // which the dispatcher now holding the job shares (one slot record per job).
    await holdLease(jobKey, owner);
    try {
      const request = { jobKey, credentials, idleMinutes: pool.idleMinutes };
      const { resourceId, passedOver, credentialsParameter } = await launchOn(pool, request, overrides);
      return {
        launched: {
          resourceId,
          credentials,
          ...(passedOver ? { passedOver } : {}),
          ...(credentialsParameter ? { credentialsParameter } : {}),
        },
      };
    } catch (error) {
      await deps.leases.releaseSlot(pool.name, jobKey);
      if (needsOperator(error)) {
        // Retrying cannot help until an operator fixes IAM, tags or the project: say so loudly,
        // try the fallback, and keep the job queued with the reason instead of cycling it into the DLQ.
        const reason = `${pool.name}: ${(error as Error).name}: ${(error as Error).message}`;
        deps.logger.error('the dispatcher may not launch in this pool', {
          ...logKeys(job),
          pool: pool.name,
          reason,
        });
        return { passed: reason, needsOperator: true };
      }
      if (!(error instanceof NoCapacityError)) throw error;
      deps.logger.warn('no capacity in pool, trying its fallback', {
        ...logKeys(job),
        pool: pool.name,
        reason: error.message,
      });
      return { passed: `${pool.name}: ${error.message}` };
    }
  };

  /** One alert per dispatch, naming every pool AWS refused; its failure must not fail the dispatch. */
  const raiseRefusals = async (job: WorkflowJobDetail, refusals: readonly string[]) => {
    if (refusals.length === 0) return;
    await deps.alerts
      .raise({
        kind: 'runner-launch-refused',
        summary: `runner dispatch refused by AWS for job ${job.jobId} (${job.repository})`,
        detail: refusals.join('; '),
      })
      .catch((error: unknown) =>
        deps.logger.error('could not raise the alert', { ...logKeys(job), error: error as Error }),
      );
  };

  const dispatchClaimed = async (
    job: WorkflowJobDetail,
    jobKey: string,
    owner: string,
    options: DispatchOptions,
  ): Promise<DispatchOutcome> => {
    const githubStatus = await deps.github.jobStatus(job.repository, job.jobId, job.installationId);
    if (githubStatus !== 'queued') {
      const reason = `GitHub reports the job ${githubStatus}; no runner launched`;
      const status = githubStatus === 'missing' ? 'failed' : null;
      await deps.records.notLaunched(jobKey, owner, status, reason, now());
      return { outcome: 'skipped', reason };
    }
    const route = deps.router.route(job);
    if (route.kind === 'unmatched') {
      await deps.records.notLaunched(jobKey, owner, 'unmatched', route.reason, now());
      return { outcome: 'unmatched', reason: route.reason };
    }
    const registrations = createRunnerRegistrations(deps.github, job, deps.logger);
    let launchedWith: RunnerCredentials | undefined;
    try {
      const passed: string[] = [];
      const refusals: string[] = [];
      for (const pool of chainOf(route.pool)) {
        const attempt = await tryPool(pool, route, { job, jobKey, owner, options }, registrations);
        if ('passed' in attempt) {
          passed.push(attempt.passed);
          if (attempt.needsOperator) refusals.push(attempt.passed);
          continue;
        }
        // From here a runner is starting: its slot stays taken even if recording it fails (the
        // job's completion frees it), or the pool would run over maxConcurrent.
        const { resourceId, credentials, passedOver = [], credentialsParameter } = attempt.launched;
        launchedWith = credentials;
        await deps.records.dispatched(jobKey, owner, {
          pool: pool.name,
          provider: pool.provider,
          resourceId,
          at: now(),
          // What an operator asks first about a fallback: why not the pool the job was meant for.
          path: [...passed, ...passedOver.map((step) => `${pool.name}: ${step}`)],
          ...(credentials?.kind === 'jit' && credentials.runnerId !== undefined
            ? { runnerId: credentials.runnerId }
            : {}),
          ...(credentialsParameter ? { credentialsParameter } : {}),
        });
        // After the record, so an operator who follows the alert finds the ledger already saying why.
        await raiseRefusals(job, refusals);
        return { outcome: 'launched', pool: pool.name, resourceId };
      }
      const reason = `${refusals.length ? 'not launched' : 'no capacity'}: ${passed.join('; ')}`;
      await deps.records.notLaunched(jobKey, owner, 'queued', reason, now());
      await raiseRefusals(job, refusals);
      return { outcome: refusals.length ? 'failed' : 'no-capacity', reason };
    } finally {
      await registrations.removeAllBut(launchedWith);
    }
  };

  const dispatcher: Dispatcher = {
    async dispatch(job, options = {}) {
      const jobKey = keyOf(job.jobId, job.runAttempt);
      const owner = randomUUID();
      const claim = await deps.records.claim(jobKey, owner, now(), leaseSeconds);
      if (!claim.claimed) {
        // A lease held by a dispatcher that may have crashed: acknowledging would strand the job.
        if (claim.retry) throw new JobLeasedError(claim.why);
        if (!claim.earlier) return { outcome: 'skipped', reason: claim.why };
        // Pending again after our launch (an environment approval): the runner we started takes
        // the job if it is still up; if it gave up waiting, the job needs another one.
        const { earlier } = claim;
        if (await earlierLaunchAlive(earlier)) {
          return { outcome: 'skipped', reason: `${earlier.resourceId} is still up for the job` };
        }
        if (!(await deps.records.reclaim(jobKey, owner, earlier.resourceId, now(), leaseSeconds))) {
          return { outcome: 'skipped', reason: 'another dispatcher took the job over' };
        }
      }
      try {
        return await dispatchClaimed(job, jobKey, owner, options);
      } catch (error) {
        // Give the job back so the redelivered message can try again at once.
        await deps.records
          .notLaunched(jobKey, owner, null, `dispatch failed: ${(error as Error).name}`, now())
          .catch(() =>
            deps.logger.warn('could not give the job lease back; it runs out by itself', logKeys(job)),
          );
        throw error;
      }
    },

    async release(job) {
      // From the leases themselves, not the ledger: a dispatcher that died after launching never
      // wrote the ledger, yet its runner ran the job and the slot must come back.
      const jobKey = keyOf(job.jobId, job.runAttempt);
      const [pool, instanceId] = await Promise.all([
        deps.leases.slotOf(jobKey),
        deps.leases.instanceOf(jobKey),
      ]);
      await Promise.all([
        pool === undefined ? undefined : deps.leases.releaseSlot(pool, jobKey),
        instanceId === undefined ? undefined : deps.leases.releaseInstance(instanceId, jobKey),
      ]);
      if (pool === undefined || !deps.onSlotFreed) return;
      await deps.onSlotFreed(pool).catch((error: unknown) =>
        deps.logger.warn('could not hand the freed slot to a waiting job; the reconciler will', {
          ...logKeys(job),
          pool,
          error: error as Error,
        }),
      );
    },

    poolsFor(job) {
      const route = deps.router.route(job);
      return route.kind === 'pool' ? chainOf(route.pool).map((pool) => pool.name) : [];
    },

    async recheck(job, launch) {
      const jobKey = keyOf(job.jobId, job.runAttempt);
      const githubStatus = await deps.github.jobStatus(job.repository, job.jobId, job.installationId);
      if (githubStatus === 'completed' || githubStatus === 'missing') {
        const reason = `GitHub reports the job ${githubStatus}; its events never reached the control plane`;
        await deps.records.closeAsOnGithub(jobKey, reason, now());
        await dispatcher.release(job);
        return 'closed';
      }
      // in_progress or waiting: a runner has it, or an approval holds it.
      if (githubStatus !== 'queued' || (await earlierLaunchAlive(launch))) return 'left';
      const reason = `${launch.resourceId} (${launch.pool}) is gone and never took the job; dispatching again`;
      if (!(await deps.records.reopen(jobKey, launch.resourceId, reason, now()))) return 'left';
      deps.logger.warn('a launch never became a runner; dispatching the job again', {
        ...logKeys(job),
        pool: launch.pool,
        resourceId: launch.resourceId,
      });
      // Its JIT registration would sit offline in the runner list for good.
      if (launch.runnerId !== undefined) {
        const where = { owner: job.owner, repository: job.repository, installationId: job.installationId };
        await deps.github.removeRunnerById(where, launch.runnerId).catch((error: unknown) =>
          deps.logger.warn("could not remove the gone launch's runner registration", {
            ...logKeys(job),
            runnerId: launch.runnerId,
            error: error as Error,
          }),
        );
      }
      // A build that died before its first step (which deletes it) leaves its JIT config behind.
      // (An instance's parameter is not deleted here: its next wake overwrites it, and a delete
      // racing another job's wake of the same instance would take that job's credentials.)
      if (launch.credentialsParameter !== undefined) {
        const { credentials } = deps.providers(deps.router.pool(launch.pool)?.roleArn);
        await credentials?.remove(launch.credentialsParameter).catch((error: unknown) =>
          deps.logger.warn("could not delete the gone launch's credentials parameter", {
            ...logKeys(job),
            error: error as Error,
          }),
        );
      }
      // Freeing its capacity may hand the job its next runner at once (the slot backfill); if not,
      // this dispatch does.
      await dispatcher.release(job);
      await dispatcher.dispatch(job).catch((error: unknown) => {
        if (!(error instanceof JobLeasedError)) throw error;
      });
      return 'relaunched';
    },
  };
  return dispatcher;
};
