import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import {
  GetCommandInvocationCommand,
  SSMClient,
  SSMServiceException,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  createApplianceCommands,
  type ApplianceCommandsDeps,
} from '../../../shared/ghes/appliance-commands.ts';
import { ApplianceCommandError } from '../../../shared/ghes/command-errors.ts';
import { keyFromOutputUrl } from '../../../shared/ghes/command-output.ts';
import type { DocumentNames } from '../../../shared/ghes/commands.ts';
import { parseReplStatusOutput } from '../../../shared/ghes/replication-status.ts';

const INSTANCE = 'i-0123456789abcdef0';
const COMMAND_ID = '6daa402c-2242-491a-9272-9287ffd9f492';
const BUCKET = 'ghes-cp-prod-command-output';
const DOCUMENTS: DocumentNames = {
  'ghe-repl-status': 'ghes-cp-prod-ghes-repl-status',
  'ghe-repl-promote': 'ghes-cp-prod-ghes-repl-promote',
  'ghe-maintenance': 'ghes-cp-prod-ghes-maintenance',
  'ghe-maintenance-status': 'ghes-cp-prod-ghes-maintenance-status',
};
const vector = (name: string) => readFileSync(new URL(`../../vectors/ghes/${name}`, import.meta.url), 'utf8');

const ssmError = (name: string) =>
  new SSMServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} (test)` });
const invocation = (
  fields: Partial<GetCommandInvocationCommandOutput>,
): GetCommandInvocationCommandOutput => ({
  $metadata: {},
  CommandId: COMMAND_ID,
  InstanceId: INSTANCE,
  ResponseCode: -1,
  StandardOutputContent: '',
  StandardErrorContent: '',
  ...fields,
});
/** An S3 body as the SDK hands it over: the one method the adapter reads it with. */
const body = (text: string) => ({ transformToString: async () => text });

describe('appliance commands over SSM', () => {
  const ssm = mockClient(SSMClient);
  const s3 = mockClient(S3Client);
  let slept: number[];
  let clock: number;

  beforeEach(() => {
    ssm.reset();
    s3.reset();
    slept = [];
    clock = 0;
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
  });

  const commands = (extra: Partial<ApplianceCommandsDeps> = {}) =>
    createApplianceCommands({
      ssm: ssm as unknown as SSMClient,
      s3: s3 as unknown as S3Client,
      documents: DOCUMENTS,
      output: { bucket: BUCKET },
      // Time passes only through sleep: the deadline logic is tested without real waiting.
      sleep: async (ms) => {
        slept.push(ms);
        clock += ms;
      },
      now: () => clock,
      random: () => 1,
      ...extra,
    });

  /** The error a call failed with (they must fail with our error type). */
  const failure = async (call: Promise<unknown>) => {
    const error = await call.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ApplianceCommandError);
    return error as ApplianceCommandError;
  };

  it('sends the document the command maps to, with only typed parameters and the output bucket', async () => {
    const id = await commands().send(
      INSTANCE,
      { name: 'ghe-repl-status', verbosity: '-vv' },
      { comment: 'failover-x' },
    );
    expect(id).toBe(COMMAND_ID);
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'ghes-cp-prod-ghes-repl-status',
      InstanceIds: [INSTANCE],
      Parameters: { verbosity: ['-vv'], executionTimeout: ['120'] },
      TimeoutSeconds: 60,
      Comment: 'failover-x',
      OutputS3BucketName: BUCKET,
      OutputS3KeyPrefix: 'ghes-commands',
    });
  });

  it('gives promote the timeout the failover asks for', async () => {
    await commands().send(INSTANCE, { name: 'ghe-repl-promote' }, { executionTimeoutSeconds: 45 * 60 });
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'ghes-cp-prod-ghes-repl-promote',
      Parameters: { executionTimeout: ['2700'] },
    });
  });

  it('runs a short command to its exit code and output, polling until it is done', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(ssmError('InvocationDoesNotExist'))
      .resolvesOnce(invocation({ Status: 'InProgress' }))
      .resolves(
        invocation({
          Status: 'Failed',
          StatusDetails: 'Failed',
          ResponseCode: 1,
          StandardOutputContent: vector('repl-status-catching-up-3.6.txt'),
        }),
      );
    const output = await commands().run(INSTANCE, { name: 'ghe-repl-status', verbosity: 'none' });
    // Exit 1 is an answer of ghe-repl-status (WARNING), not a failure of the command.
    expect(output).toMatchObject({ exitCode: 1, truncated: false });
    expect(parseReplStatusOutput(output).health).toBe('warning');
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 3);
    expect(s3).not.toHaveReceivedCommand(GetObjectCommand);
  });

  it('throws failed with the exit code when a command exits with a code that is not an answer', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(
      invocation({
        Status: 'Failed',
        StatusDetails: 'Failed',
        ResponseCode: 1,
        StandardErrorContent: 'boom\n',
      }),
    );
    const error = await failure(commands().run(INSTANCE, { name: 'ghe-maintenance', mode: '-s' }));
    expect(error).toMatchObject({
      kind: 'failed',
      exitCode: 1,
      command: 'ghe-maintenance -s',
      commandId: COMMAND_ID,
      output: 'boom',
    });
  });

  it('hands any exit code back when the caller parses failures itself', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 4 }));
    const output = await commands().run(
      INSTANCE,
      { name: 'ghe-maintenance', mode: '-u' },
      { acceptAnyExitCode: true },
    );
    expect(output.exitCode).toBe(4);
  });

  it.each([
    ['InvalidInstanceId', 'SendCommand refuses an instance whose agent is offline'],
    ['UnsupportedPlatformType', 'SendCommand refuses the platform'],
  ])('classifies %s as undeliverable (%s)', async (name) => {
    ssm.on(SendCommandCommand).rejects(ssmError(name));
    const error = await failure(commands().run(INSTANCE, { name: 'ghe-repl-status', verbosity: 'none' }));
    expect(error).toMatchObject({ kind: 'undeliverable', instanceId: INSTANCE, command: 'ghe-repl-status' });
    expect(error.message).toContain(name);
  });

  it.each([
    ['TimedOut', 'DeliveryTimedOut', 'undeliverable'],
    ['Failed', 'Undeliverable', 'undeliverable'],
    ['Failed', 'InvalidPlatform', 'undeliverable'],
    ['Failed', 'AccessDenied', 'undeliverable'],
    ['TimedOut', 'ExecutionTimedOut', 'timeout'],
    ['Cancelled', 'Cancelled', 'failed'],
    ['Failed', 'Terminated', 'failed'],
    ['Failed', 'Failed', 'failed'],
  ] as const)('classifies an invocation ended %s/%s as %s', async (Status, StatusDetails, kind) => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status, StatusDetails, ResponseCode: -1 }));
    const error = await failure(commands().poll(COMMAND_ID, INSTANCE));
    expect(error).toMatchObject({ kind, commandId: COMMAND_ID, instanceId: INSTANCE });
    expect(error.exitCode).toBeUndefined();
  });

  it.each(['TimedOut', 'Failed'] as const)(
    'calls an execution timeout (Status %s) a timeout even when the killed script left an exit code',
    async (Status) => {
      ssm
        .on(GetCommandInvocationCommand)
        .resolves(invocation({ Status, StatusDetails: 'ExecutionTimedOut', ResponseCode: 137 }));
      expect((await failure(commands().poll(COMMAND_ID, INSTANCE))).kind).toBe('timeout');
    },
  );

  it('gives up with timeout at its deadline while the command is still running, naming the command ID to poll', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'InProgress' }));
    const error = await failure(
      commands().run(INSTANCE, { name: 'ghe-maintenance-status' }, { deadlineMs: 10_000 }),
    );
    expect(error).toMatchObject({ kind: 'timeout', commandId: COMMAND_ID, status: 'InProgress' });
    expect(clock).toBeGreaterThanOrEqual(10_000);
    expect(clock).toBeLessThan(13_000);
    // Backs off: 300, 600, 1200, 2400, then every 3 s, cut at the deadline.
    expect(slept.slice(0, 5)).toEqual([300, 600, 1200, 2400, 3000]);
  });

  it('retries a throttled SendCommand with backoff and sends once it is let through', async () => {
    ssm
      .on(SendCommandCommand)
      .rejectsOnce(ssmError('ThrottlingException'))
      .rejectsOnce(ssmError('ThrottlingException'))
      .resolves({
        Command: { CommandId: COMMAND_ID },
      });
    expect(await commands().send(INSTANCE, { name: 'ghe-repl-promote' })).toBe(COMMAND_ID);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 3);
    expect(slept).toEqual([250, 500]);
  });

  it('reports throttled once SSM keeps throttling past the attempts', async () => {
    ssm.on(GetCommandInvocationCommand).rejects(ssmError('ThrottlingException'));
    const error = await failure(commands({ throttleAttempts: 3 }).poll(COMMAND_ID, INSTANCE));
    expect(error).toMatchObject({ kind: 'throttled', commandId: COMMAND_ID });
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 3);
  });

  it('lets other SSM errors through unchanged (a wrong document name is a deployment problem)', async () => {
    ssm.on(SendCommandCommand).rejects(ssmError('InvalidDocument'));
    await expect(commands().send(INSTANCE, { name: 'ghe-repl-promote' })).rejects.toMatchObject({
      name: 'InvalidDocument',
    });
  });

  describe('output beyond the inline limits', () => {
    const long = 'OK: mysql replication is in sync\n'.repeat(1_000); // 33,000 characters
    const inline = long.slice(0, 24_000);

    it('reads the whole stdout from the S3 key the agent writes when the inline text is at 24,000 characters', async () => {
      ssm
        .on(GetCommandInvocationCommand)
        .resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: inline }));
      const key = `ghes-commands/${COMMAND_ID}/${INSTANCE}/awsrunShellScript/ghesCommand/stdout`;
      s3.on(GetObjectCommand, { Bucket: BUCKET, Key: key }).resolves({ Body: body(long) as never });
      const result = await commands().poll(COMMAND_ID, INSTANCE);
      expect(result).toMatchObject({ state: 'done', exitCode: 0, truncated: false });
      expect(result.state === 'done' && result.stdout).toBe(long);
      expect(result.state === 'done' && parseReplStatusOutput(result).services).toHaveLength(1_000);
    });

    it('prefers the key in the URL SSM reports', async () => {
      const url = `https://s3.eu-west-1.amazonaws.com/${BUCKET}/other/prefix/${COMMAND_ID}/${INSTANCE}/awsrunShellScript/ghesCommand/stdout`;
      ssm.on(GetCommandInvocationCommand).resolves(
        invocation({
          Status: 'Success',
          ResponseCode: 0,
          StandardOutputContent: inline,
          StandardOutputUrl: url,
        }),
      );
      s3.on(GetObjectCommand).resolves({ Body: body(long) as never });
      await commands().poll(COMMAND_ID, INSTANCE);
      expect(s3).toHaveReceivedCommandWith(GetObjectCommand, {
        Bucket: BUCKET,
        Key: `other/prefix/${COMMAND_ID}/${INSTANCE}/awsrunShellScript/ghesCommand/stdout`,
      });
    });

    it('reads stderr from S3 at its 8,000-character limit', async () => {
      ssm
        .on(GetCommandInvocationCommand)
        .resolves(invocation({ Status: 'Failed', ResponseCode: 1, StandardErrorContent: 'e'.repeat(8_000) }));
      s3.on(GetObjectCommand).resolves({ Body: body('e'.repeat(9_000)) as never });
      const result = await commands().poll(COMMAND_ID, INSTANCE);
      expect(result.state === 'done' && result.stderr.length).toBe(9_000);
      expect(s3).toHaveReceivedCommandWith(GetObjectCommand, {
        Key: `ghes-commands/${COMMAND_ID}/${INSTANCE}/awsrunShellScript/ghesCommand/stderr`,
      });
    });

    it('keeps the inline text, marked truncated with the reason, when the object cannot be read', async () => {
      ssm
        .on(GetCommandInvocationCommand)
        .resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: inline }));
      s3.on(GetObjectCommand).rejects(
        new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: {}, message: 'denied' }),
      );
      const result = await commands().poll(COMMAND_ID, INSTANCE);
      expect(result).toMatchObject({ state: 'done', exitCode: 0, truncated: true });
      expect(result.state === 'done' && result.outputReadError).toMatch(
        /^s3:\/\/ghes-cp-prod-command-output\/.*AccessDenied/,
      );
      expect(result.state === 'done' && result.stdout).toBe(inline);
    });

    it('marks output truncated when no bucket is configured, and sends no bucket', async () => {
      ssm
        .on(GetCommandInvocationCommand)
        .resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: inline }));
      const noBucket = commands({ output: undefined });
      await noBucket.send(INSTANCE, { name: 'ghe-repl-promote' });
      expect(ssm.commandCalls(SendCommandCommand)[0]!.args[0].input.OutputS3BucketName).toBeUndefined();
      const result = await noBucket.poll(COMMAND_ID, INSTANCE);
      expect(result).toMatchObject({
        truncated: true,
        outputReadError: 'no command output bucket configured',
      });
      expect(s3).not.toHaveReceivedCommand(GetObjectCommand);
    });
  });

  it.each([
    [`https://s3.eu-west-1.amazonaws.com/${BUCKET}/p/a%20b/stdout`, 'p/a b/stdout'],
    [`https://s3-us-west-2.amazonaws.com/${BUCKET}/p/stdout`, 'p/stdout'],
    [`https://${BUCKET}.s3.eu-west-1.amazonaws.com/p/stdout`, 'p/stdout'],
    ['https://s3.amazonaws.com/another-bucket/p/stdout', null],
    ['not a url', null],
    ['', null],
  ])('finds the key of %s', (url, key) => {
    expect(keyFromOutputUrl(url, BUCKET)).toBe(key);
  });
});
