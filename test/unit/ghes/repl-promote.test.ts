import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePromoteOutput } from '../../../shared/ghes/repl-promote.ts';

const vector = (name: string) => readFileSync(new URL(`../../vectors/ghes/${name}`, import.meta.url), 'utf8');

describe('ghe-repl-promote output', () => {
  it('reads the 2.x success: promoted, success line seen, the four phases in order', () => {
    const outcome = parsePromoteOutput({ exitCode: 0, stdout: vector('repl-promote-2.x.txt') });
    expect(outcome).toEqual({
      promoted: true,
      exitCode: 0,
      successLinePrinted: true,
      phases: [
        'Enabling maintenance mode on the primary to prevent writes',
        'Stopping replication',
        'Switching out of replica mode',
        'Applying configuration and starting services',
      ],
      summary: 'replica promoted to primary and accepting requests',
    });
  });

  it('fails on a non-zero exit even when the success line was printed, and says so', () => {
    const outcome = parsePromoteOutput({ exitCode: 1, stdout: vector('repl-promote-2.x.txt'), stderr: '' });
    expect(outcome).toMatchObject({ promoted: false, exitCode: 1, successLinePrinted: true });
    expect(outcome.summary).toMatch(/^ghe-repl-promote failed with exit code 1: /);
    expect(outcome.summary).toContain('(last phase: Applying configuration and starting services)');
    expect(outcome.summary).toContain('a non-zero exit is a failure');
  });

  it('names the reason from stderr when promote stops early', () => {
    const stdout = vector('repl-promote-2.x.txt').split('\n').slice(0, 2).join('\n');
    const outcome = parsePromoteOutput({
      exitCode: 1,
      stdout,
      stderr: 'Error: this node is not a replica\n',
    });
    expect(outcome.summary).toBe(
      'ghe-repl-promote failed with exit code 1: Error: this node is not a replica (last phase: Stopping replication)',
    );
  });

  it('counts exit 0 as promoted without the success line, and says the line was missing', () => {
    const outcome = parsePromoteOutput({ exitCode: 0, stdout: 'Stopping replication ...\n' });
    expect(outcome).toMatchObject({ promoted: true, successLinePrinted: false });
    expect(outcome.summary).toBe('ghe-repl-promote exited 0 (no success line printed)');
  });

  it('reports a failure with no output at all', () => {
    expect(parsePromoteOutput({ exitCode: 75, stdout: '', stderr: '' })).toMatchObject({
      promoted: false,
      summary: 'ghe-repl-promote failed with exit code 75',
    });
  });
});
