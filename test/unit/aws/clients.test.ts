import { afterEach, describe, expect, it } from 'vitest';
import { StartInstancesCommand } from '@aws-sdk/client-ec2';
import { createAwsClients } from '../../../shared/aws/clients.ts';
import { faultTargetsOf, startTwinAwsEndpoint } from '../../twin/aws-endpoint.ts';
import { createTwinClock } from '../../twin/clock.ts';
import { createEc2Twin } from '../../twin/ec2.ts';
import { FaultInjector } from '../../twin/faults.ts';

/** The SDK clients as the dispatcher builds them, against the EC2 twin with faults armed. */
const instanceId = 'i-0aaaaaaaaaaaaaaa1';
let close: () => Promise<void> = async () => {};
afterEach(async () => close());

const start = async () => {
  const clock = createTwinClock(0.001);
  const twin = createEc2Twin({
    clock,
    region: 'eu-west-1',
    instances: [{ instanceId, pool: 'linux', az: 'eu-west-1a', instanceType: 'm7i.large' }],
  });
  const faults = new FaultInjector(() => ({ targets: faultTargetsOf([twin]) }));
  const endpoint = await startTwinAwsEndpoint([twin], faults);
  const { ec2 } = createAwsClients({
    region: 'eu-west-1',
    endpoint: endpoint.url,
    credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
  });
  close = async () => {
    ec2.destroy();
    twin.close();
    clock.close();
    await endpoint.close();
  };
  const startInstance = () => ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
  return { faults, endpoint, startInstance };
};

describe('the EC2 client the dispatcher uses', () => {
  it('does not retry a capacity shortage on the same instance: the dispatcher moves to the next one', async () => {
    const { faults, endpoint, startInstance } = await start();
    faults.arm({ target: 'ec2:StartInstances', error: 'InsufficientInstanceCapacity', count: 1 });
    await expect(startInstance()).rejects.toMatchObject({ name: 'InsufficientInstanceCapacity' });
    expect(endpoint.count('ec2:StartInstances')).toBe(1);
  });

  it('backs off and retries throttling until the call goes through', async () => {
    const { faults, endpoint, startInstance } = await start();
    faults.arm({ target: 'ec2:StartInstances', error: 'RequestLimitExceeded', count: 3 });
    const out = await startInstance();
    expect(out.StartingInstances?.[0]?.CurrentState?.Name).toBe('pending');
    expect(endpoint.count('ec2:StartInstances')).toBe(4);
  });
});
