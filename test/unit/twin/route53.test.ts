import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type Change,
} from '@aws-sdk/client-route-53';
import { faultTargetsOf, startTwinAwsEndpoint, type TwinAwsEndpoint } from '../../twin/aws-endpoint.ts';
import { FaultInjector } from '../../twin/faults.ts';
import { createRoute53Twin, type Route53Twin } from '../../twin/route53.ts';

/**
 * The twin's Route53 through `@aws-sdk/client-route-53` over loopback (REST-XML): the failover's DNS
 * switch is an UPSERT of one A record, then GetChange until INSYNC.
 */
const ZONE = 'Z0SANDBOX0001';
const TIME_SCALE = 0.01;
const SYNC_MS = 30_000; // 300 ms here

let route53: Route53Twin;
let endpoint: TwinAwsEndpoint;
let faults: FaultInjector;
let client: Route53Client;

beforeAll(async () => {
  route53 = createRoute53Twin({
    clock: { timeScale: TIME_SCALE },
    syncMs: SYNC_MS,
    zones: [
      {
        id: ZONE,
        name: 'sandbox.internal',
        records: [{ name: 'ghes.sandbox.internal', type: 'A', ttl: 60, values: ['10.0.1.10'] }],
      },
    ],
  });
  faults = new FaultInjector(() => ({ targets: faultTargetsOf([route53]) }));
  endpoint = await startTwinAwsEndpoint([route53], faults);
  client = new Route53Client({
    endpoint: endpoint.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
    maxAttempts: 1,
  });
});
afterAll(async () => endpoint?.close());

const upsert = (value: string, ttl = 60, name = 'ghes.sandbox.internal'): Change => ({
  Action: 'UPSERT',
  ResourceRecordSet: { Name: name, Type: 'A', TTL: ttl, ResourceRecords: [{ Value: value }] },
});

const ghesRecord = () => route53.records(ZONE).find((r) => r.name === 'ghes.sandbox.internal.');

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: Error & { $metadata?: { httpStatusCode?: number } }) => ({
      name: error.name,
      status: error.$metadata?.httpStatusCode,
      message: error.message,
    }),
  );

