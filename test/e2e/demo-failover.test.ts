import { afterEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { main } from '../sandbox/demo.ts';
import { armFault, startTestSandbox, state } from '../support/sandbox-driver.ts';
import { postSlack, slashCommand } from '../support/slack-requests.ts';

/**
 * `npm run demo -- failover` against a sandbox started here, as an operator runs it against
 * `npm start`: its output and exit code are what the operator relies on, and the sandbox's state
 * says whether what it printed is true.
 */
let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

const demo = async (...args: string[]) => {
  sandbox ??= await startTestSandbox();
  const lines: string[] = [];
  // No env: the demo signs with the sandbox config's secret, the one this sandbox verifies with.
  const code = await main(['failover', '--url', sandbox.url, '--timeout', '60', ...args], {
    log: (line) => lines.push(line),
    env: {},
  });
  return { code, output: lines.join('\n') };
};

describe('npm run demo -- failover', { timeout: 90_000 }, () => {
  it('asks, shows the buttons, approves as the second operator and follows the failover to SUCCEEDED', async () => {
    const { code, output } = await demo();

    expect(output).toMatch(/ack HTTP 200: Failover started/);
    expect(output).toMatch(/\[ Approve \] {2}action_id=approve value=[0-9a-f]{32}/);
    expect(output).toMatch(/\[ Abort \] {2}action_id=abort value=[0-9a-f]{32}/);
    expect(output).toMatch(
      /clicked Approve as U0OPS0002 → POST \/slack\/interactions HTTP 200: .*You approved/,
    );
    // Each step as the message shows it, with its timing.
    for (const step of [
      'Lock',
      'Preflight',
      'Approval',
      'Promote the replica',
      'DNS switched to the replica',
    ])
      expect(output).toMatch(new RegExp(`\\[slack\\] ✅ ${step} \\(\\d+(\\.\\d)? s\\)`));
    expect(output).toMatch(/\[step\] {2}WaitForPromote/);
    expect(output).toMatch(/execution failover-\S+ SUCCEEDED after \d+\.\d s/);
    expect(output).toContain('DNS        ghes.sandbox.internal A 10.0.2.10 (TTL 60)');
    expect(output).toContain('appliance  ghes-replica: primary');
    expect(output).toContain('appliance  ghes-primary: replica');
    expect(code).toBe(0);
    // What it printed is what happened.
    const after = await state(sandbox!);
    expect(after.dns![0].values).toEqual(['10.0.2.10']);
    expect(after.executions!.map((e: { status: string }) => e.status)).toEqual(['SUCCEEDED']);
  });

  it('exits non-zero when the failover fails, and shows DNS unchanged', async () => {
    sandbox = await startTestSandbox();
    await armFault(sandbox, { target: 'ssm:ghe-repl-promote', exitCode: 1 });
    const { code, output } = await demo();

    expect(output).toMatch(/execution failover-\S+ FAILED after .*FailoverFailed/);
    expect(output).toContain('ghe-repl-promote exited 1');
    expect(output).toContain('DNS        ghes.sandbox.internal A 10.0.1.10 (TTL 60)');
    expect(code).toBe(1);
  });

  it('--dry-run asks no approval, clicks nothing and changes nothing', async () => {
    sandbox = await startTestSandbox();
    const before = await state(sandbox);
    const { code, output } = await demo('--dry-run');

    expect(output).toContain('/ghes failover --dry-run');
    expect(output).not.toContain('[ Approve ]');
    expect(output).not.toContain('clicked Approve');
    expect(output).toMatch(/execution failover-\S+ SUCCEEDED/);
    expect(code).toBe(0);
    const after = await state(sandbox);
    expect(after.dns).toEqual(before.dns);
    expect(after.appliances).toEqual(before.appliances);
  });

  it('exits non-zero at once when the command is refused (another failover holds the lock)', async () => {
    sandbox = await startTestSandbox();
    // A failover asked for by the other operator, waiting for its approval: it holds the lock.
    const first = await postSlack(
      sandbox.url,
      '/slack/commands',
      slashCommand(sandbox.config.sandbox.secrets.slackSigning, {
        userId: 'U0OPS0002',
        channelId: 'C0OPS0001',
        text: 'failover',
      }),
    );
    const holder = /failover-\d{8}T\d{6}-[0-9a-f]{6}/.exec(first.text)![0];
    const { code, output } = await demo();
    expect(output).toMatch(new RegExp(`ack HTTP 200: Refused: .*${holder}`));
    expect(output).toContain('no failover started');
    expect(output).not.toContain('clicked Approve');
    expect(code).toBe(1);
  });
});
