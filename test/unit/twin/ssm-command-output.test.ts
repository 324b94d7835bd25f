import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { faultTargetsOf, startTwinAwsEndpoint, type TwinAwsEndpoint } from '../../twin/aws-endpoint.ts';
import { FaultInjector } from '../../twin/faults.ts';
import { createS3Twin } from '../../twin/s3.ts';
import { createSsmCommandsTwin, loadSsmDocument, type CommandResult } from '../../twin/ssm-commands.ts';

/**
 * SSM keeps 24,000 characters of stdout and 8,000 of stderr inline; with `OutputS3BucketName` the
 * agent uploads both whole. Through `@aws-sdk/client-ssm` and `@aws-sdk/client-s3` on loopback.
 */
const INSTANCE = 'i-0a1b2c3d4e5f60002';
const BUCKET = 'command-output';
const stdout = Array.from(
  { length: 600 },
  (_, i) => `line ${String(i).padStart(4, '0')} ${'x'.repeat(44)}\n`,
).join('');
const stderr = 'e'.repeat(9_000);
let next: () => Promise<CommandResult> = async () => ({ exitCode: 0, stdout, stderr });

let endpoint: TwinAwsEndpoint;
let ssm: SSMClient;
let s3: S3Client;
let s3Twin: ReturnType<typeof createS3Twin>;

beforeAll(async () => {
  s3Twin = createS3Twin();
  s3Twin.createBucket(BUCKET);
  const commands = createSsmCommandsTwin({
    documents: [
      loadSsmDocument(
        'ghes-repl-promote',
        new URL('../../../infra/ssm-ghes-repl-promote.yaml', import.meta.url),
      ),
    ],
    hostOf: (id) => (id === INSTANCE ? { agentOnline: () => true, run: () => next() } : undefined),
    instanceIds: () => [INSTANCE],
    s3: s3Twin,
    region: 'eu-west-1',
    timeScale: 0.001,
  });
  const services = [commands, s3Twin];
  endpoint = await startTwinAwsEndpoint(
    services,
    new FaultInjector(() => ({ targets: faultTargetsOf(services) })),
  );
  const connection = {
    endpoint: endpoint.url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'twin', secretAccessKey: 'twin' },
    maxAttempts: 1,
  };
  ssm = new SSMClient(connection);
  s3 = new S3Client(connection);
});
afterAll(async () => endpoint?.close());

const run = async (parameters: Record<string, string[]> = {}) => {
  const { Command } = await ssm.send(
    new SendCommandCommand({
      DocumentName: 'ghes-repl-promote',
      InstanceIds: [INSTANCE],
      Parameters: parameters,
      OutputS3BucketName: BUCKET,
      OutputS3KeyPrefix: 'runs/failover-1',
    }),
  );
  for (;;) {
    const invocation = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: Command!.CommandId!, InstanceId: INSTANCE }),
    );
    if (invocation.Status !== 'InProgress') return invocation;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('twin SSM command output in S3', () => {
  it('keeps the head inline and the whole stdout and stderr in the bucket, under the step name', async () => {
    // Act
    const invocation = await run();
    const prefix = `runs/failover-1/${invocation.CommandId}/${INSTANCE}/awsrunShellScript/ghesCommand/`;
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    const read = async (key: string) =>
      (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();

    // Assess
    expect(stdout.length).toBeGreaterThan(24_000);
    expect(invocation.StandardOutputContent).toBe(stdout.slice(0, 24_000));
    expect(invocation.StandardErrorContent).toHaveLength(8_000);
    expect(listed.Contents!.map((o) => o.Key)).toEqual([`${prefix}stderr`, `${prefix}stdout`]);
    expect(await read(`${prefix}stdout`)).toBe(stdout);
    expect(await read(`${prefix}stderr`)).toBe(stderr);
    expect(invocation.StandardOutputUrl).toBe(`https://s3.eu-west-1.amazonaws.com/${BUCKET}/${prefix}stdout`);
  });

  it('stops a command that outlives its scaled executionTimeout: TimedOut, and what it prints later is lost', async () => {
    // Prepare: 10 s at 0.001 is 10 ms; the command takes 200 ms.
    next = () =>
      new Promise((resolve) => setTimeout(() => resolve({ exitCode: 0, stdout: 'late\n', stderr: '' }), 200));

    // Act
    const invocation = await run({ executionTimeout: ['10'] });
    await new Promise((resolve) => setTimeout(resolve, 250));

    // Assess
    expect(invocation).toMatchObject({
      Status: 'TimedOut',
      StatusDetails: 'ExecutionTimedOut',
      ResponseCode: -1,
    });
    const prefix = `runs/failover-1/${invocation.CommandId}/${INSTANCE}/awsrunShellScript/ghesCommand/stdout`;
    expect(s3Twin.get(BUCKET, prefix)?.body.toString()).toBe('');
  });
});
