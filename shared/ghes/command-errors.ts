/**
 * Why an appliance command did not give an answer, in the terms a failover decides on:
 * - `undeliverable`: the SSM agent never ran it (instance stopped or unregistered, agent offline past
 *   the delivery timeout, platform or permission refused). Nothing ran on the appliance.
 * - `timeout`: it started but did not finish in time (the document's executionTimeout, or the
 *   caller's deadline while waiting). It may have done part of its work.
 * - `failed`: it ran and ended badly: an exit code that is not an answer (`exitCode`), or no exit
 *   code at all (cancelled, killed).
 * - `throttled`: SSM kept refusing the API call after the retries; nothing is known about the command.
 */
export type ApplianceCommandErrorKind = 'timeout' | 'undeliverable' | 'failed' | 'throttled';

export interface ApplianceCommandErrorDetails {
  readonly instanceId: string;
  /** `ghe-repl-status -vv`, as describeCommand spells it, when known. */
  readonly command?: string;
  readonly commandId?: string;
  /** SSM's Status / StatusDetails, when the invocation got that far. */
  readonly status?: string;
  readonly exitCode?: number;
  /** The last lines of output, for the operator; never a secret (our documents print none). */
  readonly output?: string;
}

export class ApplianceCommandError extends Error {
  readonly instanceId: string;
  readonly command?: string;
  readonly commandId?: string;
  readonly status?: string;
  readonly exitCode?: number;
  readonly output?: string;

  constructor(
    readonly kind: ApplianceCommandErrorKind,
    message: string,
    details: ApplianceCommandErrorDetails,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ApplianceCommandError';
    this.instanceId = details.instanceId;
    Object.assign(this, details);
  }
}

/** SDK error names SSM uses when it throttles a caller. */
const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'TooManyUpdates',
]);

export const isThrottling = (error: unknown): boolean =>
  error instanceof Error &&
  (THROTTLING.has(error.name) ||
    (error as { $retryable?: { throttling?: boolean } }).$retryable?.throttling === true);

/** SendCommand refusals that mean the agent cannot take a command now. */
export const UNDELIVERABLE_SEND_ERRORS: ReadonlySet<string> = new Set([
  'InvalidInstanceId',
  'UnsupportedPlatformType',
]);

/**
 * How an invocation that is over but gave no usable exit code ended. `StatusDetails` is the finer
 * one (https://docs.aws.amazon.com/systems-manager/latest/userguide/monitor-commands.html).
 */
export const classifyEndedInvocation = (
  status: string,
  statusDetails: string | undefined,
): ApplianceCommandErrorKind | null => {
  const detail = statusDetails ?? status;
  if (['DeliveryTimedOut', 'Undeliverable', 'InvalidPlatform', 'AccessDenied'].includes(detail))
    return 'undeliverable';
  if (detail === 'ExecutionTimedOut' || status === 'TimedOut') return 'timeout';
  if (['Cancelled', 'Terminated', 'Failed'].includes(status) || ['Cancelled', 'Terminated'].includes(detail))
    return 'failed';
  return null;
};

/** The last `lines` non-empty lines, for an error message or a Slack line. */
export const tailLines = (text: string, lines = 5): string =>
  text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter(Boolean)
    .slice(-lines)
    .join('\n');
