import { TwinAwsError, type TwinAwsService } from './aws-endpoint.ts';
import type { ExecutionView, StepFunctionsTwin } from './step-functions.ts';

/**
 * Step Functions' own API (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Op>`) over the twin's
 * runner, so the product's `@aws-sdk/client-sfn` calls run unchanged: StartExecution (with AWS's
 * idempotency on the name), DescribeExecution, ListExecutions, StopExecution and the callback
 * calls SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat. Fault targets: `states:<Op>`.
 */
const START_ERRORS = {
  ExecutionAlreadyExists: 400,
  ExecutionLimitExceeded: 400,
  InvalidArn: 400,
  InvalidExecutionInput: 400,
  InvalidName: 400,
  StateMachineDoesNotExist: 400,
  ValidationException: 400,
};
const TASK_ERRORS = { InvalidToken: 400, TaskDoesNotExist: 400, TaskTimedOut: 400, ValidationException: 400 };

/** Step Functions caps execution input at 256 KiB. */
const MAX_INPUT_BYTES = 256 * 1024;

/** What Step Functions refuses in an execution name: whitespace, brackets, wildcards, specials, controls. */
// eslint-disable-next-line no-control-regex
const BAD_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

const epoch = (iso: string | null) => (iso === null ? undefined : new Date(iso).getTime() / 1000);

const summary = (e: ExecutionView) => ({
  executionArn: e.executionArn,
  stateMachineArn: e.stateMachineArn,
  name: e.name,
  status: e.status,
  startDate: epoch(e.startedAt),
  ...(e.stoppedAt ? { stopDate: epoch(e.stoppedAt) } : {}),
});

const requireString = (input: Record<string, unknown>, field: string): string => {
  const value = input[field];
  if (typeof value !== 'string' || !value)
    throw new TwinAwsError('ValidationException', `1 validation error detected: ${field} must not be null`);
  return value;
};

export const createStepFunctionsApi = (
  twin: StepFunctionsTwin,
  where: { region: string; accountId: string },
): TwinAwsService => {
  const prefix = `arn:aws:states:${where.region}:${where.accountId}:`;

  const executionOf = (input: Record<string, unknown>) => {
    const arn = requireString(input, 'executionArn');
    if (!/^arn:aws:states:[^:]+:\d{12}:execution:[^:]+:[^:]+$/.test(arn))
      throw new TwinAwsError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
    const execution = twin.describe(arn);
    if (!execution) throw new TwinAwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return execution;
  };

  const machineOf = (arn: string) => {
    if (!arn.startsWith(`${prefix}stateMachine:`))
      throw new TwinAwsError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
    const machine = twin.machineOf(arn);
    if (!machine)
      throw new TwinAwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    return machine;
  };

  return {
    id: 'states',
    signingName: 'states',
    protocol: 'json',
    operations: {
      StartExecution: START_ERRORS,
      DescribeExecution: { ExecutionDoesNotExist: 400, InvalidArn: 400 },
      ListExecutions: { InvalidArn: 400, InvalidToken: 400, StateMachineDoesNotExist: 400 },
      StopExecution: { ExecutionDoesNotExist: 400, InvalidArn: 400, ValidationException: 400 },
      SendTaskSuccess: { ...TASK_ERRORS, InvalidOutput: 400 },
      SendTaskFailure: TASK_ERRORS,
      SendTaskHeartbeat: TASK_ERRORS,
    },
    async handle({ operation, input }) {
      switch (operation) {
        case 'StartExecution': {
          const machine = machineOf(requireString(input, 'stateMachineArn'));
          const name = input.name === undefined ? undefined : String(input.name);
          if (name !== undefined && (name.length < 1 || name.length > 80 || BAD_NAME.test(name)))
            throw new TwinAwsError('InvalidName', `Invalid Name: '${name}'`);
          const inputText = input.input === undefined ? '{}' : String(input.input);
          if (Buffer.byteLength(inputText) > MAX_INPUT_BYTES)
            throw new TwinAwsError('InvalidExecutionInput', 'Invalid Execution Input: over 262144 bytes');
          try {
            JSON.parse(inputText);
          } catch {
            throw new TwinAwsError(
              'InvalidExecutionInput',
              `Invalid Execution Input: not JSON: ${inputText.slice(0, 80)}`,
            );
          }
          try {
            const execution = twin.start(machine, inputText, name);
            return { executionArn: execution.executionArn, startDate: epoch(execution.startedAt) };
          } catch (error) {
            if ((error as Error).name === 'ExecutionAlreadyExists')
              throw new TwinAwsError('ExecutionAlreadyExists', (error as Error).message);
            throw error;
          }
        }
        case 'DescribeExecution': {
          const e = executionOf(input);
          return {
            ...summary(e),
            input: JSON.stringify(e.input),
            inputDetails: { included: true },
            ...(e.status === 'SUCCEEDED'
              ? { output: JSON.stringify(e.output), outputDetails: { included: true } }
              : {}),
            ...(e.error !== null ? { error: e.error } : {}),
            ...(e.cause !== null ? { cause: e.cause } : {}),
          };
        }
        case 'ListExecutions': {
          const machine = machineOf(requireString(input, 'stateMachineArn'));
          const max = typeof input.maxResults === 'number' && input.maxResults > 0 ? input.maxResults : 100;
          if (max > 1000)
            throw new TwinAwsError('ValidationException', 'maxResults: must be less than or equal to 1000');
          let offset = 0;
          if (input.nextToken !== undefined) {
            offset = Number(Buffer.from(String(input.nextToken), 'base64url').toString('utf8'));
            if (!Number.isInteger(offset) || offset < 0)
              throw new TwinAwsError('InvalidToken', 'Invalid Token: the nextToken is not one this API gave');
          }
          const matching = twin
            .list()
            .filter((e) => e.stateMachine === machine)
            .filter((e) => input.statusFilter === undefined || e.status === input.statusFilter)
            // Newest first, as Step Functions lists them.
            .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
          const page = matching.slice(offset, offset + max);
          const next = offset + max < matching.length ? offset + max : undefined;
          return {
            executions: page.map(summary),
            ...(next === undefined ? {} : { nextToken: Buffer.from(String(next)).toString('base64url') }),
          };
        }
        case 'StopExecution': {
          const e = executionOf(input);
          const error = input.error === undefined ? undefined : String(input.error);
          const cause = input.cause === undefined ? undefined : String(input.cause);
          if (error !== undefined && error.length > 256)
            throw new TwinAwsError('ValidationException', 'error: at most 256 characters');
          const stopped = twin.stop(e.executionArn, error, cause)!;
          return { stopDate: epoch(stopped.stoppedAt) };
        }
        case 'SendTaskSuccess':
          twin.tokens.success(requireString(input, 'taskToken'), requireString(input, 'output'));
          return {};
        case 'SendTaskFailure':
          twin.tokens.failure(
            requireString(input, 'taskToken'),
            input.error === undefined ? undefined : String(input.error),
            input.cause === undefined ? undefined : String(input.cause),
          );
          return {};
        case 'SendTaskHeartbeat':
          twin.tokens.heartbeat(requireString(input, 'taskToken'));
          return {};
        default:
          throw new Error(`the Step Functions twin lists ${operation} but does not handle it`);
      }
    },
  };
};
