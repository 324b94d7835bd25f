import {
  GetCommandInvocationCommand,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  answerExitCodes,
  describeCommand,
  documentParameters,
  type ApplianceCommand,
  type DocumentNames,
} from './commands.ts';
import {
  ApplianceCommandError,
  UNDELIVERABLE_SEND_ERRORS,
  classifyEndedInvocation,
  isThrottling,
  tailLines,
} from './command-errors.ts';
import { DEFAULT_OUTPUT_KEY_PREFIX, fullStream, type OutputBucket } from './command-output.ts';

/** A finished run with an exit code; whether that code is an answer is the caller's (or `run`'s) call. */
export interface CommandOutput {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Output beyond SSM's inline limits that could not be read from S3 (see `outputReadError`). */
  readonly truncated: boolean;
  readonly outputReadError?: string;
}

export type PollResult =
  { readonly state: 'running'; readonly status: string } | ({ readonly state: 'done' } & CommandOutput);

export interface SendOptions {
  /** Seconds before SSM stops the command; the document's default otherwise. */
  readonly executionTimeoutSeconds?: number;
  /** Shown in the SSM console and CloudTrail: the execution name, for example. */
  readonly comment?: string;
}

export interface RunOptions extends SendOptions {
  /** How long `run` waits for the command before giving up with `timeout`. @default 60000 */
  readonly deadlineMs?: number;
  /** Return every exit code as a result (the caller parses failures) instead of throwing `failed`. */
  readonly acceptAnyExitCode?: boolean;
}

export interface ApplianceCommands {
  /** Starts the command; returns SSM's command ID. For long commands the caller polls in its own loop. */
  send(instanceId: string, command: ApplianceCommand, options?: SendOptions): Promise<string>;
  /** One look at the invocation: still running, or done with exit code and whole output. */
  poll(commandId: string, instanceId: string): Promise<PollResult>;
  /** send + poll until done or the deadline, for commands that take seconds. Exit codes that are not answers throw `failed`. */
  run(instanceId: string, command: ApplianceCommand, options?: RunOptions): Promise<CommandOutput>;
}

export interface ApplianceCommandsDeps {
  readonly ssm: SSMClient;
  /** Reads output beyond the inline limits; without it such output is returned truncated. */
  readonly s3?: S3Client;
  readonly documents: DocumentNames;
  /** env COMMAND_OUTPUT_BUCKET: where the agent uploads every command's whole output. */
  readonly output?: OutputBucket;
  /** Seconds SSM keeps trying to reach an offline agent before `DeliveryTimedOut`. @default 60 */
  readonly deliveryTimeoutSeconds?: number;
  /** Attempts per SSM call while it is throttled, with full-jitter backoff. @default 4 */
  readonly throttleAttempts?: number;
  readonly throttleBaseDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly random?: () => number;
}

const RUNNING = new Set(['Pending', 'InProgress', 'Delayed', 'Cancelling']);

