import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { PoolConfig } from '../config/deployment-config.ts';
import type { WorkflowJobDetail } from '../events/control-plane-events.ts';
import type { GithubApi, RunnerCredentials } from '../github/github-app.ts';
import type { DispatchRecords, EarlierLaunch } from '../ledger/dispatch-records.ts';
import { jobKey as keyOf } from '../ledger/job-ledger.ts';
import type { AlertSink } from '../alerts/alert-sink.ts';
import type { CodeBuildTarget, Ec2WakeTarget, RunnerProvider } from '../providers/runner-provider.ts';
import { needsOperator, NoCapacityError } from '../providers/runner-provider.ts';
import type { CodeBuildOverrides, Router } from '../routing/route-job.ts';
import type { Leases } from './leases.ts';

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
  readonly now?: () => Date;
}

export interface RunnerProviders {
  readonly codebuild: RunnerProvider<CodeBuildTarget>;
  readonly ec2Wake: RunnerProvider<Ec2WakeTarget>;
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
  release(job: WorkflowJobDetail): Promise<void>;
}

/** Another dispatcher holds the job; SQS delivers the message again after its visibility timeout. */
export class JobLeasedError extends Error {
  override name = 'JobLeasedError';
}

/**
 * Keys on each line, not `appendKeys`: one container dispatches a batch's records at once, and
 * keys appended to the shared logger would name whichever job came last.
 */
