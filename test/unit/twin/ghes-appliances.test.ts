import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { loadSandboxConfig } from '../../sandbox/sandbox-config.ts';
import { COMMAND_OUTPUT_BUCKET, MANAGE_API_PASSWORD, startTwin, type Twin } from '../../twin/twin.ts';

/**
 * The simulated GHES primary and replica through `@aws-sdk/client-ssm` on the twin's endpoint,
 * running the real GHES documents (infra/ssm-ghes-*.yaml), plus their `/status` and Manage API over
 * loopback HTTP. Time runs at 0.01: promote 1.8 s, drain 0.6 s, catch-up 1.2 s.
 */
const vector = (file: string) => readFileSync(new URL(`../../vectors/ghes/${file}`, import.meta.url), 'utf8');
const PRIMARY = 'i-0a1b2c3d4e5f60001';
const REPLICA = 'i-0a1b2c3d4e5f60002';

const startOpsTwin = async () => {
  const config = loadSandboxConfig(undefined, {});
  config.sandbox.timeScale = 0.01;
  config.sandbox.schedules = false;
  const twin = await startTwin(config);
  const connection = {
    endpoint: twin.endpoint.url,
    region: config.region,
    credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
    maxAttempts: 1,
  };
  return { twin, ssm: new SSMClient(connection), s3: new S3Client(connection) };
};

type Clients = Awaited<ReturnType<typeof startOpsTwin>>;
const documents = (twin: Twin) => JSON.parse(twin.lambdaEnv.GHES_DOCUMENTS!) as Record<string, string>;

/** SendCommand, then GetCommandInvocation until the command is no longer running. */
const runCommand = async (
  { twin, ssm }: Clients,
  instanceId: string,
  command: string,
  parameters: Record<string, string[]> = {},
  extra: { OutputS3BucketName?: string; OutputS3KeyPrefix?: string } = {},
): Promise<GetCommandInvocationCommandOutput> => {
  const { Command } = await ssm.send(
    new SendCommandCommand({
      DocumentName: documents(twin)[command],
      InstanceIds: [instanceId],
      Parameters: parameters,
      ...extra,
    }),
  );
  for (;;) {
    const invocation = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: Command!.CommandId!, InstanceId: instanceId }),
    );
    if (!['Pending', 'InProgress', 'Delayed'].includes(invocation.Status!)) return invocation;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const statusOf = async (twin: Twin, name: string, signal?: AbortSignal) =>
  (await fetch(twin.appliances!.statusUrl(name), signal ? { signal } : {})).status;
const applianceOf = (twin: Twin, name: string) => twin.appliances!.list().find((a) => a.name === name)!;
const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: Error) => error.name,
  );

