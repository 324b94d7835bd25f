import type * as z from 'zod/mini';

/** `pools[1].maxConcurrent` from ['pools', 1, 'maxConcurrent']. */
export const formatKeyPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    '',
  ) || '(root)';

/** One schema issue as `key.path: what was expected`, the form every config and payload error takes. */
export const describeIssue = (issue: z.core.$ZodIssue): string => {
  let expected: string;
  switch (issue.code) {
    case 'invalid_type':
      expected = `expected ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
      break;
    case 'unrecognized_keys':
      expected = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      break;
    case 'invalid_value':
      expected = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    default:
      expected = issue.message;
  }
  return `${formatKeyPath(issue.path)}: ${expected}`;
};