const logKeys = (job: WorkflowJobDetail) => ({ jobId: job.jobId, runAttempt: job.runAttempt });

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

  const dispatchClaimed = async (
    job: WorkflowJobDetail,
    jobKey: string,
    owner: string,
    options: DispatchOptions,
  ): Promise<DispatchOutcome> => {
    const githubStatus = await deps.github.jobStatus(job.repository, job.jobId, job.installationId);
    if (githubStatus !== 'queued') {
      const reason = `GitHub reports the job ${githubStatus}; no runner launched`;
      await deps.records.notLaunched(
        jobKey,
        owner,
        githubStatus === 'missing' ? 'failed' : null,
        reason,
        now(),
      );
      return { outcome: 'skipped', reason };
    }
    const route = deps.router.route(job);
    if (route.kind === 'unmatched') {
      await deps.records.notLaunched(jobKey, owner, 'unmatched', route.reason, now());
      return { outcome: 'unmatched', reason: route.reason };
    }
    // Unique per attempt: a retried dispatch must not collide with the registration of the last one.
    const runnerName = `ghes-cp-${job.jobId}-${job.runAttempt}-${randomBytes(3).toString('hex')}`;
    /** One registration per runner group tried (pools in a fallback chain may use different groups). */
    const registered = new Map<number, RunnerCredentials>();
    const credentialsFor = async (runnerGroupId: number) => {
      const known = registered.get(runnerGroupId);
      if (known) return known;
      const credentials = await deps.github.runnerCredentials({
        owner: job.owner,
        repository: job.repository,
        installationId: job.installationId,
        // Runner names are unique in an organisation, whatever the group.
        runnerName: registered.size === 0 ? runnerName : `${runnerName}-${registered.size}`,
        labels: job.labels,
        runnerGroupId,
      });
      registered.set(runnerGroupId, credentials);
      return credentials;
    };
    const request = async (pool: PoolConfig) => ({
      jobKey,
      credentials: await credentialsFor(pool.runnerGroupId ?? defaultRunnerGroupId),
      idleMinutes: pool.idleMinutes,
    });

    // A JIT config registers its runner at once; if no machine is started to use it, remove it
    // again rather than leave an offline runner behind in the organisation.
    let launchedWith: RunnerCredentials | undefined;
    try {
      const reasons: string[] = [];
      const denied: string[] = [];
      const raiseDenied = () =>
        denied.length === 0
          ? undefined
          : deps.alerts
              .raise({
                kind: 'runner-launch-refused',
                summary: `runner dispatch refused by AWS for job ${job.jobId} (${job.repository})`,
                detail: denied.join('; '),
              })
              .catch((error: unknown) =>
                deps.logger.error('could not raise the alert', { ...logKeys(job), error: error as Error }),
              );
      for (const pool of chainOf(route.pool)) {
        if (!(await deps.leases.claimSlot(pool.name, jobKey, pool.maxConcurrent))) {
          reasons.push(`${pool.name}: all ${pool.maxConcurrent} slots in use`);
          continue;
        }
        const overrides = pool === route.pool ? route.overrides : undefined;
        const adopted =
          options.redelivered && pool.provider === 'codebuild'
            ? await deps.providers(pool.roleArn).codebuild.adopt?.(jobKey, codebuildTarget(pool, overrides))
            : undefined;
        if (adopted) {
          deps.logger.info('an earlier attempt launched the runner; recording it', {
            ...logKeys(job),
            resourceId: adopted.resourceId,
          });
          await deps.records.dispatched(jobKey, owner, {
            pool: pool.name,
            provider: pool.provider,
            resourceId: adopted.resourceId,
            at: now(),
          });
          return { outcome: 'launched', pool: pool.name, resourceId: adopted.resourceId };
        }
        let resourceId: string;
        const launch = await request(pool).catch(async (error: unknown) => {
          await deps.leases.releaseSlot(pool.name, jobKey);
          throw error;
        });
        // Not inside the try below: a dispatcher that lost the lease must not free the job's slot,
        // which the dispatcher now holding the job shares (one slot record per job).
        await holdLease(jobKey, owner);
        try {
          // The label scheme's overrides belong to the pool that allowed them, not to its fallbacks.
          ({ resourceId } = await launchOn(pool, launch, overrides));
        } catch (error) {
          await deps.leases.releaseSlot(pool.name, jobKey);
          if (needsOperator(error)) {
            // Retrying cannot help until an operator fixes IAM, tags or the project: say so loudly,
            // try the fallback, and keep the job queued with the reason instead of cycling it into the DLQ.
            const reason = `${pool.name}: ${(error as Error).name}: ${(error as Error).message}`;
            reasons.push(reason);
            denied.push(reason);
            deps.logger.error('the dispatcher may not launch in this pool', {
              ...logKeys(job),
              pool: pool.name,
              reason,
            });
            continue;
          }
          if (!(error instanceof NoCapacityError)) throw error;
          reasons.push(`${pool.name}: ${error.message}`);
          deps.logger.warn('no capacity in pool, trying its fallback', {
            ...logKeys(job),
            pool: pool.name,
            reason: error.message,
          });
          continue;
        }
        // From here a runner is starting: its slot stays taken even if recording it fails (the
        // job's completion frees it), or the pool would run over maxConcurrent.
        launchedWith = launch.credentials;
        await raiseDenied();
        await deps.records.dispatched(jobKey, owner, {
          pool: pool.name,
          provider: pool.provider,
          resourceId,
          at: now(),
        });
        return { outcome: 'launched', pool: pool.name, resourceId };
      }
      await raiseDenied();
      const reason = `${denied.length ? 'not launched' : 'no capacity'}: ${reasons.join('; ')}`;
      await deps.records.notLaunched(jobKey, owner, 'queued', reason, now());
      return { outcome: denied.length ? 'failed' : 'no-capacity', reason };
    } finally {
      for (const unused of [...registered.values()].filter((c) => c !== launchedWith)) {
        await deps.github
          .removeRunner(
            { owner: job.owner, repository: job.repository, installationId: job.installationId },
            unused,
          )
          .catch((error: unknown) =>
            deps.logger.warn('could not remove the unused runner registration', {
              ...logKeys(job),
              runnerName: unused.runnerName,
              error: error as Error,
            }),
          );
      }
    }
  };

  return {
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
    },
  };
};