describe('twin GHES appliances: reading and maintenance', () => {
  let clients: Clients;
  beforeAll(async () => {
    clients = await startOpsTwin();
  });
  afterAll(async () => clients?.twin.close());
  afterEach(() => clients.twin.faults.clear());

  it('answers ghe-repl-status on the replica with the vector’s text and exit code, -v with the verbose vector', async () => {
    // Act
    const plain = await runCommand(clients, REPLICA, 'ghe-repl-status');
    const verbose = await runCommand(clients, REPLICA, 'ghe-repl-status', { verbosity: ['-v'] });

    // Assess
    expect(plain).toMatchObject({ Status: 'Success', ResponseCode: 0, PluginName: 'ghesCommand' });
    expect(plain.StandardOutputContent).toBe(vector('repl-status-healthy-3.6.txt'));
    expect(verbose.StandardOutputContent).toBe(vector('repl-status-verbose-2.x.txt'));
  });

  it('refuses a parameter the document’s allowedPattern does not admit, running nothing', async () => {
    // Prepare
    const before = clients.twin.ssmCommands.invocations().length;

    // Act
    const refused = await errorOf(
      clients.ssm.send(
        new SendCommandCommand({
          DocumentName: documents(clients.twin)['ghe-repl-status'],
          InstanceIds: [REPLICA],
          Parameters: { verbosity: ['-v; reboot'] },
        }),
      ),
    );

    // Assess
    expect(refused).toBe('InvalidParameters');
    expect(clients.twin.ssmCommands.invocations()).toHaveLength(before);
  });

  it('reports a replica catching up (exit 1, the vector) and in sync once the scaled catch-up time has passed', async () => {
    // Prepare
    clients.twin.appliances!.update('ghes-replica', { replication: 'catching-up' });

    // Act
    const behind = await runCommand(clients, REPLICA, 'ghe-repl-status');
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    const caughtUp = await runCommand(clients, REPLICA, 'ghe-repl-status');

    // Assess
    expect(behind).toMatchObject({ Status: 'Failed', ResponseCode: 1 });
    expect(behind.StandardOutputContent).toBe(vector('repl-status-catching-up-3.6.txt'));
    expect(caughtUp).toMatchObject({ Status: 'Success', ResponseCode: 0 });
    expect(applianceOf(clients.twin, 'ghes-replica').replication).toBe('ok');
  });

  it('takes the primary off /status in maintenance and drains its connections to 0 over the scaled drain time', async () => {
    // Prepare
    expect(await statusOf(clients.twin, 'ghes-primary')).toBe(200);
    const connections = async () =>
      JSON.parse((await runCommand(clients, PRIMARY, 'ghe-maintenance-status')).StandardOutputContent!)[0]
        .connection_services[0].number as number;

    // Act
    const set = await runCommand(clients, PRIMARY, 'ghe-maintenance', { mode: ['-s'] });
    const query = await runCommand(clients, PRIMARY, 'ghe-maintenance', { mode: ['-q'] });
    const early = await connections();
    await new Promise((resolve) => setTimeout(resolve, 700));
    const late = await connections();
    const inMaintenance = await statusOf(clients.twin, 'ghes-primary');
    await runCommand(clients, PRIMARY, 'ghe-maintenance', { mode: ['-u'] });
    const unsetQuery = await runCommand(clients, PRIMARY, 'ghe-maintenance', { mode: ['-q'] });

    // Assess
    expect(set.ResponseCode).toBe(0);
    expect(query.ResponseCode).toBe(0);
    expect(early).toBeGreaterThan(0);
    expect(early).toBeLessThanOrEqual(12);
    expect(late).toBe(0);
    expect(inMaintenance).toBe(503);
    expect(unsetQuery.ResponseCode).toBe(1);
    expect(unsetQuery.StandardOutputContent).toContain('not set');
    expect(await statusOf(clients.twin, 'ghes-primary')).toBe(200);
    expect(await statusOf(clients.twin, 'ghes-replica')).toBe(503);
  });

  it('makes an unreachable primary refuse SSM (InvalidInstanceId) and /status, and leaves the replica alone', async () => {
    // Prepare
    clients.twin.faults.arm({ target: 'appliance:ghes-primary', error: 'Unreachable' });

    // Act
    const send = await errorOf(runCommand(clients, PRIMARY, 'ghe-maintenance', { mode: ['-q'] }));
    const status = await errorOf(statusOf(clients.twin, 'ghes-primary'));
    const info = await clients.ssm.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: 'InstanceIds', Values: [PRIMARY, REPLICA] }],
      }),
    );
    const replica = await runCommand(clients, REPLICA, 'ghe-repl-status');
    clients.twin.faults.clear();
    const back = await statusOf(clients.twin, 'ghes-primary');

    // Assess
    expect(send).toBe('InvalidInstanceId');
    expect(status).toBe('TypeError'); // fetch failed: the connection was reset
    expect(info.InstanceInformationList!.map((i) => [i.InstanceId, i.PingStatus])).toEqual([
      [PRIMARY, 'ConnectionLost'],
      [REPLICA, 'Online'],
    ]);
    expect(replica.ResponseCode).toBe(0);
    expect(back).toBe(200);
  });

  it('leaves /status unanswered on a Timeout fault, so the caller’s own timeout decides', async () => {
    // Prepare
    clients.twin.faults.arm({ target: 'appliance:ghes-primary', error: 'Timeout', count: 1 });

    // Act
    const started = Date.now();
    const outcome = await errorOf(statusOf(clients.twin, 'ghes-primary', AbortSignal.timeout(200)));

    // Assess
    expect(outcome).toBe('TimeoutError');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(await statusOf(clients.twin, 'ghes-primary')).toBe(200);
  });

  it('fails the named command with the armed exit code, only on the appliance and mode named', async () => {
    // Prepare
    clients.twin.faults.arm({
      target: 'ssm:ghe-maintenance',
      appliance: 'ghes-primary',
      mode: '-s',
      exitCode: 4,
      count: 1,
    });

    // Act
    const query = await runCommand(clients, PRIMARY, 'ghe-maintenance', { mode: ['-q'] });
    const onReplica = await runCommand(clients, REPLICA, 'ghe-maintenance', { mode: ['-s'] });
    const set = await runCommand(clients, PRIMARY, 'ghe-maintenance', { mode: ['-s'] });
    await runCommand(clients, REPLICA, 'ghe-maintenance', { mode: ['-u'] });

    // Assess
    expect(query.ResponseCode).toBe(1);
    expect(onReplica.ResponseCode).toBe(0);
    expect(set).toMatchObject({ Status: 'Failed', ResponseCode: 4 });
    expect(applianceOf(clients.twin, 'ghes-primary').maintenance).toBe(false);
  });

  it('answers the Manage API with basic auth only, in the vectors’ shapes', async () => {
    // Prepare
    const base = clients.twin.appliances!.manageUrl('ghes-primary');
    const auth = {
      authorization: `Basic ${Buffer.from(`api_key:${MANAGE_API_PASSWORD}`).toString('base64')}`,
    };

    // Act
    const anonymous = await fetch(`${base}/manage/v1/maintenance`);
    const maintenance = await (await fetch(`${base}/manage/v1/maintenance`, { headers: auth })).json();
    const replication = await (await fetch(`${base}/manage/v1/replication/status`, { headers: auth })).json();

    // Assess
    expect(anonymous.status).toBe(401);
    expect(maintenance).toEqual([
      expect.objectContaining({
        hostname: 'ghes-primary',
        status: 'off',
        connection_services: expect.arrayContaining([{ name: 'git operations', number: 12 }]),
      }),
    ]);
    expect(replication).toMatchObject({ status: 'OK', nodes: [{ hostname: 'ghes-replica', status: 'OK' }] });
  });

  it('uploads the whole output to the S3 output bucket at the SSM key layout and gives its URL', async () => {
    // Act
    const invocation = await runCommand(
      clients,
      REPLICA,
      'ghe-repl-status',
      { verbosity: ['-vv'] },
      {
        OutputS3BucketName: COMMAND_OUTPUT_BUCKET,
        OutputS3KeyPrefix: 'ssm/',
      },
    );
    const url = new URL(invocation.StandardOutputUrl!);
    const [, bucket, ...key] = url.pathname.split('/');
    const object = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key.join('/') }));
    const missing = await errorOf(
      clients.s3.send(new GetObjectCommand({ Bucket: COMMAND_OUTPUT_BUCKET, Key: 'ssm/nothing/here' })),
    );

    // Assess
    expect(key.join('/')).toBe(`ssm/${invocation.CommandId}/${REPLICA}/awsrunShellScript/ghesCommand/stdout`);
    expect(bucket).toBe(COMMAND_OUTPUT_BUCKET);
    expect(await object.Body!.transformToString()).toBe(vector('repl-status-verbose-2.x.txt'));
    expect(invocation.StandardErrorUrl).toBe('');
    expect(missing).toBe('NoSuchKey');
  });
});

