import {
  DescribeInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { Leases } from '../dispatch/leases.ts';
import type { CredentialsStore } from '../providers/runner-credentials-store.ts';
import type { MaintenanceRun } from './maintenance-plan.ts';

/**
 * The steps the state machine takes for one instance, each one idempotent (Step Functions retries
 * them): claim its lease, start it, wait for it and its SSM agent, run the document, poll to an exit
 * code, stop it, release the lease. The lease is the dispatcher's own instance lease, so a job never
 * gets an instance under maintenance and maintenance never takes one a job holds.
 */
export interface InstanceItem {
  readonly instanceId: string;
  readonly run: MaintenanceRun;
  readonly ready?: { readonly attempts: number };
  readonly command?: CommandProgress;
  readonly error?: { readonly Error: string; readonly Cause?: string };
}

/** Every key always present (null when unknown): the state machine's ResultSelector names each one. */
export interface CommandProgress {
  readonly commandId: string;
  readonly polls: number;
  readonly done: boolean;
  readonly status: string | null;
  readonly exitCode: number | null;
  /** The last lines of the command's output, for the report. */
  readonly output: string | null;
}

export interface InstanceReport {
  readonly instanceId: string;
  readonly outcome: 'ok' | 'failed' | 'skipped';
  readonly reason?: string;
  readonly exitCode?: number;
  readonly status?: string;
  readonly output?: string;
}

/** Thrown when the claimed instance is no longer stopped: someone else woke it, so it is left alone. */
export class InstanceNotStoppedError extends Error {
  override name = 'InstanceNotStopped';
}

/** The lease owner a maintenance run writes; one per instance (the lease's job index is per key). */
export const maintenanceLeaseKey = (execution: string, instanceId: string) =>
  `maintenance#${execution}#${instanceId}`;

const TERMINAL = new Set([
  'Success',
  'Failed',
  'Cancelled',
  'TimedOut',
  'DeliveryTimedOut',
  'Undeliverable',
  'Terminated',
  'InvalidPlatform',
  'AccessDenied',
]);
const tail = (text: string | undefined, chars = 600) =>
  text && text.length > chars ? `…${text.slice(-chars)}` : (text ?? '');

export const createInstanceMaintenance = (deps: {
  ec2: EC2Client;
  ssm: SSMClient;
  leases: Leases;
  credentials: CredentialsStore;
  parameterPrefix: string;
  instanceArn: (instanceId: string) => string;
  now?: () => number;
}) => {
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const stateOf = async (instanceId: string) => {
    const out = await deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return out.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? 'unknown';
  };

  return {
    /** Takes the instance's lease for the run's budget; false when a job (or another run) holds it. */
    /** `reason` is always present (null when claimed): a ResultSelector path to a missing key fails the run. */
    async claim(item: InstanceItem): Promise<{ claimed: boolean; reason: string | null }> {
      const at = now();
      const key = maintenanceLeaseKey(item.run.execution, item.instanceId);
      if (await deps.leases.claimInstance(item.instanceId, key, at, at + item.run.leaseSeconds))
        return { claimed: true, reason: null };
      return { claimed: false, reason: 'claimed by a job' };
    },

    /**
     * Starts the instance if it is still stopped. Its boot script finds a maintenance marker where a
     * job's credentials would be, so it starts no runner and stays up for the command.
     */
    async start(item: InstanceItem): Promise<{ started: true }> {
      const state = await stateOf(item.instanceId);
      if (state !== 'stopped') throw new InstanceNotStoppedError(`${item.instanceId} is ${state}`);
      await deps.credentials.put(
        `${deps.parameterPrefix}/instances/${item.instanceId}`,
        // Read and deleted by the boot script (infra/ec2-runner-user-data.yaml); it powers off after
        // holdSeconds if this run never stops it.
        { kind: 'maintenance', holdSeconds: item.run.leaseSeconds } as never,
        { readableBy: deps.instanceArn(item.instanceId) },
      );
      await deps.ec2.send(new StartInstancesCommand({ InstanceIds: [item.instanceId] }));
      return { started: true };
    },

    /** Running, and its SSM agent online; counts the attempts so the state machine can bound them. */
    async checkReady(item: InstanceItem): Promise<{ ready: boolean; attempts: number; state: string }> {
      const attempts = (item.ready?.attempts ?? 0) + 1;
      const state = await stateOf(item.instanceId);
      if (state !== 'running') return { ready: false, attempts, state };
      const info = await deps.ssm.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: 'InstanceIds', Values: [item.instanceId] }],
        }),
      );
      const ping = info.InstanceInformationList?.[0]?.PingStatus ?? 'NotRegistered';
      return { ready: ping === 'Online', attempts, state: `running, agent ${ping}` };
    },

    async sendCommand(item: InstanceItem): Promise<CommandProgress> {
      const out = await deps.ssm.send(
        new SendCommandCommand({
          DocumentName: item.run.document,
          InstanceIds: [item.instanceId],
          Parameters: item.run.parameters,
          Comment: `pool maintenance ${item.run.pool} ${item.run.execution}`.slice(0, 100),
          TimeoutSeconds: 600, // delivery: the agent was just seen online
        }),
      );
      return {
        commandId: out.Command!.CommandId!,
        polls: 0,
        done: false,
        status: 'Pending',
        exitCode: null,
        output: null,
      };
    },

    async pollCommand(item: InstanceItem): Promise<CommandProgress> {
      const previous = item.command!;
      const polls = previous.polls + 1;
      try {
        const out = await deps.ssm.send(
          new GetCommandInvocationCommand({ CommandId: previous.commandId, InstanceId: item.instanceId }),
        );
        const status = out.Status ?? 'Pending';
        const done = TERMINAL.has(status);
        const exhausted = !done && polls >= item.run.maxPolls;
        return {
          commandId: previous.commandId,
          polls,
          done: done || exhausted,
          status: exhausted ? `${status} after ${polls} polls` : status,
          exitCode: done && out.ResponseCode !== undefined && out.ResponseCode >= 0 ? out.ResponseCode : null,
          output:
            tail([out.StandardOutputContent, out.StandardErrorContent].filter(Boolean).join('\n')) || null,
        };
      } catch (error) {
        // Right after SendCommand the invocation may not exist yet (SSM is eventually consistent).
        if ((error as Error).name !== 'InvocationDoesNotExist') throw error;
        return { ...previous, polls, done: polls >= item.run.maxPolls };
      }
    },

    /** Stops the instance this run started; an already stopping or stopped one is fine. */
    async stop(item: InstanceItem): Promise<{ state: string }> {
      const out = await deps.ec2.send(new StopInstancesCommand({ InstanceIds: [item.instanceId] }));
      return { state: out.StoppingInstances?.[0]?.CurrentState?.Name ?? 'unknown' };
    },

    /** Gives the lease back and says how this instance went. */
    async release(item: InstanceItem): Promise<InstanceReport> {
      await deps.leases.releaseInstance(
        item.instanceId,
        maintenanceLeaseKey(item.run.execution, item.instanceId),
      );
      return reportOf(item);
    },
  };
};

