import {
  DescribeExecutionCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';

/** Where an execution stands, as far as a lock it holds is concerned. */
export type ExecutionPresence = 'running' | 'stopped' | 'missing';

/** The Step Functions calls the Slack functions make, in the terms they act on. */
export interface OperationExecutions {
  /** Starts an execution of the state machine under `name` (also the lock's owner). */
  start(name: string, input: object): Promise<{ readonly executionArn: string }>;
  /** `missing` only when Step Functions says no execution of that name exists. */
  presence(name: string): Promise<ExecutionPresence>;
  arnOf(name: string): string;
}

export type TaskAnswer = 'delivered' | 'expired';

export interface TaskTokens {
  /**
   * Answers a waiting `.waitForTaskToken` task. `expired` when Step Functions no longer takes the
   * token: the wait timed out (the execution aborted) or the execution ended another way.
   */
  succeed(taskToken: string, output: object): Promise<TaskAnswer>;
}

/** Step Functions' own answers for a token it will no longer take. */
const GONE = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

/** `…:stateMachine:<machine>` → `…:execution:<machine>:<name>`. */
export const executionArnOf = (stateMachineArn: string, name: string): string =>
  `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;

export const createStepFunctionsExecutions = (
  sfn: SFNClient,
  stateMachineArn: string,
): OperationExecutions => ({
  arnOf: (name) => executionArnOf(stateMachineArn, name),
  async start(name, input) {
    // Same name and input again (an SDK retry after a lost answer) is answered as the same start.
    const out = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
    );
    return { executionArn: out.executionArn ?? executionArnOf(stateMachineArn, name) };
  },
  async presence(name) {
    try {
      const out = await sfn.send(
        new DescribeExecutionCommand({ executionArn: executionArnOf(stateMachineArn, name) }),
      );
      return out.status === 'RUNNING' || out.status === 'PENDING_REDRIVE' ? 'running' : 'stopped';
    } catch (error) {
      if ((error as Error).name === 'ExecutionDoesNotExist') return 'missing';
      throw error;
    }
  },
});

export const createStepFunctionsTaskTokens = (sfn: SFNClient): TaskTokens => ({
  async succeed(taskToken, output) {
    try {
      await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
      return 'delivered';
    } catch (error) {
      if (GONE.has((error as Error).name)) return 'expired';
      throw error;
    }
  },
});
