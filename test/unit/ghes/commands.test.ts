import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/http/errors.ts';
import { answerExitCodes, describeCommand, parseDocumentNames } from '../../../shared/ghes/commands.ts';

const names = {
  'ghe-repl-status': 'ghes-cp-prod-ghes-repl-status',
  'ghe-repl-promote': 'ghes-cp-prod-ghes-repl-promote',
  'ghe-maintenance': 'ghes-cp-prod-ghes-maintenance',
  'ghe-maintenance-status': 'ghes-cp-prod-ghes-maintenance-status',
};

describe('GHES_DOCUMENTS', () => {
  it('maps every command to its deployed document', () => {
    expect(parseDocumentNames(JSON.stringify(names))).toEqual(names);
  });

  it('names every missing, malformed or unknown entry at once', () => {
    const { 'ghe-maintenance-status': _missing, ...rest } = names;
    const error = (() => {
      try {
        parseDocumentNames(JSON.stringify({ ...rest, 'ghe-repl-promote': 'a b;c', 'ghe-backup': 'x-y-z' }));
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'GHES_DOCUMENTS: "ghe-repl-promote" is not an SSM document name; "ghe-maintenance-status" is missing; "ghe-backup" is not a GHES command',
    );
  });

  it.each([undefined, '', 'not json', '[]', '"x"'])('refuses %j as a deployment problem', (value) => {
    expect(() => parseDocumentNames(value)).toThrow(ConfigError);
  });
});

describe('commands', () => {
  it('spell themselves as an operator would type them', () => {
    expect(describeCommand({ name: 'ghe-repl-status', verbosity: 'none' })).toBe('ghe-repl-status');
    expect(describeCommand({ name: 'ghe-repl-status', verbosity: '-vv' })).toBe('ghe-repl-status -vv');
    expect(describeCommand({ name: 'ghe-maintenance', mode: '-s' })).toBe('ghe-maintenance -s');
  });

  it('treat Nagios codes of ghe-repl-status and exit 1 of ghe-maintenance -q as answers, nothing else', () => {
    expect(answerExitCodes({ name: 'ghe-repl-status', verbosity: 'none' })).toEqual([0, 1, 2, 3]);
    expect(answerExitCodes({ name: 'ghe-maintenance', mode: '-q' })).toEqual([0, 1]);
    expect(answerExitCodes({ name: 'ghe-maintenance', mode: '-s' })).toEqual([0]);
    expect(answerExitCodes({ name: 'ghe-repl-promote' })).toEqual([0]);
  });
});
