/**
 * EventBridge event-pattern matching for the patterns this project writes: value lists, `prefix`,
 * `anything-but`, `exists`, and nested objects. An unsupported operator throws rather than
 * silently matching nothing.
 */
type Pattern = { [key: string]: Pattern | readonly unknown[] };

const matchesValue = (value: unknown, condition: unknown): boolean => {
  if (condition === null || typeof condition !== 'object') return value === condition;
  const [operator, operand] = Object.entries(condition as Record<string, unknown>)[0] ?? [];
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && value.startsWith(String(operand));
    case 'anything-but': {
      const excluded = Array.isArray(operand) ? operand : [operand];
      return value !== undefined && !excluded.includes(value);
    }
    case 'exists':
      return (value !== undefined) === operand;
    default:
      throw new Error(`event pattern operator ${String(operator)} is not supported by the twin`);
  }
};

export const matchesPattern = (event: Record<string, unknown>, pattern: Pattern): boolean =>
  Object.entries(pattern).every(([key, condition]) => {
    const value = event[key];
    if (Array.isArray(condition)) {
      // A list matches when any entry matches; for an array value, when any element does.
      const values = Array.isArray(value) ? value : [value];
      return condition.some((c) =>
        c !== null && typeof c === 'object' && 'exists' in (c as object)
          ? matchesValue(value, c)
          : values.some((v) => matchesValue(v, c)),
      );
    }
    return (
      value !== null &&
      typeof value === 'object' &&
      matchesPattern(value as Record<string, unknown>, condition as Pattern)
    );
  });