describe('twin Route53', () => {
  it('lists the zone in Route53’s order, apex NS and SOA first, and starts a listing at a name and type', async () => {
    // Act
    const all = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE }));
    const one = await client.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: `/hostedzone/${ZONE}`,
        StartRecordName: 'ghes.sandbox.internal',
        StartRecordType: 'A',
        MaxItems: 1,
      }),
    );

    // Assess
    expect(all.ResourceRecordSets!.map((r) => `${r.Name} ${r.Type}`)).toEqual([
      'sandbox.internal. NS',
      'sandbox.internal. SOA',
      'ghes.sandbox.internal. A',
    ]);
    expect(one.ResourceRecordSets).toEqual([
      { Name: 'ghes.sandbox.internal.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '10.0.1.10' }] },
    ]);
    expect(one.IsTruncated).toBe(false);
    expect(one.MaxItems).toBe(1);
  });

  it('applies an UPSERT at once and reports the change PENDING until the scaled sync time, then INSYNC', async () => {
    // Act
    const started = Date.now();
    const { ChangeInfo } = await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        ChangeBatch: { Comment: 'failover to ghes-replica', Changes: [upsert('10.0.2.10', 30)] },
      }),
    );
    const listed = await client.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        StartRecordName: 'ghes.sandbox.internal',
        MaxItems: 1,
      }),
    );
    const pending = await client.send(new GetChangeCommand({ Id: ChangeInfo!.Id }));
    let insync = pending.ChangeInfo!.Status;
    while (insync !== 'INSYNC' && Date.now() - started < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      insync = (await client.send(new GetChangeCommand({ Id: ChangeInfo!.Id }))).ChangeInfo!.Status;
    }
    const elapsed = Date.now() - started;

    // Assess
    expect(ChangeInfo).toMatchObject({ Status: 'PENDING', Comment: 'failover to ghes-replica' });
    expect(ChangeInfo!.Id).toMatch(/^\/change\/C[0-9A-Z]+$/);
    expect(listed.ResourceRecordSets![0]).toMatchObject({
      TTL: 30,
      ResourceRecords: [{ Value: '10.0.2.10' }],
    });
    expect(pending.ChangeInfo!.Status).toBe('PENDING');
    expect(insync).toBe('INSYNC');
    expect(elapsed).toBeGreaterThanOrEqual(SYNC_MS * TIME_SCALE - 10);
  });

  it('changes nothing when one change of a batch is invalid: CREATE of an existing record', async () => {
    // Prepare
    const before = ghesRecord();

    // Act
    const refused = await errorOf(
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: ZONE,
          ChangeBatch: {
            Changes: [
              upsert('10.0.9.9', 60, 'other.sandbox.internal'),
              { ...upsert('10.0.1.10'), Action: 'CREATE' },
            ],
          },
        }),
      ),
    );

    // Assess
    expect(refused).toMatchObject({ name: 'InvalidChangeBatch', status: 400 });
    expect(refused!.message).toContain('but it already exists');
    expect(ghesRecord()).toEqual(before);
    expect(route53.records(ZONE).some((r) => r.name === 'other.sandbox.internal.')).toBe(false);
  });

  it('deletes only with the current values, and refuses a name outside the zone and an IP that is not one', async () => {
    // Prepare
    await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        ChangeBatch: { Changes: [upsert('10.0.5.5', 60, 'gone.sandbox.internal')] },
      }),
    );
    const remove = (value: string): Change => ({
      ...upsert(value, 60, 'gone.sandbox.internal'),
      Action: 'DELETE',
    });

    // Act
    const mismatch = await errorOf(
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: ZONE,
          ChangeBatch: { Changes: [remove('10.0.5.6')] },
        }),
      ),
    );
    await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: ZONE,
        ChangeBatch: { Changes: [remove('10.0.5.5')] },
      }),
    );
    const outside = await errorOf(
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: ZONE,
          ChangeBatch: { Changes: [upsert('10.0.2.10', 60, 'ghes.example.com')] },
        }),
      ),
    );
    const badIp = await errorOf(
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: ZONE,
          ChangeBatch: { Changes: [upsert('10.0.2')] },
        }),
      ),
    );

    // Assess
    expect(mismatch!.message).toContain('do not match the current values');
    expect(route53.records(ZONE).some((r) => r.name === 'gone.sandbox.internal.')).toBe(false);
    expect(outside).toMatchObject({ name: 'InvalidChangeBatch' });
    expect(outside!.message).toContain('is not permitted in zone sandbox.internal.');
    expect(badIp).toMatchObject({ name: 'InvalidChangeBatch' });
  });

  it('answers an unknown zone and an unknown change with 404, as Route53 does', async () => {
    // Act
    const zone = await errorOf(client.send(new ListResourceRecordSetsCommand({ HostedZoneId: 'Z0NOPE' })));
    const change = await errorOf(client.send(new GetChangeCommand({ Id: 'C0NOPE' })));

    // Assess
    expect(zone).toMatchObject({ name: 'NoSuchHostedZone', status: 404 });
    expect(change).toMatchObject({ name: 'NoSuchChange', status: 404 });
  });

  it('fails ChangeResourceRecordSets with an armed route53: fault, changing nothing', async () => {
    // Prepare
    faults.arm({ target: 'route53:ChangeResourceRecordSets', error: 'Throttling', count: 1 });
    const before = ghesRecord();

    // Act
    const refused = await errorOf(
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: ZONE,
          ChangeBatch: { Changes: [upsert('10.0.7.7')] },
        }),
      ),
    );

    // Assess
    expect(refused).toMatchObject({ name: 'Throttling', status: 400 });
    expect(ghesRecord()).toEqual(before);
  });
});
