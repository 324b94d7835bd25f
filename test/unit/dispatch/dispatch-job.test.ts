import { describe, expect, it } from 'vitest';
import { createDispatcher } from '../../../shared/dispatch/dispatch-job.ts';
import type { Leases } from '../../../shared/dispatch/leases.ts';
import type { PoolConfig } from '../../../shared/config/deployment-config.ts';
import type { WorkflowJobDetail } from '../../../shared/events/control-plane-events.ts';
import type { DispatchRecords } from '../../../shared/ledger/dispatch-records.ts';
import {
  NoCapacityError,
  type CodeBuildTarget,
  type Launched,
  type RunnerProvider,
} from '../../../shared/providers/runner-provider.ts';
import { createRouter } from '../../../shared/routing/route-job.ts';
import { workflowJobEvent } from '../../support/workflow-job-event.ts';

const pool = (name: string, extra: Partial<PoolConfig> = {}): PoolConfig => ({
  name,
  provider: 'ec2-wake',
  labels: ['self-hosted', 'linux'],
  priority: 0,
  maxConcurrent: 2,
  idleMinutes: 10,
  ...extra,
});

const job = (extra: Partial<WorkflowJobDetail> = {}): WorkflowJobDetail => ({
  ...workflowJobEvent({ jobId: 11, runId: 5, installationId: 3 }),
  deliveryId: 'd',
  ...extra,
});

/** Fakes that log every effect in order, so tests read as the story of one dispatch. */
const setup = (options: {
  pools: PoolConfig[];
  githubStatus?: string;
  claimed?: boolean;
  leased?: boolean;
  full?: string[];
  ec2?: (pool: string) => Promise<{ resourceId: string; passedOver?: string[] }>;
  recordFails?: boolean;
  earlier?: { pool: string; provider: string; resourceId: string };
  earlierAlive?: boolean;
  codebuild?: (target: CodeBuildTarget) => Promise<{ resourceId: string }>;
  /** What the CodeBuild provider finds of an earlier attempt's build. */
  adoptable?: string;
  onSlotFreed?: (pool: string) => Promise<void>;
  reopenLost?: boolean;
}) => {
  const removedParameters: string[] = [];
  const log: string[] = [];
  const warnings: Record<string, unknown>[] = [];
  const slots = new Map<string, number>();
  const slotOfJob = new Map<string, string>();
  const leases: Leases = {
    async claimSlot(p, jobKey) {
      if (options.full?.includes(p)) return false;
      slots.set(p, (slots.get(p) ?? 0) + 1);
      slotOfJob.set(jobKey, p);
      log.push(`slot ${p} ${jobKey}`);
      return true;
    },
    async releaseSlot(p, jobKey) {
      slots.set(p, (slots.get(p) ?? 0) - 1);
      slotOfJob.delete(jobKey);
      log.push(`free ${p}`);
    },
    slotOf: async (jobKey) => slotOfJob.get(jobKey),
    claimInstance: async () => true,
    releaseInstance: async () => {},
    instanceOf: async () => undefined,
    slotsInUse: async (p) => slots.get(p) ?? 0,
    heldSlots: async () => [...slotOfJob].map(([jobKey, pool]) => ({ jobKey, pool })),
  };
  /** After a reclaim the job is this dispatcher's: claiming again (the fence before a launch) renews. */
  let reclaimed = false;
  const records: DispatchRecords = {
    claim: async () =>
      reclaimed
        ? { claimed: true }
        : options.earlier
          ? { claimed: false, why: 'already dispatched to i-9', retry: false, earlier: options.earlier }
          : options.claimed === false
            ? { claimed: false, why: 'already dispatched to i-9', retry: false }
            : options.leased
              ? { claimed: false, why: 'another dispatcher holds the job', retry: true }
              : { claimed: true },
    async reclaim(_key, _owner, earlierResourceId) {
      log.push(`reclaim from ${earlierResourceId}`);
      reclaimed = true;
      return true;
    },
    async dispatched(_key, _owner, launch) {
      if (options.recordFails) throw Object.assign(new Error('ledger down'), { name: 'InternalServerError' });
      const path = launch.path?.length ? ` after [${launch.path.join(' | ')}]` : '';
      log.push(`dispatched ${launch.pool} ${launch.resourceId}${path}`);
    },
    async notLaunched(_key, _owner, status, reason) {
      log.push(`not launched ${status ?? 'unchanged'}: ${reason}`);
    },
    async reopen(_key, resourceId, reason) {
      log.push(`reopen from ${resourceId}: ${reason}`);
      return !options.reopenLost;
    },
    async closeAsOnGithub(_key, reason) {
      log.push(`close: ${reason}`);
    },
  };
  const provider = <T>(launch: (target: T) => Promise<Launched>): RunnerProvider<T> => ({
    launch: (_request, target) => launch(target),
    async isAlive(resourceId) {
      log.push(`is ${resourceId} alive`);
      return options.earlierAlive ?? false;
    },
  });
  const dispatcher = createDispatcher({
    router: createRouter(options.pools),
    github: {
      jobStatus: async () => options.githubStatus ?? 'queued',
      async runnerCredentials(request) {
        const group = request.runnerGroupId === 1 ? '' : ` group ${request.runnerGroupId}`;
        log.push(`credentials ${request.runnerName.replace(/-[0-9a-f]{6}(-\d+)?$/, '$1')}${group}`);
        const runnerId = 40 + (request.runnerGroupId ?? 1);
        return { kind: 'jit', runnerName: request.runnerName, encodedJitConfig: 'e30=', runnerId };
      },
      async removeRunnerById(_request, runnerId) {
        log.push(`remove runner ${runnerId}`);
      },
      async removeRunner(_request, credentials) {
        log.push(`remove runner ${credentials.kind === 'jit' ? credentials.runnerId : '?'}`);
      },
    },
    providers: (roleArn?: string) => {
      const as = roleArn ? ` as ${roleArn.split(':')[4]}` : '';
      return {
        credentials: {
          async remove(name: string) {
            log.push(`delete parameter ${name}${as}`);
            removedParameters.push(name);
          },
        },
        codebuild: {
          ...provider(async (target: CodeBuildTarget) => {
            const { project, ...overrides } = target;
            const shown = Object.keys(overrides).length ? ` ${JSON.stringify(overrides)}` : '';
            log.push(`StartBuild ${project}${shown}${as}`);
            return options.codebuild ? options.codebuild(target) : { resourceId: `${project}:b1` };
          }),
          async adopt(jobKey: string, target: CodeBuildTarget) {
            log.push(`look for ${jobKey} in ${target.project}`);
            return options.adoptable ? { resourceId: options.adoptable } : undefined;
          },
        },
        ec2Wake: provider(async (target: { tagValue: string }) => {
          log.push(`wake ${target.tagValue}${as}`);
          return options.ec2 ? options.ec2(target.tagValue) : { resourceId: 'i-1' };
        }),
      };
    },
    leases,
    records,
    ...(options.onSlotFreed ? { onSlotFreed: options.onSlotFreed } : {}),
    alerts: {
      async raise(alert) {
        log.push(`alert ${alert.kind}: ${alert.detail}`);
      },
    },
    logger: {
      info() {},
      warn: (message: string, keys: Record<string, unknown>) => void warnings.push({ message, ...keys }),
      error() {},
    },
  });
  return { dispatcher, log, slots, warnings };
};

