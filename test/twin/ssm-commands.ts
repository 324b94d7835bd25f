import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { TwinAwsError, type TwinAwsService } from './aws-endpoint.ts';

/**
 * SSM Run Command for the twin: SendCommand, GetCommandInvocation, ListCommandInvocations and
 * DescribeInstanceInformation, answered by simulated hosts (a runner instance here; GHES appliances
 * later). Documents are the real files in infra/: parameters are checked against their
 * `allowedPattern` as SSM does before anything runs. A host whose agent is offline (instance stopped
 * or still booting) makes SendCommand fail with InvalidInstanceId, as SSM does. With
 * `OutputS3BucketName`, the agent's upload is simulated: the whole stdout (and stderr, when there is
 * any) lands at `<prefix>/<commandId>/<instanceId>/<plugin>/<step>/stdout|stderr`, e.g.
 * `…/i-0a1b…/awsrunShellScript/ghesCommand/stdout`, and GetCommandInvocation gives its URL. A document
 * with an `executionTimeout` parameter stops a command running longer than that (scaled): TimedOut.
 */
export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandHost {
  /** The SSM agent is registered and pinging: instance running and its agent started. */
  agentOnline(): boolean;
  /** Runs the document with the given (validated) parameters; takes simulated time. */
  run(document: string, parameters: Readonly<Record<string, string>>): Promise<CommandResult>;
}

export interface SsmDocument {
  readonly name: string;
  readonly parameters: Readonly<Record<string, { allowedPattern?: string; default?: string }>>;
  /** The first step's name and plugin folder (`aws:runShellScript` → `awsrunShellScript`): S3 key parts. */
  readonly stepName?: string;
  readonly pluginFolder?: string;
}

/** An SSM document file (schemaVersion 2.2 YAML) under the name it is deployed as. */
export const loadSsmDocument = (name: string, path: URL): SsmDocument => {
  const content = parse(readFileSync(path, 'utf8')) as {
    parameters?: SsmDocument['parameters'];
    mainSteps?: { name?: string; action?: string }[];
  };
  const step = content.mainSteps?.[0];
  return {
    name,
    parameters: content.parameters ?? {},
    ...(step?.name ? { stepName: step.name } : {}),
    ...(step?.action ? { pluginFolder: step.action.replace(':', '') } : {}),
  };
};

interface Invocation {
  readonly commandId: string;
  readonly instanceId: string;
  readonly document: string;
  readonly stepName: string;
  readonly requestedAt: Date;
  readonly output?: { bucket: string; prefix: string };
  status: 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut';
  statusDetails?: string;
  endedAt?: Date;
  result?: CommandResult;
}

export interface SsmCommandsTwin extends TwinAwsService {
  invocations(): {
    commandId: string;
    instanceId: string;
    document: string;
    status: string;
    exitCode: number | null;
  }[];
}

/** SSM keeps the first 24,000 characters of stdout inline (8,000 of stderr through the console). */
const inline = (text: string, max: number) => text.slice(0, max);

