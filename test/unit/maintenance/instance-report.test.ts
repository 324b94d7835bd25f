import { describe, expect, it } from 'vitest';
import { reportOf, type InstanceItem } from '../../../shared/maintenance/instance-maintenance.ts';

const run = {
  pool: 'linux',
  execution: 'e1',
  document: 'd',
  parameters: {},
  leaseSeconds: 3600,
  commandTimeoutSeconds: 1800,
  maxPolls: 62,
};
const item = (extra: Partial<InstanceItem>): InstanceItem => ({
  instanceId: 'i-0123456789abcdef0',
  run,
  ...extra,
});
const command = { commandId: 'c', polls: 3, done: true, output: 'out' };

describe('per-instance report', () => {
  it('is ok only for a successful command with exit code 0', () => {
    expect(reportOf(item({ command: { ...command, status: 'Success', exitCode: 0 } }))).toMatchObject({
      outcome: 'ok',
      exitCode: 0,
    });
  });
  it('names the exit code of a failed command', () => {
    expect(reportOf(item({ command: { ...command, status: 'Failed', exitCode: 23 } }))).toMatchObject({
      outcome: 'failed',
      exitCode: 23,
      reason: 'command Failed with exit code 23',
    });
  });
  it('fails a command that never finished', () => {
    expect(
      reportOf(item({ command: { ...command, done: false, status: 'InProgress', exitCode: null } })),
    ).toMatchObject({ outcome: 'failed' });
  });
  it('skips an instance someone woke after it was listed, with the reason from the error', () => {
    const error = {
      Error: 'InstanceNotStopped',
      Cause: JSON.stringify({ errorMessage: 'i-0123456789abcdef0 is running' }),
    };
    expect(reportOf(item({ error }))).toEqual({
      instanceId: 'i-0123456789abcdef0',
      outcome: 'skipped',
      reason: 'no longer stopped (i-0123456789abcdef0 is running)',
    });
  });
  it('fails with the step error when the agent never came online', () => {
    expect(
      reportOf(item({ error: { Error: 'AgentNotOnline', Cause: 'running, agent ConnectionLost' } })),
    ).toMatchObject({
      outcome: 'failed',
      reason: 'AgentNotOnline: running, agent ConnectionLost',
    });
  });
});
