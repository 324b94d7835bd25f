import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The file every sandbox of a test run appends its functions' logs to (test/twin/function-logs.ts):
 * the errors and stack traces of the faults the tests inject on purpose land here instead of in the
 * report. Vitest's globalSetup: emptied when the run starts, named once when it ends.
 */
export const FUNCTION_LOG_FILE = fileURLToPath(
  new URL('../../test-results/function-logs.log', import.meta.url),
);

export default function setup() {
  mkdirSync(new URL('../../test-results/', import.meta.url), { recursive: true });
  writeFileSync(FUNCTION_LOG_FILE, '');
  return () => {
    const lines = readFileSync(FUNCTION_LOG_FILE, 'utf8').split('\n').length - 1;
    if (lines > 0)
      console.log(
        `The sandbox functions' logs (${lines === 1 ? '1 line' : `${lines} lines`}, the injected faults' among them; a failed test prints its own): ${relative(process.cwd(), FUNCTION_LOG_FILE)}`,
      );
  };
}
