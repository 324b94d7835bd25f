import {
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  StartInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDynamoLeases, type Leases } from '../../../shared/dispatch/leases.ts';
import { createEc2WakeProvider } from '../../../shared/providers/ec2-wake-provider.ts';
import { createSsmCredentialsStore } from '../../../shared/providers/runner-credentials-store.ts';
import { NoCapacityError, type LaunchRequest } from '../../../shared/providers/runner-provider.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

const PREFIX = '/ghes-cp/runners';
// The provider is handed this as its clock; the DynamoDB twin's TTL reaper runs on real time and
// would delete lease rows whose expiresAt (leaseUntil + a day) lies in the real past.
const NOW = Math.floor(Date.now() / 1000);
const LEASE_SECONDS = 3600;
const target = { tagKey: 'ghes-cp:pool', tagValue: 'linux' };

const request = (jobId: number, runAttempt = 1): LaunchRequest => ({
  jobKey: `${jobId}#${runAttempt}`,
  idleMinutes: 7,
  credentials: {
    kind: 'jit',
    runnerName: `ghes-cp-${jobId}-${runAttempt}-a1b2c3`,
    encodedJitConfig: `jit-secret-${jobId}-${runAttempt}`,
  },
});

const instance = (id: string, zone: string, type: Instance['InstanceType']): Instance => ({
  InstanceId: id,
  InstanceType: type,
  Placement: { AvailabilityZone: zone },
  State: { Name: 'stopped' },
});

/** An EC2 error as the SDK raises it: `name` is the EC2 error code. */
const ec2Error = (code: string) =>
  new EC2ServiceException({ name: code, $fault: 'server', $metadata: {}, message: `${code} (test)` });

/** Deterministic stand-in for Math.random, so the provider's shuffle is the same on every run. */
const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