describe('dispatcher', () => {
  it('claims a slot, gets runner credentials named after the job, wakes an instance and records it', async () => {
    const { dispatcher, log } = setup({ pools: [pool('linux')] });
    expect(await dispatcher.dispatch(job())).toEqual({
      outcome: 'launched',
      pool: 'linux',
      resourceId: 'i-1',
    });
    expect(log).toEqual([
      'slot linux 11#1',
      'credentials ghes-cp-11-1',
      'wake linux',
      'dispatched linux i-1',
    ]);
  });

  it('launches nothing when another delivery of the job already holds or dispatched it', async () => {
    const { dispatcher, log } = setup({ pools: [pool('linux')], claimed: false });
    expect(await dispatcher.dispatch(job())).toEqual({
      outcome: 'skipped',
      reason: 'already dispatched to i-9',
    });
    expect(log).toEqual([]);
  });

  describe('a job pending again after its launch (an environment approval)', () => {
    const earlier = { pool: 'linux', provider: 'ec2-wake', resourceId: 'i-9' };

    it('leaves it to the runner it started when that machine is still up', async () => {
      const { dispatcher, log } = setup({ pools: [pool('linux')], earlier, earlierAlive: true });
      expect(await dispatcher.dispatch(job())).toEqual({
        outcome: 'skipped',
        reason: 'i-9 is still up for the job',
      });
      expect(log).toEqual(['is i-9 alive']);
    });

    it('launches again when that runner gave up and its machine stopped', async () => {
      const { dispatcher, log } = setup({ pools: [pool('linux')], earlier, earlierAlive: false });
      expect(await dispatcher.dispatch(job())).toMatchObject({ outcome: 'launched', resourceId: 'i-1' });
      expect(log).toEqual([
        'is i-9 alive',
        'reclaim from i-9',
        'slot linux 11#1',
        'credentials ghes-cp-11-1',
        'wake linux',
        'dispatched linux i-1',
      ]);
    });
  });

  it('fails the record (so SQS retries) while another dispatcher holds an unexpired lease on the job', async () => {
    const { dispatcher, log } = setup({ pools: [pool('linux')], leased: true });
    await expect(dispatcher.dispatch(job())).rejects.toThrow('another dispatcher holds the job');
    expect(log).toEqual([]);
  });

  it('launches nothing when GitHub reports the job already in progress', async () => {
    const { dispatcher, log } = setup({ pools: [pool('linux')], githubStatus: 'in_progress' });
    expect((await dispatcher.dispatch(job())).outcome).toBe('skipped');
    expect(log).toEqual(['not launched unchanged: GitHub reports the job in_progress; no runner launched']);
  });

  it('records an unmatched job without launching', async () => {
    const { dispatcher, log } = setup({ pools: [pool('linux')] });
    expect((await dispatcher.dispatch(job({ labels: ['self-hosted', 'gpu'] }))).outcome).toBe('unmatched');
    expect(log).toEqual(['not launched unmatched: labels [self-hosted, gpu] matched no pool']);
  });

  it('frees the slot and goes to the fallback pool when the first has no capacity', async () => {
    const pools = [
      pool('linux', { fallback: 'cb' }),
      pool('cb', { provider: 'codebuild', codebuild: { project: 'runners' }, priority: -1 }),
    ];
    const { dispatcher, log, slots } = setup({
      pools,
      ec2: async () => {
        throw new NoCapacityError('no stopped instance could start');
      },
    });
    expect(await dispatcher.dispatch(job())).toEqual({
      outcome: 'launched',
      pool: 'cb',
      resourceId: 'runners:b1',
    });
    expect(log).toEqual([
      'slot linux 11#1',
      'credentials ghes-cp-11-1',
      'wake linux',
      'free linux',
      'slot cb 11#1',
      'StartBuild runners',
      'dispatched cb runners:b1 after [linux: no stopped instance could start]',
    ]);
    expect(slots.get('linux')).toBe(0);
  });

  it("launches in the account of the pool's role, and falls back to a pool of the home account", async () => {
    const pools = [
      pool('arm', { roleArn: 'arn:aws:iam::444455556666:role/runners', fallback: 'cb' }),
      pool('cb', { provider: 'codebuild', codebuild: { project: 'runners' }, priority: -1 }),
    ];
    const launched = setup({ pools: pools.slice(0, 1) });
    await launched.dispatcher.dispatch(job());
    expect(launched.log).toContain('wake arm as 444455556666');

    const fellBack = setup({
      pools,
      ec2: async () => {
        throw new NoCapacityError('no stopped instance could start');
      },
    });
    await fellBack.dispatcher.dispatch(job());
    expect(fellBack.log).toEqual(expect.arrayContaining(['wake arm as 444455556666', 'StartBuild runners']));
  });

  it('names its own job in every warning while a batch dispatches several jobs at once', async () => {
    const { dispatcher, warnings } = setup({
      pools: [pool('linux')],
      ec2: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5)); // let the other dispatch start
        throw new NoCapacityError('no stopped instance could start');
      },
    });
    await Promise.all([dispatcher.dispatch(job({ jobId: 21 })), dispatcher.dispatch(job({ jobId: 22 }))]);
    expect(warnings.map((w) => [w.message, w.jobId]).sort()).toEqual([
      ['no capacity in pool, trying its fallback', 21],
      ['no capacity in pool, trying its fallback', 22],
    ]);
  });

  it('leaves the job queued with the reason when every pool in the chain is full', async () => {
    const pools = [
      pool('linux', { fallback: 'cb' }),
      pool('cb', { provider: 'codebuild', codebuild: { project: 'r' } }),
    ];
    const { dispatcher, log } = setup({ pools, full: ['linux', 'cb'] });
    const result = await dispatcher.dispatch(job());
    expect(result.outcome).toBe('no-capacity');
    expect(log).toEqual([
      'not launched queued: no capacity: linux: all 2 slots in use; cb: all 2 slots in use',
    ]);
  });

  it('frees the slot, gives the job back and rethrows on an unexpected error, so SQS retries it', async () => {
    const { dispatcher, log, slots } = setup({
      pools: [pool('linux')],
      ec2: async () => {
        throw Object.assign(new Error('boom'), { name: 'InternalError' });
      },
    });
    await expect(dispatcher.dispatch(job())).rejects.toThrow('boom');
    expect(slots.get('linux')).toBe(0);
    // Nothing started: the runner GHES registered for the JIT config is removed again.
    expect(log.slice(-2)).toEqual([
      'remove runner 41',
      'not launched unchanged: dispatch failed: InternalError',
    ]);
  });

  it('keeps the slot and the runner when the launch worked but recording it failed', async () => {
    const { dispatcher, log, slots } = setup({ pools: [pool('linux')], recordFails: true });
    await expect(dispatcher.dispatch(job())).rejects.toThrow('ledger down');
    // The instance is waking with its runner: the slot stays taken until the job completes.
    expect(slots.get('linux')).toBe(1);
    expect(log).not.toContain('remove runner 41');
  });

  it("registers the runner in each pool's group, and removes the registration of the pool it did not use", async () => {
    const pools = [
      pool('prd', { runnerGroupId: 2, fallback: 'prd-cb' }),
      pool('prd-cb', {
        provider: 'codebuild',
        codebuild: { project: 'prd' },
        priority: -1,
        runnerGroupId: 3,
      }),
    ];
    const { dispatcher, log } = setup({
      pools,
      ec2: async () => {
        throw new NoCapacityError('no stopped instance could start');
      },
    });
    expect(await dispatcher.dispatch(job())).toMatchObject({ outcome: 'launched', pool: 'prd-cb' });
    expect(log).toEqual([
      'slot prd 11#1',
      'credentials ghes-cp-11-1 group 2',
      'wake prd',
      'free prd',
      'slot prd-cb 11#1',
      // A second name: runner names are unique across an organisation's groups.
      'credentials ghes-cp-11-1-1 group 3',
      'StartBuild prd',
      'dispatched prd-cb prd:b1 after [prd: no stopped instance could start]',
      'remove runner 42',
    ]);
  });

  it('removes the unused runner registration when no pool in the chain could start anything', async () => {
    const pools = [
      pool('linux', { fallback: 'cb' }),
      pool('cb', { provider: 'codebuild', codebuild: { project: 'r' } }),
    ];
    const { dispatcher, log } = setup({
      pools,
      full: ['cb'],
      ec2: async () => {
        throw new NoCapacityError('no stopped instance could start');
      },
    });
    expect((await dispatcher.dispatch(job())).outcome).toBe('no-capacity');
    expect(log).toEqual([
      'slot linux 11#1',
      'credentials ghes-cp-11-1',
      'wake linux',
      'free linux',
      expect.stringMatching(
        /^not launched queued: no capacity: linux: no stopped instance could start; cb: all 2 slots/,
      ),
      'remove runner 41',
    ]);
  });

  it('runs a codebuild-<project>-… job through the pool that enables it: its slot, runner group and overrides', async () => {
    const scheme = pool('cb', {
      provider: 'codebuild',
      runnerGroupId: 2,
      fallback: 'spare',
      codebuild: {
        project: 'myproj',
        computeType: 'BUILD_GENERAL1_MEDIUM',
        labelScheme: { instanceSizes: ['large'] },
      },
    });
    const spare = pool('spare', { provider: 'codebuild', codebuild: { project: 'spareproj' } });
    const { dispatcher, log } = setup({ pools: [scheme, spare] });
    const result = await dispatcher.dispatch(
      job({ labels: ['codebuild-myproj-5-1', 'instance-size:large'] }),
    );
    expect(result).toEqual({ outcome: 'launched', pool: 'cb', resourceId: 'myproj:b1' });
    expect(log).toEqual([
      'slot cb 11#1',
      'credentials ghes-cp-11-1 group 2',
      'StartBuild myproj {"computeType":"BUILD_GENERAL1_LARGE"}',
      'dispatched cb myproj:b1',
    ]);
  });

  it('launches a fallback pool as configured, without the overrides the first pool allowed', async () => {
    const scheme = pool('cb', {
      provider: 'codebuild',
      fallback: 'spare',
      codebuild: { project: 'myproj', labelScheme: { instanceSizes: ['large'] } },
    });
    const spare = pool('spare', { provider: 'codebuild', codebuild: { project: 'spareproj' } });
    const { dispatcher, log } = setup({ pools: [scheme, spare], full: ['cb'] });
    await dispatcher.dispatch(job({ labels: ['codebuild-myproj-5-1', 'instance-size:large'] }));
    expect(log).toContain('StartBuild spareproj');
  });

  it('records a refused label-scheme job unmatched with the reason and launches nothing', async () => {
    const { dispatcher, log } = setup({ pools: [pool('linux')] });
    const result = await dispatcher.dispatch(job({ labels: ['codebuild-myproj-5-1'] }));
    expect(result.outcome).toBe('unmatched');
    expect(log).toEqual([
      'not launched unmatched: label codebuild-myproj-…: no pool enables the label scheme for CodeBuild project myproj',
    ]);
  });

  it('alerts when AWS refuses a launch for lack of permission, tries the fallback, and does not retry', async () => {
    const pools = [
      pool('linux', { fallback: 'cb' }),
      pool('cb', { provider: 'codebuild', codebuild: { project: 'r' } }),
    ];
    const { dispatcher, log } = setup({
      pools,
      ec2: async () => {
        throw Object.assign(new Error('You are not authorized to perform this operation.'), {
          name: 'UnauthorizedOperation',
        });
      },
    });
    const result = await dispatcher.dispatch(job());
    expect(result).toEqual({ outcome: 'launched', pool: 'cb', resourceId: 'r:b1' });
    expect(log).toEqual([
      'slot linux 11#1',
      'credentials ghes-cp-11-1',
      'wake linux',
      'free linux',
      'slot cb 11#1',
      'StartBuild r',
      // The ledger says why before the alert goes out, so an operator who follows it finds the reason.
      'dispatched cb r:b1 after [linux: UnauthorizedOperation: You are not authorized to perform this operation.]',
      'alert runner-launch-refused: linux: UnauthorizedOperation: You are not authorized to perform this operation.',
    ]);
  });

  it('keeps the job queued with the reason when every pool of the chain is refused, and alerts once', async () => {
    const denied = async (): Promise<never> => {
      throw Object.assign(new Error('no'), { name: 'AccessDeniedException' });
    };
    const { dispatcher, log } = setup({
      pools: [pool('cb', { provider: 'codebuild', codebuild: { project: 'r' } })],
      codebuild: denied,
    });
    const result = await dispatcher.dispatch(job());
    expect(result).toEqual({ outcome: 'failed', reason: 'not launched: cb: AccessDeniedException: no' });
    expect(log.filter((line) => line.startsWith('alert'))).toEqual([
      'alert runner-launch-refused: cb: AccessDeniedException: no',
    ]);
    expect(log.slice(-3)).toEqual([
      'not launched queued: not launched: cb: AccessDeniedException: no',
      'alert runner-launch-refused: cb: AccessDeniedException: no',
      'remove runner 41',
    ]);
  });

  it('takes over, on a redelivery, the build an attempt that died after StartBuild left unrecorded', async () => {
    const pools = [pool('cb', { provider: 'codebuild', codebuild: { project: 'r' } })];
    const { dispatcher, log } = setup({ pools, adoptable: 'r:earlier' });
    const result = await dispatcher.dispatch(job(), { redelivered: true });
    expect(result).toEqual({ outcome: 'launched', pool: 'cb', resourceId: 'r:earlier' });
    // No second registration, no second build.
    expect(log).toEqual(['slot cb 11#1', 'look for 11#1 in r', 'dispatched cb r:earlier']);
  });

  it('does not look for an earlier build on a first delivery', async () => {
    const pools = [pool('cb', { provider: 'codebuild', codebuild: { project: 'r' } })];
    const { dispatcher, log } = setup({ pools, adoptable: 'r:earlier' });
    await dispatcher.dispatch(job());
    expect(log).toEqual(['slot cb 11#1', 'credentials ghes-cp-11-1', 'StartBuild r', 'dispatched cb r:b1']);
  });

  it('records the candidates an instance pool passed over on the way to its launch', async () => {
    const { dispatcher, log } = setup({
      pools: [pool('linux')],
      ec2: async () => ({
        resourceId: 'i-3',
        passedOver: [
          'i-1 (eu-west-1a/m7i.large): InsufficientInstanceCapacity',
          'i-2 (eu-west-1a/m7i.large): IncorrectInstanceState',
        ],
      }),
    });
    await dispatcher.dispatch(job());
    expect(log.at(-1)).toBe(
      'dispatched linux i-3 after [linux: i-1 (eu-west-1a/m7i.large): InsufficientInstanceCapacity | linux: i-2 (eu-west-1a/m7i.large): IncorrectInstanceState]',
    );
  });

  it('hands the slot a closed job gave back to whatever waits for it, and survives that failing', async () => {
    const freed: string[] = [];
    const { dispatcher } = setup({
      pools: [pool('linux')],
      onSlotFreed: async (name) => {
        freed.push(name);
        throw new Error('backfill failed');
      },
    });
    await dispatcher.dispatch(job());
    await expect(dispatcher.release({ jobId: 11, runAttempt: 1 })).resolves.toBeUndefined();
    expect(freed).toEqual(['linux']);
    // Nothing held any more: nothing to hand on.
    await dispatcher.release({ jobId: 11, runAttempt: 1 });
    expect(freed).toEqual(['linux']);
  });

  it('names the pools a job may launch in: its route, then the fallbacks', () => {
    const { dispatcher } = setup({
      pools: [
        pool('linux', { fallback: 'cb' }),
        pool('cb', { provider: 'codebuild', codebuild: { project: 'r' }, priority: -1 }),
      ],
    });
    expect(dispatcher.poolsFor(job())).toEqual(['linux', 'cb']);
    expect(dispatcher.poolsFor(job({ labels: ['gpu'] }))).toEqual([]);
  });

  describe('re-checking a job dispatched long ago with no runner reporting it', () => {
    const launch = { pool: 'linux', provider: 'ec2-wake', resourceId: 'i-9' };

    it('closes it and frees its capacity when GitHub says it is closed', async () => {
      const { dispatcher, log } = setup({ pools: [pool('linux')], githubStatus: 'completed' });
      expect(await dispatcher.recheck(job(), launch)).toBe('closed');
      expect(log).toEqual([
        'close: GitHub reports the job completed; its events never reached the control plane',
      ]);
    });

    it('leaves it while its launch is still up, or while a runner has it', async () => {
      const alive = setup({ pools: [pool('linux')], earlierAlive: true });
      expect(await alive.dispatcher.recheck(job(), launch)).toBe('left');
      expect(alive.log).toEqual(['is i-9 alive']);
      const running = setup({ pools: [pool('linux')], githubStatus: 'in_progress' });
      expect(await running.dispatcher.recheck(job(), launch)).toBe('left');
      expect(running.log).toEqual([]);
    });

    it('reopens it, removes its runner registration and dispatches it again when its launch is gone and GitHub still has it queued', async () => {
      const { dispatcher, log } = setup({ pools: [pool('linux')], earlierAlive: false });
      expect(await dispatcher.recheck(job(), { ...launch, runnerId: 77 })).toBe('relaunched');
      expect(log).toEqual([
        'is i-9 alive',
        'reopen from i-9: i-9 (linux) is gone and never took the job; dispatching again',
        'remove runner 77',
        'slot linux 11#1',
        'credentials ghes-cp-11-1',
        'wake linux',
        'dispatched linux i-1',
      ]);
    });

    it("deletes a gone build's leftover credentials parameter, in the pool's account, before dispatching again", async () => {
      const cb = pool('cb', {
        provider: 'codebuild',
        codebuild: { project: 'r' },
        roleArn: 'arn:aws:iam::444455556666:role/capacity',
      });
      const { dispatcher, log } = setup({ pools: [cb], earlierAlive: false });
      const gone = {
        pool: 'cb',
        provider: 'codebuild',
        resourceId: 'r:b0',
        credentialsParameter: '/p/builds/ab12',
      };
      expect(await dispatcher.recheck(job(), gone)).toBe('relaunched');
      expect(log.slice(0, 3)).toEqual([
        'is r:b0 alive',
        'reopen from r:b0: r:b0 (cb) is gone and never took the job; dispatching again',
        'delete parameter /p/builds/ab12 as 444455556666',
      ]);
    });

    it('does nothing more when another reconciler reopened it first', async () => {
      const { dispatcher, log } = setup({ pools: [pool('linux')], reopenLost: true });
      expect(await dispatcher.recheck(job(), launch)).toBe('left');
      expect(log.filter((line) => line.startsWith('wake'))).toEqual([]);
    });
  });
});