export type InstanceMaintenance = ReturnType<typeof createInstanceMaintenance>;

/** The per-instance line of the run's report. */
export const reportOf = (item: InstanceItem): InstanceReport => {
  const { instanceId, command, error } = item;
  if (error?.Error === 'InstanceNotStopped')
    return { instanceId, outcome: 'skipped', reason: `no longer stopped (${causeOf(error)})` };
  if (error) return { instanceId, outcome: 'failed', reason: `${error.Error}: ${causeOf(error)}` };
  if (!command?.done) return { instanceId, outcome: 'failed', reason: 'the command never finished' };
  const base = {
    instanceId,
    status: command.status ?? 'unknown',
    ...(command.output ? { output: command.output } : {}),
  };
  if (command.status === 'Success' && command.exitCode === 0) return { ...base, outcome: 'ok', exitCode: 0 };
  return {
    ...base,
    outcome: 'failed',
    ...(command.exitCode !== null ? { exitCode: command.exitCode } : {}),
    reason:
      command.exitCode !== null
        ? `command ${command.status} with exit code ${command.exitCode}`
        : `command ${command.status}`,
  };
};

/** Step Functions puts a Lambda error's JSON in Cause; its message is what a person needs. */
const causeOf = (error: { Cause?: string }) => {
  try {
    const parsed = JSON.parse(error.Cause ?? '') as { errorMessage?: string };
    return parsed.errorMessage ?? error.Cause ?? '';
  } catch {
    return error.Cause ?? '';
  }
};