describe('EC2 wake runner provider', () => {
  const ec2 = mockClient(EC2Client);
  const ssm = mockClient(SSMClient);
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  let leases: Leases;
  /** Every EC2 and SSM effect in the order the provider made it. */
  let calls: string[];
  let placementOf: Map<string, string>;

  beforeEach(async () => {
    db = await startDynamoForTest();
    leases = createDynamoLeases(db.call, 'LeasesTable');
    ec2.reset();
    ssm.reset();
    calls = [];
    placementOf = new Map();
    // The provider shuffles candidates; a fixed seed makes every run try them in the same order.
    vi.spyOn(Math, 'random').mockImplementation(seeded(42));
    ssm.on(PutParameterCommand).callsFake((input) => {
      calls.push(`put ${input.Name}`);
      return { Version: 1 };
    });
    ssm.on(DeleteParameterCommand).callsFake((input) => {
      calls.push(`delete ${input.Name}`);
      return {};
    });
    ec2.on(StartInstancesCommand).callsFake((input) => {
      calls.push(`start ${input.InstanceIds?.join(',')}`);
      return {};
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await db.close();
  });

  const provider = () =>
    createEc2WakeProvider({
      ec2: new EC2Client({ region: 'eu-west-1' }),
      credentials: createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' })),
      leases,
      parameterPrefix: PREFIX,
      instanceArn: (id) => `arn:aws:ec2:eu-west-1:111122223333:instance/${id}`,
      leaseSeconds: LEASE_SECONDS,
      now: () => NOW,
    });

  /** DescribeInstances answers with these pages, linked by NextToken. */
  const stoppedInstances = (...pages: Instance[][]) => {
    for (const page of pages)
      for (const i of page)
        placementOf.set(i.InstanceId!, `${i.Placement?.AvailabilityZone}/${i.InstanceType}`);
    ec2.on(DescribeInstancesCommand).callsFake((input) => {
      const index = input.NextToken ? Number(input.NextToken.replace('page-', '')) : 0;
      return {
        Reservations: [{ Instances: pages[index] ?? [] }],
        ...(index + 1 < pages.length ? { NextToken: `page-${index + 1}` } : {}),
      };
    });
  };

  /** StartInstances fails with `failure(instanceId, attempt)` when it returns a code, else starts. */
  const startInstances = (failure: (instanceId: string, attempt: number) => string | undefined) => {
    let attempt = 0;
    ec2.on(StartInstancesCommand).callsFake((input) => {
      const instanceId = input.InstanceIds![0]!;
      calls.push(`start ${instanceId}`);
      const code = failure(instanceId, attempt++);
      if (code) throw ec2Error(code);
      return { StartingInstances: [{ InstanceId: instanceId }] };
    });
  };

  const started = () => ec2.commandCalls(StartInstancesCommand).map((c) => c.args[0].input.InstanceIds![0]!);
  const deleted = () => ssm.commandCalls(DeleteParameterCommand).map((c) => c.args[0].input.Name);
  /** True when another job could take the instance now, i.e. nobody holds a live lease on it. */
  const free = async (instanceId: string) => {
    const probe = `probe-${instanceId}#1`;
    const claimed = await leases.claimInstance(instanceId, probe, NOW, NOW + 60);
    if (claimed) await leases.releaseInstance(instanceId, probe);
    return claimed;
  };

  it("looks only for stopped instances carrying the pool's tag and the dispatcher's parameter prefix, on every page", async () => {
    // Prepare: the only candidate is on the second page.
    stoppedInstances([], [instance('i-0page2', 'eu-west-1a', 'm5.large')]);

    // Act
    const launched = await provider().launch(request(11), target);

    // Assess
    expect(launched).toEqual({ resourceId: 'i-0page2' });
    expect(ec2).toReceiveCommandTimes(DescribeInstancesCommand, 2);
    const [first, second] = ec2.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);
    // An instance tagged with another prefix (another stage's) would read its credentials there.
    const filters = [
      { Name: 'tag:ghes-cp:pool', Values: ['linux'] },
      { Name: 'tag:ghes-cp:parameter-prefix', Values: [PREFIX] },
      { Name: 'instance-state-name', Values: ['stopped'] },
    ];
    expect(first).toEqual({ Filters: filters });
    expect(second).toEqual({ Filters: filters, NextToken: 'page-1' });
  });

  it('stores the credentials as a SecureString under the instance id before starting it, and leases it to the job', async () => {
    // Prepare
    stoppedInstances([instance('i-0aaa', 'eu-west-1a', 'm5.large')]);
    const launch = request(11);

    // Act
    await provider().launch(launch, target);

    // Assess
    expect(calls).toEqual([`put ${PREFIX}/instances/i-0aaa`, 'start i-0aaa']);
    // Tagged with the instance's ARN: the runner role lets only that instance read it.
    expect(ssm).toReceiveCommandWith(PutParameterCommand, {
      Name: `${PREFIX}/instances/i-0aaa`,
      Type: 'SecureString',
      Tags: [{ Key: 'ghes-cp:instance-arn', Value: 'arn:aws:ec2:eu-west-1:111122223333:instance/i-0aaa' }],
    });
    expect(JSON.parse(ssm.commandCalls(PutParameterCommand)[0]!.args[0].input.Value!)).toEqual({
      ...launch.credentials,
      idleMinutes: 7, // the runner's boot script stops the machine after this long without a job
    });
    expect(JSON.stringify(ec2.commandCalls(StartInstancesCommand)[0]!.args[0].input)).not.toContain(
      'jit-secret',
    );
    expect(await leases.instanceOf('11#1')).toBe('i-0aaa');
    // The lease lasts leaseSeconds: another job cannot take the instance before it runs out.
    expect(
      await leases.claimInstance('i-0aaa', '99#1', NOW + LEASE_SECONDS - 1, NOW + 2 * LEASE_SECONDS),
    ).toBe(false);
    expect(
      await leases.claimInstance('i-0aaa', '99#1', NOW + LEASE_SECONDS + 1, NOW + 2 * LEASE_SECONDS),
    ).toBe(true);
  });

  it('on InsufficientInstanceCapacity gives the instance back, leaves its credentials for its next wake and tries another AZ or type next', async () => {
    // Prepare: two placements, three instances each, so a same-placement retry is always possible.
    const fleet = [
      instance('i-0a1', 'eu-west-1a', 'm5.large'),
      instance('i-0a2', 'eu-west-1a', 'm5.large'),
      instance('i-0a3', 'eu-west-1a', 'm5.large'),
      instance('i-0b1', 'eu-west-1b', 'c5.large'),
      instance('i-0b2', 'eu-west-1b', 'c5.large'),
      instance('i-0b3', 'eu-west-1b', 'c5.large'),
    ];
    // Whichever instance the shuffle puts first, its start fails; ten seeded shuffles vary which one.
    const failedFirst = new Set<string>();
    for (let seed = 1; seed <= 10; seed++) {
      vi.spyOn(Math, 'random').mockImplementation(seeded(seed));
      ec2.resetHistory();
      ssm.resetHistory();
      stoppedInstances(fleet);
      startInstances((_, attempt) => (attempt === 0 ? 'InsufficientInstanceCapacity' : undefined));
      const jobKey = `${100 + seed}#1`;

      // Act
      const launched = await provider().launch(request(100 + seed), target);

      // Assess
      const [failed, woken] = started();
      expect(started(), `seed ${seed}`).toHaveLength(2);
      // The ledger shows why the first was passed over.
      expect(launched).toEqual({
        resourceId: woken,
        passedOver: [`${failed} (${placementOf.get(failed!)}): InsufficientInstanceCapacity`],
      });
      expect(placementOf.get(woken!), `seed ${seed}: tried ${failed} then ${woken}`).not.toBe(
        placementOf.get(failed!),
      );
      // Left for the next wake of that instance to overwrite: only it may read it, and it did not start.
      expect(deleted()).toEqual([]);
      expect(await free(failed!)).toBe(true);
      expect(await leases.instanceOf(jobKey)).toBe(woken);
      await leases.releaseInstance(woken!, jobKey); // the next round starts from an idle fleet
      failedFirst.add(placementOf.get(failed!)!);
    }
    expect(failedFirst.size).toBe(2); // both placements were the one that failed at least once
  });

  it('reports no capacity naming every failed instance, and holds none of them, when none can start', async () => {
    // Prepare
    stoppedInstances([
      instance('i-0a1', 'eu-west-1a', 'm5.large'),
      instance('i-0a2', 'eu-west-1a', 'm5.large'),
      instance('i-0b1', 'eu-west-1b', 'm5.large'),
      instance('i-0c1', 'eu-west-1a', 'c5.large'),
    ]);
    const codes: Record<string, string> = {
      'i-0a1': 'InsufficientInstanceCapacity',
      'i-0a2': 'InsufficientInstanceCapacity',
      'i-0b1': 'InstanceLimitExceeded',
      'i-0c1': 'IncorrectInstanceState',
    };
    startInstances((instanceId) => codes[instanceId]);

    // Act
    const error = await provider()
      .launch(request(11), target)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(NoCapacityError);
    const message = (error as NoCapacityError).message;
    for (const [instanceId, code] of Object.entries(codes)) {
      expect(message).toContain(`${instanceId} (${placementOf.get(instanceId)}): ${code}`);
    }
    expect(started().sort()).toEqual(Object.keys(codes).sort());
    // Every placement is tried once before any is tried a second time.
    expect(
      new Set(
        started()
          .slice(0, 3)
          .map((id) => placementOf.get(id)),
      ).size,
    ).toBe(3);
    expect(deleted()).toEqual([]);
    expect(await leases.instanceOf('11#1')).toBeUndefined();
    for (const instanceId of Object.keys(codes)) expect(await free(instanceId)).toBe(true);
  });

  it('reports no capacity naming both tags when no stopped instance carries them, and stores nothing', async () => {
    // Prepare
    stoppedInstances([]);

    // Act
    const error = await provider()
      .launch(request(11), target)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(NoCapacityError);
    expect((error as Error).message).toBe(
      `no stopped instance tagged ghes-cp:pool=linux and ghes-cp:parameter-prefix=${PREFIX}`,
    );
    expect(ec2).not.toReceiveCommand(StartInstancesCommand);
    expect(ssm).not.toReceiveAnyCommand();
    expect(await leases.instanceOf('11#1')).toBeUndefined();
  });

  it('rethrows a permission error unchanged after giving the instance back, without trying another', async () => {
    // Prepare
    stoppedInstances([
      instance('i-0a1', 'eu-west-1a', 'm5.large'),
      instance('i-0b1', 'eu-west-1b', 'c5.large'),
    ]);
    const denied = ec2Error('UnauthorizedOperation');
    ec2.on(StartInstancesCommand).rejects(denied);

    // Act
    const error = await provider()
      .launch(request(11), target)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBe(denied);
    expect(error).not.toBeInstanceOf(NoCapacityError);
    const [tried] = started();
    expect(started()).toHaveLength(1);
    expect(deleted()).toEqual([]);
    expect(await leases.instanceOf('11#1')).toBeUndefined();
    expect(await free(tried!)).toBe(true);
  });

  it('skips instances other jobs hold and leaves their leases alone', async () => {
    // Prepare: three of four instances are held by running jobs.
    stoppedInstances([
      instance('i-0busy7', 'eu-west-1a', 'm5.large'),
      instance('i-0busy8', 'eu-west-1b', 'm5.large'),
      instance('i-0idle', 'eu-west-1a', 'm5.large'),
      instance('i-0busy9', 'eu-west-1a', 'c5.large'),
    ]);
    for (const job of [7, 8, 9]) {
      expect(await leases.claimInstance(`i-0busy${job}`, `${job}#1`, NOW - 10, NOW + LEASE_SECONDS)).toBe(
        true,
      );
    }
    const claim = vi.spyOn(leases, 'claimInstance');
    // Five seeded shuffles, so held instances come before the idle one in the list.
    for (let seed = 1; seed <= 5; seed++) {
      vi.spyOn(Math, 'random').mockImplementation(seeded(seed));
      ec2.resetHistory();
      ssm.resetHistory();

      // Act
      const launched = await provider().launch(request(10 + seed), target);

      // Assess
      expect(launched).toEqual({ resourceId: 'i-0idle' });
      expect(started()).toEqual(['i-0idle']);
      expect(ssm.commandCalls(PutParameterCommand).map((c) => c.args[0].input.Name)).toEqual([
        `${PREFIX}/instances/i-0idle`,
      ]);
      expect(await leases.instanceOf(`${10 + seed}#1`)).toBe('i-0idle');
      await leases.releaseInstance('i-0idle', `${10 + seed}#1`);
    }
    for (const job of [7, 8, 9]) expect(await leases.instanceOf(`${job}#1`)).toBe(`i-0busy${job}`);
    // The shuffles did put held instances first: the provider asked for them and was refused.
    expect(claim.mock.calls.filter(([instanceId]) => instanceId !== 'i-0idle').length).toBeGreaterThan(0);
  });

  it('says the pool is busy, not empty, when every stopped instance is being woken for another job', async () => {
    stoppedInstances([
      instance('i-0busy1', 'eu-west-1a', 'm5.large'),
      instance('i-0busy2', 'eu-west-1b', 'm5.large'),
    ]);
    for (const [n, id] of ['i-0busy1', 'i-0busy2'].entries())
      await leases.claimInstance(id, `${n + 70}#1`, NOW, NOW + LEASE_SECONDS);

    const error = await provider()
      .launch(request(11), target)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(NoCapacityError);
    expect((error as Error).message).toBe('2 of 2 stopped instances are being woken for other jobs');
    expect(started()).toEqual([]);
  });

  it('after IncorrectInstanceState tries the same AZ and type again: a wrong state is not a capacity shortage', async () => {
    stoppedInstances([
      instance('i-0wrong', 'eu-west-1a', 'm5.large'),
      instance('i-0same', 'eu-west-1a', 'm5.large'),
      instance('i-0other', 'eu-west-1b', 'c5.large'),
    ]);
    vi.spyOn(Math, 'random').mockReturnValue(0.9); // keep the listed order
    ec2.on(StartInstancesCommand).callsFake((input) => {
      const [id] = input.InstanceIds!;
      calls.push(`start ${id}`);
      if (id === 'i-0wrong')
        throw Object.assign(new Error('is not in a state from which it can be started'), {
          name: 'IncorrectInstanceState',
        });
      return {};
    });

    const launched = await provider().launch(request(11), target);

    expect(started()).toEqual(['i-0wrong', launched.resourceId]);
    expect(launched.resourceId).toBe('i-0same');
  });

  it('gives a retried dispatch of the same job the instance it already holds, with fresh credentials and no new claim', async () => {
    // Prepare: the first attempt woke i-0first; by the retry it runs, so the fleet lists others.
    stoppedInstances([instance('i-0first', 'eu-west-1a', 'm5.large')]);
    await provider().launch(request(11), target);
    ec2.resetHistory();
    ssm.resetHistory();
    calls = [];
    stoppedInstances([instance('i-0other', 'eu-west-1b', 'm5.large')]);
    const claim = vi.spyOn(leases, 'claimInstance');
    const retry = request(11);
    const retryCredentials = { ...retry.credentials, runnerName: 'ghes-cp-11-1-ffffff' };

    // Act
    const launched = await provider().launch({ ...retry, credentials: retryCredentials }, target);

    // Assess
    expect(launched).toEqual({ resourceId: 'i-0first' });
    expect(claim).not.toHaveBeenCalled();
    expect(ec2).not.toReceiveCommand(DescribeInstancesCommand);
    expect(calls).toEqual([`put ${PREFIX}/instances/i-0first`, 'start i-0first']);
    expect(JSON.parse(ssm.commandCalls(PutParameterCommand)[0]!.args[0].input.Value!)).toEqual({
      ...retryCredentials,
      idleMinutes: 7,
    });
    expect(await leases.instanceOf('11#1')).toBe('i-0first');
    expect(await free('i-0other')).toBe(true);
  });

  it('gives up a held instance that no longer has capacity and wakes another instead', async () => {
    // Prepare: an attempt claimed i-0held and died before StartInstances; now its type has no room.
    expect(await leases.claimInstance('i-0held', '11#1', NOW - 30, NOW + LEASE_SECONDS)).toBe(true);
    stoppedInstances([
      instance('i-0held', 'eu-west-1a', 'm5.large'),
      instance('i-0spare', 'eu-west-1b', 'c5.large'),
    ]);
    startInstances((instanceId) => (instanceId === 'i-0held' ? 'InsufficientInstanceCapacity' : undefined));

    // Act
    const launched = await provider().launch(request(11), target);

    // Assess
    expect(launched).toEqual({
      resourceId: 'i-0spare',
      passedOver: ['i-0held (held): InsufficientInstanceCapacity'],
    });
    expect(started()).toEqual(['i-0held', 'i-0spare']);
    expect(deleted()).toEqual([]);
    expect(await leases.instanceOf('11#1')).toBe('i-0spare');
    expect(await free('i-0held')).toBe(true);
  });

  it.each([
    ['pending', true],
    ['running', true],
    ['stopping', false],
    ['stopped', false],
  ] as const)('reports an instance %s as alive: %s', async (Name, alive) => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [{ InstanceId: 'i-0aaa', State: { Name } }] }],
    });
    expect(await provider().isAlive('i-0aaa')).toBe(alive);
  });

  it('reports an instance that no longer exists as not alive', async () => {
    ec2.on(DescribeInstancesCommand).rejects(
      Object.assign(new Error("The instance ID 'i-0gone' does not exist"), {
        name: 'InvalidInstanceID.NotFound',
      }),
    );
    expect(await provider().isAlive('i-0gone')).toBe(false);
  });
});
