import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { loadSandboxConfig } from './sandbox-config.ts';
import { postDelivery, signedDelivery, workflowJobPayload } from '../support/github-deliveries.ts';
import { buttonClick, postSlack, slashCommand } from '../support/slack-requests.ts';

/**
 * `npm run demo -- --jobs 5 --labels self-hosted,linux`: fires N signed `workflow_job.queued`
 * webhooks at a running sandbox (`npm start`), then prints what became of each job.
 *
 * `npm run demo -- failover [--dry-run]`: `/ghes failover` signed as Slack signs it, from U0OPS0001
 * in C0OPS0001; the approval message's buttons; Approve clicked by the second operator U0OPS0002;
 * the execution followed step by step until it stops; the DNS record and the appliances' roles at
 * the end. Exit code 0 only when the execution SUCCEEDED.
 *
 * Both drive the sandbox only through its HTTP routes (ARCHITECTURE.md, "Sandbox contract").
 */
export interface DemoDeps {
  readonly log?: (line: string) => void;
  /** Where WEBHOOK_SECRET, SLACK_SIGNING_SECRET and SANDBOX_CONFIG are read from. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const REQUESTER = 'U0OPS0001';
const APPROVER = 'U0OPS0002';
const CHANNEL = 'C0OPS0001';

type SandboxState = {
  timeScale: number;
  executions: Execution[];
  slack: SlackCall[];
  dns: { name: string; type: string; values: string[]; ttl: number }[];
  appliances: {
    name: string;
    role: string;
    maintenance: boolean;
    replication: string | null;
    status: number;
  }[];
};
interface Execution {
  name: string;
  stateMachine: string;
  status: string;
  currentStep: string | null;
  startedAt: string;
  stoppedAt: string | null;
  error?: string;
  cause?: string;
}
interface SlackBlock {
  type: string;
  text?: { text: string };
  elements?: { type: string; action_id?: string; value?: string; text?: { text: string } | string }[];
}
interface SlackCall {
  at: string;
  method: string;
  channel: string | null;
  ts: string | null;
  text: string | null;
  blocks?: SlackBlock[] | null;
}

const fetchState = async (url: string) => {
  const response = await fetch(`${url}/sandbox/state`);
  if (!response.ok) throw new Error(`GET /sandbox/state answered HTTP ${response.status}`);
  return (await response.json()) as SandboxState;
};

/** Slack's emoji shortcodes in the progress message, as a terminal can show them. */
const EMOJI: Record<string, string> = {
  white_check_mark: '✅',
  x: '❌',
  hourglass_flowing_sand: '⏳',
  heavy_minus_sign: '➖',
  white_small_square: '▫️',
  mag: '🔍',
  no_entry_sign: '🚫',
  rotating_light: '🚨',
};
const emoji = (text: string) => text.replace(/:([a-z_]+):/g, (all, code: string) => EMOJI[code] ?? all);

/** The message's section lines (what Slack shows as text), without the header. */
const messageLines = (call: SlackCall) =>
  (call.blocks ?? [])
    .filter((b) => b.type === 'section' && b.text)
    .flatMap((b) => b.text!.text.split('\n'))
    .map(emoji);

const buttonsOf = (call: SlackCall) =>
  (call.blocks ?? [])
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? [])
    .filter((e) => e.type === 'button');

