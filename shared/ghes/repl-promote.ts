/**
 * The outcome of `ghe-repl-promote`. Exit 0 is the only success, whatever the text; the text gives
 * the phases for the progress message. On 2.x it prints top-level phases ("Stopping replication
 * ...", "Applying configuration and starting services ...") with `  | ` detail lines under them and
 * ends with "Success: Replica has been promoted to primary and is now accepting requests."; 3.x adds
 * config-apply phases. A non-zero exit with that line, or exit 0 without it, is reported as it is:
 * the exit code decides, `successLinePrinted` says what the text claimed. Pure; never throws.
 */
export interface PromoteOutcome {
  readonly promoted: boolean;
  readonly exitCode: number;
  /** The success line was printed; with a non-zero exit it is contradicted, and the exit code wins. */
  readonly successLinePrinted: boolean;
  /** Top-level phase lines, in order, without the trailing " ...". */
  readonly phases: readonly string[];
  /** One line for Slack and the audit log. */
  readonly summary: string;
}

const SUCCESS = /^Success: Replica has been promoted to primary\b/;
/** A refusal or error is a line or two at the end (stderr first): enough for the operator to act on. */
const lastLines = (text: string, count = 3) =>
  text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' / ');

export const parsePromoteOutput = (result: {
  exitCode: number;
  stdout: string;
  stderr?: string;
}): PromoteOutcome => {
  const lines = String(result.stdout ?? '').split(/\r?\n/);
  const successLinePrinted = lines.some((line) => SUCCESS.test(line.trim()));
  const phases = lines
    .filter((line) => line.trim() && !/^\s/.test(line) && !/^Success: /.test(line))
    .map((line) => line.trim().replace(/\s*\.\.\.$/, ''));
  if (result.exitCode === 0)
    return {
      promoted: true,
      exitCode: 0,
      successLinePrinted,
      phases,
      summary: successLinePrinted
        ? 'replica promoted to primary and accepting requests'
        : 'ghe-repl-promote exited 0 (no success line printed)',
    };
  const reason = lastLines(String(result.stderr ?? '')) || lastLines(String(result.stdout ?? ''));
  return {
    promoted: false,
    exitCode: result.exitCode,
    successLinePrinted,
    phases,
    summary: `ghe-repl-promote failed with exit code ${result.exitCode}${reason ? `: ${reason}` : ''}${
      phases.length ? ` (last phase: ${phases.at(-1)})` : ''
    }${successLinePrinted ? ' — it printed its success line, but a non-zero exit is a failure' : ''}`,
  };
};
