/**
 * EventBridge's `cron(minutes hours day-of-month month day-of-week year)` expression, checked the way
 * EventBridge checks it at deploy time, so a typo fails `npm run package` instead of the CloudFormation
 * update. https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
 */
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const FIELDS: readonly Field[] = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 1, max: 7, names: DAYS },
  { name: 'year', min: 1970, max: 2199 },
];

const valueOf = (field: Field, text: string): number | undefined => {
  const named = field.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return named + 1;
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return value >= field.min && value <= field.max ? value : undefined;
};

/** One comma-separated part: `*`, `v`, `a-b`, with an optional `/step`. */
const partProblem = (field: Field, part: string): string | undefined => {
  const [range = '', step, extra] = part.split('/');
  if (extra !== undefined || (step !== undefined && !/^[1-9]\d*$/.test(step)))
    return `"${part}" has a bad /step`;
  if (range === '*') return undefined;
  const bounds = range.split('-');
  if (bounds.length > 2 || bounds.some((b) => valueOf(field, b) === undefined))
    return `"${part}" is not within ${field.min}-${field.max}`;
  return undefined;
};

/** The special day forms: `L`, `15W`, `LW` (day of month); `L`, `6L`, `6#3` (day of week). */
const specialDay = (field: Field, text: string): boolean =>
  field.name === 'day-of-month'
    ? /^(L|LW|([1-9]|[12]\d|3[01])W)$/.test(text)
    : field.name === 'day-of-week' &&
      /^([1-7]|[A-Z]{3})(L|#[1-5])$|^L$/i.test(text) &&
      (text === 'L' || valueOf(field, text.replace(/(L|#[1-5])$/i, '')) !== undefined);

/** The problem with a schedule expression, or undefined when EventBridge would accept it. */
export const eventBridgeCronProblem = (expression: string): string | undefined => {
  const match = /^cron\((.*)\)$/.exec(expression.trim());
  if (!match) return 'expected cron(minutes hours day-of-month month day-of-week year)';
  const parts = match[1]!.trim().split(/\s+/);
  if (parts.length !== 6) return `expected 6 fields in cron(…), got ${parts.length}`;
  const [, , dayOfMonth, , dayOfWeek] = parts;
  // EventBridge's own rule: one of the two day fields must be `?`.
  if ((dayOfMonth === '?') === (dayOfWeek === '?'))
    return 'exactly one of day-of-month and day-of-week must be "?"';
  for (const [i, field] of FIELDS.entries()) {
    const text = parts[i]!;
    if (text === '?' && (field.name === 'day-of-month' || field.name === 'day-of-week')) continue;
    if (specialDay(field, text)) continue;
    for (const part of text.split(',')) {
      const problem = partProblem(field, part);
      if (problem) return `${field.name}: ${problem}`;
    }
  }
  return undefined;
};
