import { ConfigError } from '../http/errors.ts';

/**
 * The GHES commands the control plane may run, as a closed union: each maps to one SSM Command
 * document in infra/ (`ssm-ghes-*.yaml`) whose parameters SSM checks against an allowedPattern
 * before anything runs. Nothing typed in Slack becomes a command or a parameter; callers pick a
 * member of this union, and the values below are the only ones it can carry.
 */
export type ApplianceCommand =
  | { readonly name: 'ghe-repl-status'; readonly verbosity: 'none' | '-v' | '-vv' }
  | { readonly name: 'ghe-repl-promote' }
  | { readonly name: 'ghe-maintenance'; readonly mode: '-q' | '-s' | '-u' }
  /** Maintenance state and active Git operations as one JSON line (infra/ssm-ghes-maintenance-status.yaml). */
  | { readonly name: 'ghe-maintenance-status' };

export type ApplianceCommandName = ApplianceCommand['name'];

export const COMMAND_NAMES: readonly ApplianceCommandName[] = [
  'ghe-repl-status',
  'ghe-repl-promote',
  'ghe-maintenance',
  'ghe-maintenance-status',
];

/** Deployed document name per command: env `GHES_DOCUMENTS`, e.g. `{"ghe-repl-status": "ghes-cp-prod-ghes-repl-status", …}`. */
export type DocumentNames = Readonly<Record<ApplianceCommandName, string>>;

/** Every document's single step has this name; SSM writes S3 output under it. */
export const DOCUMENT_STEP_NAME = 'ghesCommand';

/**
 * Seconds each document runs before SSM stops it, as the documents' defaults say. Promote takes
 * 10–20 minutes on 3.x; the failover passes its own (config `promoteTimeoutMinutes`).
 */
export const DEFAULT_EXECUTION_TIMEOUT_SECONDS: Readonly<Record<ApplianceCommandName, number>> = {
  'ghe-repl-status': 120,
  'ghe-repl-promote': 3600,
  'ghe-maintenance': 300,
  'ghe-maintenance-status': 60,
};

/**
 * Exit codes that are answers, not failures: ghe-repl-status is a Nagios check (1 warning, 2
 * critical, 3 unknown), `ghe-maintenance -q` exits 1 when maintenance mode is not set.
 */
export const answerExitCodes = (command: ApplianceCommand): readonly number[] => {
  if (command.name === 'ghe-repl-status') return [0, 1, 2, 3];
  if (command.name === 'ghe-maintenance' && command.mode === '-q') return [0, 1];
  return [0];
};

/** `ghe-repl-status -vv`: how the command reads in logs, Slack and the audit log. */
export const describeCommand = (command: ApplianceCommand): string => {
  switch (command.name) {
    case 'ghe-repl-status':
      return command.verbosity === 'none' ? command.name : `${command.name} ${command.verbosity}`;
    case 'ghe-maintenance':
      return `${command.name} ${command.mode}`;
    default:
      return command.name;
  }
};

/** The SendCommand parameters: exactly what the document declares, each value one its pattern accepts. */
export const documentParameters = (
  command: ApplianceCommand,
  executionTimeoutSeconds = DEFAULT_EXECUTION_TIMEOUT_SECONDS[command.name],
): Record<string, string[]> => {
  // The documents accept 10..99999 (`^[1-9][0-9]{1,4}$`); refuse here rather than have SSM do it.
  if (
    !Number.isInteger(executionTimeoutSeconds) ||
    executionTimeoutSeconds < 10 ||
    executionTimeoutSeconds > 99_999
  )
    throw new RangeError(
      `executionTimeout must be a whole number of seconds from 10 to 99999, got ${executionTimeoutSeconds}`,
    );
  const executionTimeout = [String(executionTimeoutSeconds)];
  switch (command.name) {
    case 'ghe-repl-status':
      return { verbosity: [command.verbosity], executionTimeout };
    case 'ghe-maintenance':
      return { mode: [command.mode], executionTimeout };
    default:
      return { executionTimeout };
  }
};

// SSM document names: letters, digits, _ - . (3–128); `AWS-`/`Amazon` prefixes are AWS's own.
const DOCUMENT_NAME = /^[a-zA-Z0-9_.-]{3,128}$/;

/** Parses env `GHES_DOCUMENTS`; names every missing or malformed entry at once. */
export const parseDocumentNames = (json: string | undefined): DocumentNames => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json ?? '');
  } catch {
    throw new ConfigError('GHES_DOCUMENTS: expected a JSON object of command name → SSM document name');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError('GHES_DOCUMENTS: expected a JSON object of command name → SSM document name');
  const given = parsed as Record<string, unknown>;
  const problems = COMMAND_NAMES.flatMap((name) => {
    const value = given[name];
    if (value === undefined) return [`"${name}" is missing`];
    return typeof value === 'string' && DOCUMENT_NAME.test(value)
      ? []
      : [`"${name}" is not an SSM document name`];
  });
  const unknown = Object.keys(given).filter((key) => !(COMMAND_NAMES as readonly string[]).includes(key));
  problems.push(...unknown.map((key) => `"${key}" is not a GHES command`));
  if (problems.length) throw new ConfigError(`GHES_DOCUMENTS: ${problems.join('; ')}`);
  return Object.fromEntries(COMMAND_NAMES.map((name) => [name, given[name] as string])) as DocumentNames;
};
