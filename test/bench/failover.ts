import { readFileSync } from 'node:fs';
import { startSandbox } from '../sandbox/sandbox.ts';
import { loadSandboxConfig } from '../sandbox/sandbox-config.ts';
import { buttonClick, postSlack, slashCommand } from '../support/slack-requests.ts';

/**
 * The failover's orchestration overhead: one approved failover driven through the sandbox's routes
 * (Approve clicked as soon as the button shows), at the sandbox's timeScale.
 *
 * Wall time is handler work (never scaled) plus simulated time (scaled). The simulated time the
 * machine spends is its Wait states: promote, drain and DNS INSYNC run on the twin while the machine
 * waits and polls. So the run is followed step by step (`executions[].currentStep`), each Wait
 * state's visits are counted (a visit lasts `Seconds × timeScale`; a short poll between two visits
 * may fall between two looks, hence the rounding), and at real scale
 *   wall = (measured wall − scaled Wait time) + Wait time at real scale.
 * The overhead is that minus the twin's promote, drain and DNS INSYNC durations (read from the
 * sandbox's state, not assumed). The machine does not wait out the record's TTL, so nothing is
 * subtracted for it. The GHES commands' own simulated run time (seconds each in the twin) stays in
 * the handler figure as it ran, scaled: it is appliance work, not orchestration.
 */
type State = {
  timeScale: number;
  durations: { promoteMs: number; drainMs: number; dnsSyncMs: number };
  executions: { name: string; status: string; currentStep: string | null; stoppedAt: string | null }[];
  slack: { blocks?: { type: string; elements?: { action_id?: string; value?: string }[] }[] }[];
  dns: { values: string[] }[];
};

const waitStates = (): Map<string, number> => {
  const asl = JSON.parse(
    readFileSync(new URL('../../state-machines/ghes-failover.asl.json', import.meta.url), 'utf8'),
  ) as { States: Record<string, { Type: string; Seconds?: number }> };
  return new Map(
    Object.entries(asl.States)
      .filter(([, s]) => s.Type === 'Wait' && typeof s.Seconds === 'number')
      .map(([name, s]) => [name, s.Seconds!]),
  );
};

const s1 = (seconds: number) => `${seconds.toFixed(1)} s`;

export const benchFailoverOverhead = async (): Promise<string[]> => {
  const config = loadSandboxConfig(undefined, { SANDBOX_TIME_SCALE: process.env.SANDBOX_TIME_SCALE });
  config.sandbox.schedules = false;
  const sandbox = await startSandbox({ config, logLevel: 'ERROR' });
  try {
    const { url } = sandbox;
    const secret = config.sandbox.secrets.slackSigning;
    const state = async () => (await (await fetch(`${url}/sandbox/state`)).json()) as State;
    const waits = waitStates();

    const started = Date.now();
    const ack = await postSlack(
      url,
      '/slack/commands',
      slashCommand(secret, { userId: 'U0OPS0001', channelId: 'C0OPS0001', text: 'failover' }),
    );
    const name = /failover-\d{8}T\d{6}-[0-9a-f]{6}/.exec(ack.text)?.[0];
    if (!name) throw new Error(`the failover did not start: ${ack.status} ${ack.text}`);

    // Each look at the execution: [ms since the command, step].
    const looks: [number, string][] = [];
    let clicked = false;
    let last: State;
    for (;;) {
      last = await state();
      const execution = last.executions.find((e) => e.name === name)!;
      if (execution.currentStep) looks.push([Date.now() - started, execution.currentStep]);
      if (execution.status !== 'RUNNING') break;
      const approvalId = last.slack
        .flatMap((m) => m.blocks ?? [])
        .flatMap((b) => b.elements ?? [])
        .findLast((e) => e.action_id === 'approve')?.value;
      if (!clicked && approvalId) {
        const click = await postSlack(
          url,
          '/slack/interactions',
          buttonClick(secret, {
            userId: 'U0OPS0002',
            channelId: 'C0OPS0001',
            actionId: 'approve',
            value: approvalId,
          }),
        );
        if (click.status !== 200) throw new Error(`Approve answered ${click.status} ${click.text}`);
        clicked = true;
      }
      if (Date.now() - started > 30 * 60_000) throw new Error('the failover did not stop within 30 minutes');
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    const execution = last.executions.find((e) => e.name === name)!;
    if (execution.status !== 'SUCCEEDED') throw new Error(`the failover ended ${execution.status}`);
    const wallSeconds = (Date.parse(execution.stoppedAt!) - started) / 1000;
    const scale = last.timeScale;

    // Contiguous looks at one Wait state; each visit scaled.
    const visits = new Map<string, number>();
    for (let i = 0; i < looks.length;) {
      const [from, step] = looks[i]!;
      let j = i;
      while (j + 1 < looks.length && looks[j + 1]![1] === step) j++;
      const seconds = waits.get(step);
      if (seconds !== undefined) {
        const until = looks[j + 1]?.[0] ?? looks[j]![0];
        const n = Math.max(1, Math.round((until - from) / 1000 / (seconds * scale)));
        visits.set(step, (visits.get(step) ?? 0) + n);
      }
      i = j + 1;
    }
    const { promoteMs, drainMs, dnsSyncMs } = last.durations;
    // At timeScale the twin's drain, promote and DNS sync also advance while a poll's (unscaled)
    // handler work runs, so fewer Wait visits can cover them than at real scale; at real scale the
    // polled phase lasts at least its duration, in whole Wait intervals.
    const polled = new Map([
      ['WaitForDrain', drainMs / 1000],
      ['WaitForPromote', promoteMs / 1000],
      ['WaitForDnsSync', dnsSyncMs / 1000],
    ]);
    const scaledWait = [...visits].reduce((sum, [step, n]) => sum + n * waits.get(step)! * scale, 0);
    const realWaitOf = (step: string, n: number) => {
      const seconds = waits.get(step)!;
      const covers = polled.has(step) ? Math.ceil(polled.get(step)! / seconds) * seconds : 0;
      return Math.max(n * seconds, covers);
    };
    const realWait = [...visits].reduce((sum, [step, n]) => sum + realWaitOf(step, n), 0);
    const handlerSeconds = wallSeconds - scaledWait;
    const realWall = handlerSeconds + realWait;
    const simulated = [...polled.values()].reduce((a, b) => a + b, 0);
    const overhead = realWall - simulated;
    const settle = visits.has('Settle') ? realWaitOf('Settle', visits.get('Settle')!) : 0;
    return [
      `Failover orchestration overhead (sandbox, timeScale ${scale}; one approved failover through the routes, Approve clicked at once)`,
      `  wall, /ghes failover → SUCCEEDED        ${s1(wallSeconds)}  (DNS now ${last.dns[0]?.values.join(', ')})`,
      `  Wait states as run (scaled)            ${s1(scaledWait)}  (${[...visits].map(([s, n]) => `${s} ×${n}`).join(', ')})`,
      `  handler work + transitions (unscaled)  ${s1(handlerSeconds)}`,
      `  at real scale                          ${s1(realWall)} = ${s1(handlerSeconds)} + Wait states ${s1(realWait)}`,
      `  − the twin's promote ${s1(promoteMs / 1000)}, drain ${s1(drainMs / 1000)}, DNS INSYNC ${s1(dnsSyncMs / 1000)}`,
      `  overhead at real scale                 ${s1(overhead)} (target ≤ 30 s) = handler ${s1(handlerSeconds)} + settle ${s1(settle)} (the runbook's deliberate wait) + polling granularity ${s1(realWait - settle - simulated)}`,
    ];
  } finally {
    await sandbox.close();
  }
};