export const createApplianceCommands = (deps: ApplianceCommandsDeps): ApplianceCommands => {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const attempts = deps.throttleAttempts ?? 4;
  const baseDelayMs = deps.throttleBaseDelayMs ?? 250;

  /** SSM's API rate limits are per account and shared with every other caller: back off and retry. */
  const withThrottleRetry = async <T>(
    call: () => Promise<T>,
    about: { instanceId: string; commandId?: string },
  ) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!isThrottling(error)) throw error;
        if (attempt >= attempts)
          throw new ApplianceCommandError(
            'throttled',
            `SSM throttled the call ${attempts} times in a row (${(error as Error).name})`,
            about,
            { cause: error },
          );
        await sleep(Math.round(random() * baseDelayMs * 2 ** (attempt - 1)));
      }
    }
  };

  const send: ApplianceCommands['send'] = async (instanceId, command, options = {}) => {
    const described = describeCommand(command);
    try {
      const out = await withThrottleRetry(
        () =>
          deps.ssm.send(
            new SendCommandCommand({
              DocumentName: deps.documents[command.name],
              InstanceIds: [instanceId],
              Parameters: documentParameters(command, options.executionTimeoutSeconds),
              TimeoutSeconds: deps.deliveryTimeoutSeconds ?? 60,
              ...(options.comment ? { Comment: options.comment.slice(0, 100) } : {}),
              ...(deps.output
                ? {
                    OutputS3BucketName: deps.output.bucket,
                    OutputS3KeyPrefix: deps.output.keyPrefix ?? DEFAULT_OUTPUT_KEY_PREFIX,
                  }
                : {}),
            }),
          ),
        { instanceId },
      );
      const commandId = out.Command?.CommandId;
      if (!commandId) throw new Error(`SendCommand for ${described} answered without a command ID`);
      return commandId;
    } catch (error) {
      if (error instanceof ApplianceCommandError) throw Object.assign(error, { command: described });
      if (UNDELIVERABLE_SEND_ERRORS.has((error as Error).name))
        throw new ApplianceCommandError(
          'undeliverable',
          `${described} could not be sent to ${instanceId}: ${(error as Error).name} (instance stopped, or its SSM agent offline or unregistered)`,
          { instanceId, command: described },
          { cause: error },
        );
      throw error;
    }
  };

  const done = async (out: GetCommandInvocationCommandOutput, commandId: string, instanceId: string) => {
    const [stdout, stderr] = await Promise.all(
      (['stdout', 'stderr'] as const).map((stream) =>
        fullStream(deps.s3, deps.output, {
          commandId,
          instanceId,
          stream,
          inline: (stream === 'stdout' ? out.StandardOutputContent : out.StandardErrorContent) ?? '',
          url: stream === 'stdout' ? out.StandardOutputUrl : out.StandardErrorUrl,
        }),
      ),
    );
    const readError = stdout!.readError ?? stderr!.readError;
    return {
      state: 'done' as const,
      exitCode: out.ResponseCode!,
      stdout: stdout!.text,
      stderr: stderr!.text,
      truncated: stdout!.truncated || stderr!.truncated,
      ...(readError && (stdout!.truncated || stderr!.truncated) ? { outputReadError: readError } : {}),
    };
  };

  const poll: ApplianceCommands['poll'] = async (commandId, instanceId) => {
    let out: GetCommandInvocationCommandOutput;
    try {
      out = await withThrottleRetry(
        () =>
          deps.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })),
        { instanceId, commandId },
      );
    } catch (error) {
      // Right after SendCommand the invocation may not exist yet: SSM is eventually consistent.
      if ((error as Error).name === 'InvocationDoesNotExist') return { state: 'running', status: 'Pending' };
      throw error;
    }
    const status = out.Status ?? 'Pending';
    if (RUNNING.has(status)) return { state: 'running', status };
    const code = out.ResponseCode;
    if (
      (status === 'Success' || status === 'Failed') &&
      code !== undefined &&
      code >= 0 &&
      out.StatusDetails !== 'ExecutionTimedOut'
    )
      return done(out, commandId, instanceId);
    const kind = classifyEndedInvocation(status, out.StatusDetails) ?? 'failed';
    const detail =
      out.StatusDetails && out.StatusDetails !== status ? `${status}/${out.StatusDetails}` : status;
    throw new ApplianceCommandError(
      kind,
      `command ${commandId} on ${instanceId} ended ${detail}${kind === 'timeout' ? ' (execution timeout)' : ''}`,
      {
        instanceId,
        commandId,
        status: detail,
        output: tailLines(`${out.StandardOutputContent ?? ''}\n${out.StandardErrorContent ?? ''}`),
      },
    );
  };

  const run: ApplianceCommands['run'] = async (instanceId, command, options = {}) => {
    const described = describeCommand(command);
    const deadline = now() + (options.deadlineMs ?? 60_000);
    const commandId = await send(instanceId, command, options);
    // Short commands finish in a second or two; back off gently so a slow one costs few calls.
    for (let delay = 300; ; delay = Math.min(delay * 2, 3_000)) {
      await sleep(Math.max(0, Math.min(delay, deadline - now())));
      const result = await poll(commandId, instanceId).catch((error: unknown) => {
        if (error instanceof ApplianceCommandError) Object.assign(error, { command: described });
        throw error;
      });
      if (result.state === 'done') {
        if (options.acceptAnyExitCode || answerExitCodes(command).includes(result.exitCode)) return result;
        throw new ApplianceCommandError('failed', `${described} on ${instanceId} exited ${result.exitCode}`, {
          instanceId,
          command: described,
          commandId,
          exitCode: result.exitCode,
          output: tailLines(`${result.stdout}\n${result.stderr}`),
        });
      }
      if (now() >= deadline)
        throw new ApplianceCommandError(
          'timeout',
          `${described} on ${instanceId} still ${result.status} after ${options.deadlineMs ?? 60_000} ms`,
          { instanceId, command: described, commandId, status: result.status },
        );
    }
  };

  return { send, poll, run };
};
