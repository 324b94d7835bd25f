import { beforeEach } from 'vitest';
import { FUNCTION_LOG_FILE } from './function-log-file.ts';
import { functionLogLinesSince, functionLogMark, setFunctionLogFile } from '../twin/function-logs.ts';

/**
 * Vitest setup file. The sandboxes' function logs go to FUNCTION_LOG_FILE, not the report; a test
 * that fails gets the lines its sandbox functions wrote while it ran printed under it, so nothing a
 * failure needs is hidden.
 */
const SHOWN = 200;

setFunctionLogFile(FUNCTION_LOG_FILE);

beforeEach(({ onTestFailed }) => {
  const mark = functionLogMark();
  onTestFailed(() => {
    const lines = functionLogLinesSince(mark);
    if (lines.length === 0) return;
    const shown = lines.slice(-SHOWN);
    console.error(
      [
        `The sandbox functions' logs during this test (${lines.length === 1 ? '1 line' : `${lines.length} lines`}${lines.length > SHOWN ? `, the last ${SHOWN} here` : ''}; the whole run's: ${FUNCTION_LOG_FILE}):`,
        ...shown.map((line) => `${line.at} ${line.function} ${line.text.trimEnd()}`),
      ].join('\n'),
    );
  });
});