describe('twin GHES appliances: promote', () => {
  let clients: Clients;
  beforeAll(async () => {
    clients = await startOpsTwin();
  });
  afterAll(async () => clients?.twin.close());
  afterEach(() => clients.twin.faults.clear());

  it('fails promote with the armed exit code, leaving the roles as they were', async () => {
    // Prepare
    clients.twin.faults.arm({ target: 'ssm:ghe-repl-promote', exitCode: 1, count: 1 });

    // Act
    const promote = await runCommand(clients, REPLICA, 'ghe-repl-promote');

    // Assess
    expect(promote).toMatchObject({ Status: 'Failed', ResponseCode: 1 });
    expect(promote.StandardErrorContent).toContain('not promoted');
    expect(clients.twin.appliances!.list().map((a) => [a.name, a.role])).toEqual([
      ['ghes-primary', 'primary'],
      ['ghes-replica', 'replica'],
    ]);
    // Promote's first step had put the primary in maintenance; the caller must take it out.
    expect(applianceOf(clients.twin, 'ghes-primary').maintenance).toBe(true);
    await runCommand(clients, PRIMARY, 'ghe-maintenance', { mode: ['-u'] });
  });

  it('promotes the replica over the scaled promote time: the old primary goes to maintenance, then the roles swap', async () => {
    // Act
    const started = Date.now();
    const promoting = runCommand(clients, REPLICA, 'ghe-repl-promote');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const during = {
      primary: await statusOf(clients.twin, 'ghes-primary'),
      replica: await statusOf(clients.twin, 'ghes-replica'),
      second: await runCommand(clients, REPLICA, 'ghe-repl-promote'),
    };
    const promote = await promoting;
    const elapsed = Date.now() - started;

    // Assess
    expect(during.primary).toBe(503);
    expect(during.replica).toBe(503);
    expect(during.second.ResponseCode).toBe(75);
    expect(promote).toMatchObject({ Status: 'Success', ResponseCode: 0 });
    expect(promote.StandardOutputContent).toBe(vector('repl-promote-2.x.txt'));
    expect(elapsed).toBeGreaterThanOrEqual(1_800);
    expect(
      clients.twin.appliances!.list().map((a) => [a.name, a.role, a.maintenance, a.replication]),
    ).toEqual([
      ['ghes-primary', 'replica', true, 'not-running'],
      ['ghes-replica', 'primary', false, null],
    ]);
    expect(await statusOf(clients.twin, 'ghes-replica')).toBe(200);
    expect(await statusOf(clients.twin, 'ghes-primary')).toBe(503);
    const status = await runCommand(clients, PRIMARY, 'ghe-repl-status');
    expect(status.StandardOutputContent).toBe(vector('repl-status-not-running.txt'));
  });
});