/** The execution stopped while the demo waited for something it would have shown. */
class StoppedEarly extends Error {
  constructor(
    readonly execution: Execution,
    readonly what: string,
  ) {
    super(`execution ${execution.name} ${execution.status} before ${what}`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const runJobs = async (
  values: {
    url?: string;
    jobs?: string;
    labels?: string;
    repository?: string;
    workflow?: string;
    wait?: string;
  },
  env: DemoDeps['env'],
  log: (line: string) => void,
) => {
  const secret = env?.WEBHOOK_SECRET ?? loadSandboxConfig(env?.SANDBOX_CONFIG, env).sandbox.secrets.webhook;
  const count = Number(values.jobs);
  const [owner, name] = String(values.repository).split('/');
  const firstJobId = Date.now() % 1_000_000_000;

  for (let i = 0; i < count; i++) {
    const jobId = firstJobId + i;
    const payload = workflowJobPayload(
      'queued',
      {
        id: jobId,
        run_id: jobId,
        run_attempt: 1,
        labels: String(values.labels).split(','),
        workflow_name: values.workflow,
      },
      { repository: { id: 1, name, full_name: values.repository, owner: { login: owner } } },
    );
    const response = await postDelivery(values.url!, await signedDelivery(payload, { secret }));
    log(`job ${jobId}: HTTP ${response.status} ${JSON.stringify(response.body)}`);
  }

  await sleep(Number(values.wait) * 1000);
  const state = (await fetchState(values.url!)) as unknown as { jobs: Record<string, unknown>[] };
  for (const job of state.jobs.filter(
    (j) => Number(j.id) >= firstJobId && Number(j.id) < firstJobId + count,
  )) {
    log(
      `job ${job.id}: ${job.status}${job.pool ? ` pool=${job.pool}` : ''}${job.resourceId ? ` on ${job.resourceId}` : ''}${job.reason ? ` (${job.reason})` : ''}`,
    );
  }
  return 0;
};

const runFailover = async (
  options: { url: string; dryRun: boolean; timeoutSeconds: number; pollMs: number },
  env: DemoDeps['env'],
  log: (line: string) => void,
) => {
  const { url } = options;
  const secret = loadSandboxConfig(env?.SANDBOX_CONFIG, env).sandbox.secrets.slackSigning;
  const started = Date.now();
  const since = () => `+${((Date.now() - started) / 1000).toFixed(2).padStart(6)} s`;
  const deadline = started + options.timeoutSeconds * 1000;
  const before = await fetchState(url);
  if (!Array.isArray(before.executions) || !Array.isArray(before.slack))
    throw new Error(`${url}/sandbox/state has no executions[] or slack[]: is it a sandbox with operations?`);
  const slackSeen = before.slack.length;
  const known = new Set(before.executions.map((e) => e.name));

  const text = options.dryRun ? 'failover --dry-run' : 'failover';
  log(`${since()}  /ghes ${text}  as ${REQUESTER} in ${CHANNEL} → POST /slack/commands (signed)`);
  const ack = await postSlack(
    url,
    '/slack/commands',
    slashCommand(secret, { userId: REQUESTER, channelId: CHANNEL, text }),
  );
  log(
    `${since()}  ack HTTP ${ack.status}: ${typeof ack.body === 'string' ? ack.body : (ack.body?.text ?? ack.text)}`,
  );
  if (ack.status !== 200) return 1;

  // The execution the command started (a refusal starts none).
  const waitFor = async <T>(
    what: string,
    probe: (state: SandboxState) => T | undefined,
    following?: string,
  ) => {
    for (;;) {
      const state = await fetchState(url);
      const found = probe(state);
      if (found !== undefined) return { found, state };
      const stopped = state.executions.find((e) => e.name === following && e.status !== 'RUNNING');
      if (stopped) throw new StoppedEarly(stopped, what);
      if (Date.now() > deadline)
        throw new Error(`timed out after ${options.timeoutSeconds} s waiting for ${what}`);
      await sleep(options.pollMs);
    }
  };
  // A refusal (unauthorized, a failover already running) is a 200 ephemeral ack that starts nothing;
  // the execution it names, if any, is the one already holding the lock.
  const named = /failover-\d{8}T\d{6}-[0-9a-f]{6}/.exec(ack.text)?.[0];
  if (!named || known.has(named)) {
    log(`${since()}  no failover started: the ack above says why`);
    return 1;
  }
  const { found: execution } = await waitFor(`execution ${named}`, (state) =>
    state.executions.find((e) => e.name === named),
  );
  log(`${since()}  execution ${execution.name} (${execution.stateMachine}) ${execution.status}`);

  // The one message the execution posts, by its ts; every chat.update of it after.
  const { found: message } = await waitFor(
    'the execution’s Slack message',
    (state) =>
      state.slack
        .slice(slackSeen)
        .find(
          (c) => c.method === 'chat.postMessage' && JSON.stringify(c.blocks ?? []).includes(execution.name),
        ),
    execution.name,
  );
  log(
    message.ts
      ? `${since()}  Slack message ts=${message.ts} in ${message.channel}`
      : `${since()}  Slack refused the message (${(message as { error?: string }).error}): there will be no buttons`,
  );

  let lastStep: string | null = null;
  let shownLines = new Set<string>();
  let updatesSeen = 0;
  const showChanges = (state: SandboxState) => {
    const current = state.executions.find((e) => e.name === execution.name)!;
    if (current.currentStep && current.currentStep !== lastStep) {
      lastStep = current.currentStep;
      log(`${since()}  [step]  ${current.currentStep}`);
    }
    const edits = state.slack.filter((c) => c.ts === message.ts && c.method === 'chat.update');
    const latest = edits.at(-1) ?? message;
    if (edits.length !== updatesSeen || updatesSeen === 0) {
      updatesSeen = edits.length;
      const lines = messageLines(latest).slice(2); // the header and requester line stay the same
      for (const line of lines)
        if (!shownLines.has(line) && !/^▫️/.test(line)) log(`${since()}  [slack] ${line}`);
      shownLines = new Set(lines);
    }
    return current;
  };

  // A preflight that refuses stops the execution before it asks: then there is nothing to click.
  const buttons = options.dryRun
    ? undefined
    : await waitFor(
        'the Approve/Abort buttons',
        (s) =>
          [...s.slack]
            .reverse()
            .find((c) => c.ts === message.ts && buttonsOf(c).some((b) => b.action_id === 'approve')),
        execution.name,
      ).catch((error: unknown) => {
        if (error instanceof StoppedEarly) return undefined;
        throw error;
      });
  if (buttons) {
    const { found: approval, state } = buttons;
    showChanges(state);
    log(`${since()}  approval message: ${emoji(approval.text ?? '')}`);
    for (const button of buttonsOf(approval)) {
      const label = typeof button.text === 'string' ? button.text : button.text?.text;
      log(`           [ ${label} ]  action_id=${button.action_id} value=${button.value}`);
    }
    const approvalId = buttonsOf(approval).find((b) => b.action_id === 'approve')!.value!;
    const click = await postSlack(
      url,
      '/slack/interactions',
      buttonClick(secret, {
        userId: APPROVER,
        channelId: CHANNEL,
        actionId: 'approve',
        value: approvalId,
        messageTs: message.ts!,
      }),
    );
    log(
      `${since()}  clicked Approve as ${APPROVER} → POST /slack/interactions HTTP ${click.status}${click.text ? `: ${click.text}` : ''}`,
    );
    if (click.status !== 200) return 1;
  } else if (!options.dryRun) log(`${since()}  the execution stopped before it asked for approval`);

  const { found: final, state } = await waitFor('the execution to stop', (s) => {
    const current = showChanges(s);
    return current.status === 'RUNNING' ? undefined : current;
  });
  showChanges(state);
  const seconds =
    (Date.parse(final.stoppedAt ?? new Date().toISOString()) - Date.parse(final.startedAt)) / 1000;
  log(
    `${since()}  execution ${final.name} ${final.status} after ${seconds.toFixed(1)} s (timeScale ${state.timeScale})${final.error ? `: ${final.error}${final.cause ? ` — ${final.cause}` : ''}` : ''}`,
  );
  for (const record of state.dns)
    log(`DNS        ${record.name} ${record.type} ${record.values.join(', ')} (TTL ${record.ttl})`);
  for (const a of state.appliances)
    log(
      `appliance  ${a.name}: ${a.role}, maintenance ${a.maintenance ? 'on' : 'off'}, replication ${a.replication ?? '—'}, /status ${a.status || 'no answer'}`,
    );
  return final.status === 'SUCCEEDED' ? 0 : 1;
};

/** The demo; resolves to the process's exit code. */
export const main = async (argv: readonly string[], deps: DemoDeps = {}): Promise<number> => {
  const env = deps.env ?? process.env;
  const log = deps.log ?? ((line: string) => console.log(line));
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      url: {
        type: 'string',
        default: env.SANDBOX_URL ?? `http://127.0.0.1:${env.PORT ?? 8787}`,
      },
      jobs: { type: 'string', default: '5' },
      labels: { type: 'string', default: 'self-hosted,linux' },
      repository: { type: 'string', default: 'acme/payments' },
      workflow: { type: 'string', default: 'CI' },
      wait: { type: 'string', default: '5' },
      'dry-run': { type: 'boolean', default: false },
      /** Give up following the failover after this many seconds (the approval alone may take 30 simulated minutes). */
      timeout: { type: 'string', default: '600' },
    },
  });
  const mode = positionals[0] ?? 'jobs';
  if (mode === 'jobs') return runJobs(values, env, log);
  if (mode === 'failover')
    return runFailover(
      { url: values.url!, dryRun: values['dry-run']!, timeoutSeconds: Number(values.timeout), pollMs: 100 },
      env,
      log,
    ).catch((error: unknown) => {
      if (!(error instanceof StoppedEarly)) throw error;
      const e = error.execution;
      log(`${error.message}${e.error ? `: ${e.error}${e.cause ? ` — ${e.cause}` : ''}` : ''}`);
      return 1;
    });
  throw new Error(`unknown demo "${mode}": use "failover", or no mode for the runner jobs demo`);
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