export const createSsmCommandsTwin = (options: {
  documents: readonly SsmDocument[];
  hostOf: (instanceId: string) => CommandHost | undefined;
  /** Instances SSM knows (managed instances), for DescribeInstanceInformation. */
  instanceIds: () => readonly string[];
  /** Where `OutputS3BucketName` output goes; without it, the option is accepted and nothing is written. */
  s3?: { put(bucket: string, key: string, body: string): void };
  region?: string;
  /** Scales a document's `executionTimeout`; without it commands are never stopped. */
  timeScale?: number;
}): SsmCommandsTwin => {
  const documents = new Map(options.documents.map((d) => [d.name, d]));
  const invocations: Invocation[] = [];

  const resolveParameters = (document: SsmDocument, given: Record<string, unknown>) => {
    const unknown = Object.keys(given).filter((key) => !(key in document.parameters));
    if (unknown.length)
      throw new TwinAwsError('InvalidParameters', `unknown parameter(s): ${unknown.join(', ')}`);
    return Object.fromEntries(
      Object.entries(document.parameters).map(([key, spec]) => {
        const values = given[key] as unknown[] | undefined;
        const value =
          values === undefined ? spec.default : values.length === 1 ? String(values[0]) : undefined;
        if (value === undefined)
          throw new TwinAwsError('InvalidParameters', `parameter "${key}" needs exactly one value`);
        if (spec.allowedPattern && !new RegExp(spec.allowedPattern).test(value))
          throw new TwinAwsError(
            'InvalidParameters',
            `parameter "${key}" "${value}" fails its allowedPattern`,
          );
        return [key, value];
      }),
    );
  };

  const keyOf = (i: Invocation, stream: 'stdout' | 'stderr') =>
    [i.output?.prefix, i.commandId, i.instanceId, 'awsrunShellScript', i.stepName, stream]
      .filter(Boolean)
      .join('/');
  const urlOf = (i: Invocation, stream: 'stdout' | 'stderr') =>
    i.output && i.endedAt && (stream === 'stdout' || i.result?.stderr)
      ? `https://s3.${options.region ?? 'us-east-1'}.amazonaws.com/${i.output.bucket}/${keyOf(i, stream)}`
      : '';

  const view = (i: Invocation) => ({
    CommandId: i.commandId,
    InstanceId: i.instanceId,
    DocumentName: i.document,
    PluginName: i.stepName,
    Status: i.status,
    StatusDetails: i.statusDetails ?? i.status,
    ResponseCode: i.result?.exitCode ?? -1,
    RequestedDateTime: i.requestedAt.getTime() / 1000,
    ExecutionStartDateTime: i.requestedAt.toISOString(),
    ExecutionEndDateTime: i.endedAt?.toISOString() ?? '',
    StandardOutputContent: inline(i.result?.stdout ?? '', 24_000),
    StandardErrorContent: inline(i.result?.stderr ?? '', 8_000),
    StandardOutputUrl: urlOf(i, 'stdout'),
    StandardErrorUrl: urlOf(i, 'stderr'),
  });

  /** The agent uploads the whole streams once the plugin is done (SSM keeps only the head inline). */
  const upload = (i: Invocation) => {
    if (!i.output || !options.s3 || !i.result) return;
    options.s3.put(i.output.bucket, keyOf(i, 'stdout'), i.result.stdout);
    if (i.result.stderr) options.s3.put(i.output.bucket, keyOf(i, 'stderr'), i.result.stderr);
  };

  return {
    id: 'ssm',
    signingName: 'ssm',
    protocol: 'json',
    operations: {
      SendCommand: { InvalidInstanceId: 400, InvalidDocument: 400, InvalidParameters: 400 },
      GetCommandInvocation: { InvocationDoesNotExist: 400, InvalidCommandId: 400 },
      ListCommandInvocations: { InvalidCommandId: 400 },
      DescribeInstanceInformation: { InvalidInstanceId: 400 },
    },
    async handle({ operation, input }) {
      switch (operation) {
        case 'SendCommand': {
          const document = documents.get(String(input.DocumentName));
          if (!document)
            throw new TwinAwsError(
              'InvalidDocument',
              `document ${String(input.DocumentName)} does not exist`,
            );
          const parameters = resolveParameters(document, (input.Parameters ?? {}) as Record<string, unknown>);
          const ids = (input.InstanceIds ?? []) as string[];
          const hosts = ids.map((id) => [id, options.hostOf(id)] as const);
          const offline = hosts.filter(([, host]) => !host?.agentOnline()).map(([id]) => id);
          if (!ids.length || offline.length)
            throw new TwinAwsError(
              'InvalidInstanceId',
              `Instances [${offline.join(', ')}] not in a valid state for account`,
            );
          const commandId = randomUUID();
          const bucket = typeof input.OutputS3BucketName === 'string' ? input.OutputS3BucketName : undefined;
          const output = bucket
            ? { bucket, prefix: String(input.OutputS3KeyPrefix ?? '').replace(/\/+$/, '') }
            : undefined;
          const timeoutSeconds = Number(parameters.executionTimeout);
          for (const [instanceId, host] of hosts) {
            const invocation: Invocation = {
              commandId,
              instanceId,
              document: document.name,
              stepName: document.stepName ?? 'aws:runShellScript',
              requestedAt: new Date(),
              ...(output ? { output } : {}),
              status: 'InProgress',
            };
            invocations.push(invocation);
            const finish = (status: Invocation['status'], result: CommandResult, details?: string) => {
              if (invocation.endedAt) return; // stopped at its timeout: what it does later is lost
              invocation.endedAt = new Date();
              invocation.result = result;
              invocation.status = status;
              if (details) invocation.statusDetails = details;
              upload(invocation);
            };
            const timer =
              options.timeScale !== undefined && timeoutSeconds > 0
                ? setTimeout(
                    () =>
                      finish(
                        'TimedOut',
                        { exitCode: -1, stdout: '', stderr: 'command timed out (executionTimeout)\n' },
                        'ExecutionTimedOut',
                      ),
                    timeoutSeconds * 1000 * options.timeScale,
                  ).unref() // a closed sandbox does not wait for it
                : undefined;
            host!.run(document.name, parameters).then(
              (result) => {
                clearTimeout(timer);
                finish(result.exitCode === 0 ? 'Success' : 'Failed', result);
              },
              (error: Error) => {
                clearTimeout(timer);
                finish('Failed', { exitCode: -1, stdout: '', stderr: error.message });
              },
            );
          }
          return {
            Command: {
              CommandId: commandId,
              DocumentName: document.name,
              InstanceIds: ids,
              Status: 'Pending',
              Parameters: input.Parameters ?? {},
            },
          };
        }
        case 'GetCommandInvocation': {
          const found = invocations.find(
            (i) => i.commandId === input.CommandId && i.instanceId === input.InstanceId,
          );
          if (!found) throw new TwinAwsError('InvocationDoesNotExist', 'InvocationDoesNotExist');
          return view(found);
        }
        case 'ListCommandInvocations': {
          const matching = invocations.filter(
            (i) =>
              (!input.CommandId || i.commandId === input.CommandId) &&
              (!input.InstanceId || i.instanceId === input.InstanceId),
          );
          return {
            CommandInvocations: matching.map((i) => {
              const { StandardOutputContent, StandardErrorContent, ResponseCode, ...rest } = view(i);
              return input.Details
                ? {
                    ...rest,
                    CommandPlugins: [
                      {
                        Name: i.stepName,
                        Status: i.status,
                        ResponseCode,
                        Output: inline(StandardOutputContent + StandardErrorContent, 2_500),
                      },
                    ],
                  }
                : rest;
            }),
          };
        }
        case 'DescribeInstanceInformation': {
          const filters = (input.Filters ?? []) as { Key: string; Values: string[] }[];
          const wanted = filters.find((f) => f.Key === 'InstanceIds')?.Values;
          const ids = options.instanceIds().filter((id) => !wanted || wanted.includes(id));
          return {
            InstanceInformationList: ids.map((id) => ({
              InstanceId: id,
              PingStatus: options.hostOf(id)?.agentOnline() ? 'Online' : 'ConnectionLost',
              PlatformType: 'Linux',
              ResourceType: 'EC2Instance',
            })),
          };
        }
        default:
          throw new Error(`the SSM commands twin lists ${operation} but does not handle it`);
      }
    },
    invocations: () =>
      invocations.map((i) => ({
        commandId: i.commandId,
        instanceId: i.instanceId,
        document: i.document,
        status: i.status,
        exitCode: i.result?.exitCode ?? null,
      })),
  };
};

/** One AWS service id answered by two twins (Parameter Store and Run Command are both `ssm`). */
export const joinServices = (first: TwinAwsService, second: TwinAwsService): TwinAwsService => ({
  id: first.id,
  signingName: first.signingName,
  protocol: first.protocol,
  operations: { ...first.operations, ...second.operations },
  handle: (request) => (request.operation in second.operations ? second : first).handle(request),
});
