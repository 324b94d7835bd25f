import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error asl-validator ships no types
import aslValidator from 'asl-validator';

type Validate = (definition: unknown) => Promise<{ isValid: boolean; errors: unknown[] }>;
const files = readdirSync('state-machines').filter((f) => f.endsWith('.asl.json'));

/** Every state, nested Map processors included. */
const statesOf = (machine: { States: Record<string, any> }): [string, any][] =>
  Object.entries(machine.States).flatMap(([name, state]) => [
    [name, state] as [string, any],
    ...(state.ItemProcessor ? statesOf(state.ItemProcessor) : []),
  ]);

describe('state machines', () => {
  it.each(files)('%s is valid ASL', async (file) => {
    const definition = JSON.parse(readFileSync(`state-machines/${file}`, 'utf8'));
    // asl-validator mutates what it is given.
    const result = await (aslValidator as Validate)(structuredClone(definition));
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it.each(files)('%s is JSONPath only, with Retry and Catch on every task', (file) => {
    const definition = JSON.parse(readFileSync(`state-machines/${file}`, 'utf8'));
    // aws-local-stepfunctions ignores JSONata and fails on Assign (ARCHITECTURE.md).
    expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    for (const [name, state] of statesOf(definition)) {
      expect(state.Assign, name).toBeUndefined();
      if (state.Type !== 'Task') continue;
      expect(state.Retry?.length, `${name} Retry`).toBeGreaterThan(0);
      expect(state.Catch?.length, `${name} Catch`).toBeGreaterThan(0);
    }
  });
});
