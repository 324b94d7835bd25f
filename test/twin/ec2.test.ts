import { afterEach, describe, expect, it } from 'vitest';
import {
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  EC2Client,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { faultTargetsOf, startTwinAwsEndpoint, type TwinAwsEndpoint } from './aws-endpoint.ts';
import { createTwinClock, type TwinClock } from './clock.ts';
import { createEc2Twin, type Ec2InstanceSeed, type Ec2State, type Ec2TwinOptions } from './ec2.ts';
import { FaultInjector } from './faults.ts';

const ids = {
  a1: 'i-0aaaaaaaaaaaaaaa1',
  a2: 'i-0aaaaaaaaaaaaaaa2',
  a3: 'i-0aaaaaaaaaaaaaaa3',
  b1: 'i-0bbbbbbbbbbbbbbb1',
};
const seeds: Ec2InstanceSeed[] = [
  {
    instanceId: ids.a1,
    pool: 'linux-x64',
    az: 'eu-west-1a',
    instanceType: 'm7i.large',
    tags: { team: 'ci' },
  },
  { instanceId: ids.a2, pool: 'linux-x64', az: 'eu-west-1b', instanceType: 'm7i.large' },
  { instanceId: ids.a3, pool: 'linux-x64', az: 'eu-west-1a', instanceType: 'm7i.large', state: 'running' },
  { instanceId: ids.b1, pool: 'linux-arm', az: 'eu-west-1a', instanceType: 'm7g.large', spot: true },
];

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

const start = async (extra: Partial<Ec2TwinOptions> = {}, clientOptions: { maxAttempts?: number } = {}) => {
  const clock: TwinClock = createTwinClock(0.001);
  const twin = createEc2Twin({ clock, region: 'eu-west-1', instances: seeds, ...extra });
  const faults = new FaultInjector(() => ({ targets: faultTargetsOf([twin]) }));
  const endpoint: TwinAwsEndpoint = await startTwinAwsEndpoint([twin], faults);
  const client = new EC2Client({
    region: 'eu-west-1',
    endpoint: endpoint.url,
    credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
    ...clientOptions,
  });
  cleanups.push(
    () => clock.close(),
    () => twin.close(),
    () => endpoint.close(),
    () => client.destroy(),
  );
  const stateOf = async (instanceId: string) => {
    const out = await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return out.Reservations?.[0]?.Instances?.[0]?.State;
  };
  return { clock, twin, faults, endpoint, client, stateOf };
};

const waitFor = async (check: () => Promise<boolean> | boolean, timeoutMs = 3_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('EC2 twin over the real SDK', () => {
  it('finds a pool’s stopped instances by tag and state filters, in EC2’s shape', async () => {
    const { client } = await start();
    const out = await client.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'tag:ghes-cp:pool', Values: ['linux-x64'] },
          { Name: 'instance-state-name', Values: ['stopped', 'stopping'] },
        ],
      }),
    );
    const instances = out.Reservations!.flatMap((reservation) => reservation.Instances ?? []);
    expect(instances.map((instance) => instance.InstanceId).sort()).toEqual([ids.a1, ids.a2]);
    const first = instances.find((instance) => instance.InstanceId === ids.a1)!;
    expect(first.State).toEqual({ Code: 80, Name: 'stopped' });
    expect(first.InstanceType).toBe('m7i.large');
    expect(first.Placement?.AvailabilityZone).toBe('eu-west-1a');
    expect(first.LaunchTime).toBeInstanceOf(Date);
    expect(first.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'ghes-cp:pool', Value: 'linux-x64' },
        { Key: 'team', Value: 'ci' },
      ]),
    );
    expect(out.Reservations![0]!.ReservationId).toMatch(/^r-0[0-9a-f]{16}$/);
  });

  it('matches tag-key, zone, type and wildcard filters', async () => {
    const { client } = await start();
    const select = async (Name: string, Values: string[]) => {
      const out = await client.send(new DescribeInstancesCommand({ Filters: [{ Name, Values }] }));
      return out.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId)).sort();
    };
    expect(await select('tag-key', ['team'])).toEqual([ids.a1]);
    expect(await select('availability-zone', ['eu-west-1b'])).toEqual([ids.a2]);
    expect(await select('instance-type', ['m7g.*'])).toEqual([ids.b1]);
    expect(await select('instance-id', [ids.a3, ids.b1])).toEqual([ids.a3, ids.b1]);
  });

  it('gives seeded instances without an id an EC2-shaped one', async () => {
    const clock = createTwinClock(0.001);
    cleanups.push(() => clock.close());
    const twin = createEc2Twin({
      clock,
      region: 'eu-west-1',
      instances: [{ pool: 'p', az: 'eu-west-1c', instanceType: 't3.micro' }],
    });
    expect(twin.list()[0]).toMatchObject({ state: 'stopped', pool: 'p', tags: { 'ghes-cp:pool': 'p' } });
    expect(twin.list()[0]!.instanceId).toMatch(/^i-0[0-9a-f]{16}$/);
  });

  it("tags every seeded instance with the stack's parameter prefix, so each stage's dispatcher finds only its own", async () => {
    // Prepare: prod's fleet, plus one instance of a pool with the same name set up for dev.
    const prod = '/ghes-control-plane/prod/runners';
    const dev = '/ghes-control-plane/dev/runners';
    const devInstance = 'i-0dddddddddddddd01';
    const { client, twin } = await start({
      parameterPrefix: prod,
      instances: [
        ...seeds,
        {
          instanceId: devInstance,
          pool: 'linux-x64',
          az: 'eu-west-1a',
          instanceType: 'm7i.large',
          tags: { 'ghes-cp:parameter-prefix': dev },
        },
      ],
    });
    const stoppedOf = async (prefix: string) => {
      const out = await client.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: 'tag:ghes-cp:pool', Values: ['linux-x64'] },
            { Name: 'tag:ghes-cp:parameter-prefix', Values: [prefix] },
            { Name: 'instance-state-name', Values: ['stopped'] },
          ],
        }),
      );
      return out.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId)).sort();
    };

    // Act + Assess
    expect(await stoppedOf(prod)).toEqual([ids.a1, ids.a2]);
    expect(await stoppedOf(dev)).toEqual([devInstance]);
    expect(twin.list().find((i) => i.instanceId === ids.b1)!.tags).toEqual({
      'ghes-cp:pool': 'linux-arm',
      'ghes-cp:parameter-prefix': prod,
    });
  });

  it('answers InvalidInstanceID.NotFound for an unknown instance id', async () => {
    const { client } = await start();
    await expect(
      client.send(new DescribeInstancesCommand({ InstanceIds: ['i-0ffffffffffffffff'] })),
    ).rejects.toMatchObject({ name: 'InvalidInstanceID.NotFound', $metadata: { httpStatusCode: 400 } });
  });

  it('starts a stopped instance and reports it running after the boot delay', async () => {
    const { client, twin, stateOf } = await start({ bootMs: 20_000 });
    const seen: [Ec2State, Ec2State][] = [];
    twin.onStateChange((view, previous) => view.instanceId === ids.a1 && seen.push([previous, view.state]));

    const out = await client.send(new StartInstancesCommand({ InstanceIds: [ids.a1] }));
    expect(out.StartingInstances).toEqual([
      {
        InstanceId: ids.a1,
        CurrentState: { Code: 0, Name: 'pending' },
        PreviousState: { Code: 80, Name: 'stopped' },
      },
    ]);
    await waitFor(async () => (await stateOf(ids.a1))?.Name === 'running');
    expect(await stateOf(ids.a1)).toEqual({ Code: 16, Name: 'running' });
    expect(seen).toEqual([
      ['stopped', 'pending'],
      ['pending', 'running'],
    ]);
    const status = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: [ids.a1] }));
    expect(status.InstanceStatuses?.[0]?.InstanceState?.Name).toBe('running');
  });

  it('reports an already running instance unchanged when asked to start it', async () => {
    const { client } = await start();
    const out = await client.send(new StartInstancesCommand({ InstanceIds: [ids.a3] }));
    expect(out.StartingInstances?.[0]).toMatchObject({
      CurrentState: { Code: 16, Name: 'running' },
      PreviousState: { Code: 16, Name: 'running' },
    });
  });

  it('refuses to start a stopping instance with IncorrectInstanceState and starts none of the batch', async () => {
    const { client, stateOf } = await start({ stopMs: 60_000_000 });
    const stopped = await client.send(new StopInstancesCommand({ InstanceIds: [ids.a3] }));
    expect(stopped.StoppingInstances?.[0]?.CurrentState).toEqual({ Code: 64, Name: 'stopping' });

    const error = await client
      .send(new StartInstancesCommand({ InstanceIds: [ids.a1, ids.a3] }))
      .catch((e) => e);
    expect(error.name).toBe('IncorrectInstanceState');
    expect(error.message).toContain(ids.a3);
    expect(await stateOf(ids.a1)).toEqual({ Code: 80, Name: 'stopped' });
  });

  it('stops a running instance through stopping to stopped', async () => {
    const { client, stateOf } = await start({ stopMs: 10_000 });
    await client.send(new StopInstancesCommand({ InstanceIds: [ids.a3] }));
    await waitFor(async () => (await stateOf(ids.a3))?.Name === 'stopped');
  });

  it('lets a state listener stop a booting instance, and the stop wins over the boot', async () => {
    const { client, twin, stateOf } = await start({ bootMs: 20_000, stopMs: 10_000 });
    twin.onStateChange((view) => {
      if (view.state === 'pending')
        void twin.handle({
          operation: 'StopInstances',
          input: { 'InstanceId.1': view.instanceId },
          rawBody: '',
          headers: {},
          caller: '',
        });
    });
    await client.send(new StartInstancesCommand({ InstanceIds: [ids.a1] }));
    await waitFor(async () => (await stateOf(ids.a1))?.Name === 'stopped');
    await new Promise((resolve) => setTimeout(resolve, 40)); // past the boot delay
    expect(await stateOf(ids.a1)).toEqual({ Code: 80, Name: 'stopped' });
  });

  it('fails one StartInstances call with an armed capacity fault, then starts the instance', async () => {
    const { client, faults, endpoint, stateOf } = await start({}, { maxAttempts: 1 });
    faults.arm({ target: 'ec2:StartInstances', error: 'InsufficientInstanceCapacity', count: 1 });

    await expect(client.send(new StartInstancesCommand({ InstanceIds: [ids.a1] }))).rejects.toMatchObject({
      name: 'InsufficientInstanceCapacity',
      $metadata: { httpStatusCode: 500 },
    });
    expect(await stateOf(ids.a1)).toEqual({ Code: 80, Name: 'stopped' });
    const out = await client.send(new StartInstancesCommand({ InstanceIds: [ids.a1] }));
    expect(out.StartingInstances?.[0]?.CurrentState?.Name).toBe('pending');
    expect(endpoint.count('ec2:StartInstances')).toBe(2);
    expect(faults.list()).toEqual([]);
  });
});
