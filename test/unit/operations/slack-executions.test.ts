import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import {
  DescribeExecutionCommand,
  SendTaskSuccessCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  createStepFunctionsExecutions,
  createStepFunctionsTaskTokens,
  executionArnOf,
} from '../../../shared/operations/slack-executions.ts';

const MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:ghes-failover';
const sfnError = (name: string) =>
  new SFNServiceException({ name, $fault: 'client', $metadata: {}, message: name });

describe('Step Functions for the Slack functions', () => {
  const sfn = mockClient(SFNClient);
  beforeEach(() => sfn.reset());
  const client = () =>
    new SFNClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });

  it('starts the execution under the given name with the input as JSON', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${MACHINE}:x`, startDate: new Date() });
    const executions = createStepFunctionsExecutions(client(), MACHINE);
    await executions.start('failover-20261130T101500-a1b2c3', { operation: 'failover', dryRun: true });
    expect(sfn).toReceiveCommandWith(StartExecutionCommand, {
      stateMachineArn: MACHINE,
      name: 'failover-20261130T101500-a1b2c3',
      input: '{"operation":"failover","dryRun":true}',
    });
  });

  it('tells a running execution from a stopped one and from one that does not exist', async () => {
    const executions = createStepFunctionsExecutions(client(), MACHINE);
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' } as never)
      .resolvesOnce({ status: 'FAILED' } as never);
    expect(await executions.presence('failover-a')).toBe('running');
    expect(await executions.presence('failover-a')).toBe('stopped');
    expect(sfn).toReceiveCommandWith(DescribeExecutionCommand, {
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ghes-failover:failover-a',
    });
    sfn.on(DescribeExecutionCommand).rejects(sfnError('ExecutionDoesNotExist'));
    expect(await executions.presence('failover-b')).toBe('missing');
    sfn.on(DescribeExecutionCommand).rejects(sfnError('AccessDeniedException'));
    await expect(executions.presence('failover-c')).rejects.toThrow('AccessDeniedException');
  });

  it('answers a waiting task with the decision as JSON', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const tokens = createStepFunctionsTaskTokens(client());
    expect(await tokens.succeed('token-1', { decision: 'approve', by: 'U0OPS0002' })).toBe('delivered');
    expect(sfn).toReceiveCommandWith(SendTaskSuccessCommand, {
      taskToken: 'token-1',
      output: '{"decision":"approve","by":"U0OPS0002"}',
    });
  });

  it.each(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist'])(
    'reads %s as an expired approval',
    async (name) => {
      sfn.on(SendTaskSuccessCommand).rejects(sfnError(name));
      expect(await createStepFunctionsTaskTokens(client()).succeed('t', {})).toBe('expired');
    },
  );

  it('passes any other failure on to the caller', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(sfnError('ThrottlingException'));
    await expect(createStepFunctionsTaskTokens(client()).succeed('t', {})).rejects.toThrow(
      'ThrottlingException',
    );
  });

  it('derives an execution ARN from the state machine ARN', () => {
    expect(executionArnOf(MACHINE, 'n')).toBe(
      'arn:aws:states:eu-west-1:111122223333:execution:ghes-failover:n',
    );
  });
});
