import { describe, expect, it } from 'vitest';
import { FaultInjector, FaultSpecError } from '../../twin/faults.ts';

/** Fault specs as `POST /sandbox/faults` takes them. */
const injector = () => {
  const faults = new FaultInjector(() => ({
    targets: new Map([['ssm:SendCommand', { InvalidInstanceId: 400 }]]),
  }));
  faults.define('appliance:ghes-primary', {
    errors: { Unreachable: 0, Timeout: 0 },
    defaultError: 'Unreachable',
  });
  faults.define('ssm:ghe-repl-promote', {
    errors: { CommandFailed: 0 },
    defaultError: 'CommandFailed',
    settings: ['exitCode'],
  });
  return faults;
};

describe('twin faults', () => {
  it('holds a fault armed with no count, probability or rate on every call until cleared', () => {
    // Prepare
    const faults = injector();
    faults.arm({ target: 'appliance:ghes-primary', error: 'Unreachable' });

    // Act
    const taken = Array.from({ length: 5 }, () => faults.take('appliance:ghes-primary')?.code);
    faults.clear();

    // Assess
    expect(taken).toEqual(Array(5).fill('Unreachable'));
    expect(faults.take('appliance:ghes-primary')).toBeUndefined();
  });

  it('arms a named command failure with its exit code and the defined default error', () => {
    // Prepare
    const faults = injector();

    // Act
    faults.arm({ target: 'ssm:ghe-repl-promote', exitCode: 3, count: 1 });
    const first = faults.take('ssm:ghe-repl-promote');
    const second = faults.take('ssm:ghe-repl-promote');

    // Assess
    expect(first).toMatchObject({ code: 'CommandFailed', settings: { exitCode: 3 } });
    expect(second).toBeUndefined();
  });

  it('refuses two modes at once and a target it does not know, naming it', () => {
    // Prepare
    const faults = injector();

    // Act
    const twoModes = () =>
      faults.arm({ target: 'ssm:SendCommand', error: 'InvalidInstanceId', count: 1, probability: 0.5 });
    const unknown = () => faults.arm({ target: 'appliance:ghes-nope', error: 'Unreachable' });

    // Assess
    expect(twoModes).toThrow(new FaultSpecError('give at most one of count, probability, ratePerSecond'));
    expect(unknown).toThrow(/"appliance:ghes-nope" is not a twin operation/);
    expect(faults.list()).toEqual([]);
  });
});
