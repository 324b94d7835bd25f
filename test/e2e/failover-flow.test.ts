import { afterEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { armFault, startTestSandbox, state, waitFor } from '../support/sandbox-driver.ts';
import { buttonClick, postSlack, slashCommand } from '../support/slack-requests.ts';

/**
 * The failover through the sandbox's routes only, as an outside script drives it: a signed
 * `/ghes failover`, the buttons in the one Slack message, a click signed as Slack signs it, and the
 * execution followed on the twin's appliances, Route53 and Slack. Each case gets a fresh sandbox:
 * a failover swaps the roles for good.
 */
let sandbox: Sandbox | undefined;
afterEach(async () => {
  // The lock is released on every path.
  if (sandbox) expect((await state(sandbox)).locks).toEqual([]);
  await sandbox?.close();
  sandbox = undefined;
});

const start = async () => {
  sandbox = await startTestSandbox((config) => {
    // timeScale 0.01: approval 3 s, 11 replication polls, promote 27 s at most.
    config.operations!.failover = {
      ...config.operations!.failover,
      approvalTimeoutMinutes: 5,
      // Bounds count polls (15 s apart), and each poll's own work is not scaled: keep the count small.
      replicationTimeoutSeconds: 150,
      promoteTimeoutMinutes: 45,
    };
  });
  return sandbox;
};
const secret = () => sandbox!.config.sandbox.secrets.slackSigning;
const stateOf = () => state(sandbox!);

const command = (userId: string, text: string) =>
  postSlack(
    sandbox!.url,
    '/slack/commands',
    slashCommand(secret(), { userId, channelId: 'C0OPS0001', text }),
  );

/** Starts a failover as U0OPS0001; the execution's name from the ack. */
const failover = async (text = 'failover') => {
  const answer = await command('U0OPS0001', text);
  expect(answer.status).toBe(200);
  const name = /failover-\d{8}T\d{6}-[0-9a-f]{6}/.exec(JSON.stringify(answer.body))?.[0];
  expect(name, JSON.stringify(answer.body)).toBeTruthy();
  return name!;
};

type SlackCall = {
  method: string;
  ts: string | null;
  text: string;
  blocks?: { type: string; text?: { text: string }; elements?: { action_id: string; value: string }[] }[];
};
const slackCalls = async () => ((await stateOf()).slack ?? []) as SlackCall[];
/** The approval id the Approve button carries, once the message shows it. */
const approvalId = () =>
  waitFor(
    'the approval buttons',
    async () =>
      (await slackCalls())
        .flatMap((m) => (m.blocks ?? []).filter((b) => b.type === 'actions').flatMap((b) => b.elements ?? []))
        .find((e) => e.action_id === 'approve')?.value,
  );
const click = (userId: string, actionId: 'approve' | 'abort', value: string) =>
  postSlack(
    sandbox!.url,
    '/slack/interactions',
    buttonClick(secret(), { userId, channelId: 'C0OPS0001', actionId, value }),
  );
/** The progress message as Slack last showed it. */
const lastMessage = async () => {
  const updates = (await slackCalls()).filter((m) => m.method === 'chat.update');
  return (updates.at(-1)?.blocks ?? []).map((b) => b.text?.text ?? '').join('\n');
};
const settled = (name: string) =>
  waitFor(
    `execution ${name} to stop`,
    async () => {
      const execution = (
        (await stateOf()).executions as { name: string; status: string; error: string | null }[]
      ).find((e) => e.name === name);
      return execution && execution.status !== 'RUNNING' ? execution : undefined;
    },
    60_000,
  );
const appliance = async (name: string) =>
  ((await stateOf()).appliances as { name: string; role: string; maintenance: boolean }[]).find(
    (a) => a.name === name,
  )!;
const dnsValues = async () => ((await stateOf()).dns as { values: string[] }[])[0]!.values;

describe('failover from Slack, end to end', { timeout: 90_000 }, () => {
  it('approved by the second operator: promoted, DNS at the replica, roles swapped, every step in the message', async () => {
    await start();
    const name = await failover();
    const id = await approvalId();
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect((await click('U0OPS0002', 'approve', id)).status).toBe(200);

    expect(await settled(name)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await dnsValues()).toEqual(['10.0.2.10']);
    expect(await appliance('ghes-replica')).toMatchObject({ role: 'primary' });
    expect(await appliance('ghes-primary')).toMatchObject({ role: 'replica' });
    const message = await lastMessage();
    for (const step of [
      'Lock',
      'Preflight',
      'Approval',
      'Maintenance mode on the primary',
      'Promote the replica',
      'DNS switched to the replica',
      'New primary answers /status',
      'Topology recorded',
      'Lock released',
    ])
      expect(message).toContain(`:white_check_mark: ${step} (`);
    expect(message).toContain('approved by <@U0OPS0002>');
    // One message, edited in place; the task token never reached Slack.
    expect((await slackCalls()).filter((m) => m.method === 'chat.postMessage')).toHaveLength(1);
    expect(JSON.stringify(await slackCalls())).not.toMatch(/"taskToken"|twin-task-token/i);
  });

  it('refuses the requester’s own approval; the second operator’s Abort then stops it, nothing changed', async () => {
    await start();
    const name = await failover();
    const id = await approvalId();
    const own = await click('U0OPS0001', 'approve', id);
    expect(own.status).toBe(200);
    expect(own.body.text).toContain('you asked for this failover');
    expect((await stateOf()).executions!.find((e: { name: string }) => e.name === name).status).toBe(
      'RUNNING',
    );
    await click('U0OPS0002', 'abort', id);
    expect(await settled(name)).toMatchObject({ status: 'FAILED', error: 'FailoverAborted' });
    expect(await dnsValues()).toEqual(['10.0.1.10']);
    expect(await appliance('ghes-primary')).toMatchObject({ role: 'primary', maintenance: false });
  });

  it('waits for replication that is not in sync, then aborts: DNS unchanged, primary out of maintenance', async () => {
    await start();
    await fetch(`${sandbox!.url}/sandbox/appliances`, {
      method: 'POST',
      body: JSON.stringify({ name: 'ghes-replica', replication: 'critical' }),
    });
    const name = await failover();
    await click('U0OPS0002', 'approve', await approvalId());
    expect(await settled(name)).toMatchObject({ status: 'FAILED', error: 'FailoverAborted' });
    expect(await dnsValues()).toEqual(['10.0.1.10']);
    expect(await appliance('ghes-primary')).toMatchObject({ role: 'primary', maintenance: false });
    expect(await lastMessage()).toContain(':x: Replication in sync');
  });

  it('when promote fails: DNS and roles unchanged, the primary out of maintenance', async () => {
    await start();
    await armFault(sandbox!, { target: 'ssm:ghe-repl-promote', exitCode: 1 });
    const name = await failover();
    await click('U0OPS0002', 'approve', await approvalId());
    expect(await settled(name)).toMatchObject({ status: 'FAILED', error: 'FailoverFailed' });
    expect(await dnsValues()).toEqual(['10.0.1.10']);
    expect(await appliance('ghes-primary')).toMatchObject({ role: 'primary', maintenance: false });
    expect(await appliance('ghes-replica')).toMatchObject({ role: 'replica' });
    expect(await lastMessage()).toContain('ghe-repl-promote exited 1');
  });

  it('fails over without maintenance mode when the primary is unreachable, and says so', async () => {
    await start();
    await armFault(sandbox!, { target: 'appliance:ghes-primary', error: 'Unreachable' });
    const name = await failover();
    await click('U0OPS0002', 'approve', await approvalId());
    expect(await settled(name)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await dnsValues()).toEqual(['10.0.2.10']);
    expect(await appliance('ghes-replica')).toMatchObject({ role: 'primary' });
    const message = await lastMessage();
    expect(message).toContain('the failover will proceed without maintenance mode');
    expect(message).toContain(':heavy_minus_sign: Maintenance mode on the primary');
  });

  it('aborts when nobody approves in time, and refuses a second failover while the first waits', async () => {
    await start();
    const name = await failover();
    await approvalId();
    const second = await command('U0OPS0002', 'failover');
    expect(second.body.response_type).toBe('ephemeral');
    expect(second.body.text).toContain(name);
    expect(await settled(name)).toMatchObject({ status: 'FAILED', error: 'FailoverAborted' });
    expect(await lastMessage()).toContain('nobody approved within');
    expect(await dnsValues()).toEqual(['10.0.1.10']);
  });

  it('a dry run takes the lock, runs preflight, reports, unlocks: nothing changed', async () => {
    await start();
    const before = await stateOf();
    const name = await failover('failover --dry-run');
    expect(await settled(name)).toMatchObject({ status: 'SUCCEEDED' });
    const after = await stateOf();
    expect(after.dns).toEqual(before.dns);
    expect(after.appliances).toEqual(before.appliances);
    expect(await lastMessage()).toContain('would proceed. Nothing was changed.');
    expect(
      (await slackCalls()).some((m) => JSON.stringify(m.blocks ?? []).includes('"action_id":"approve"')),
    ).toBe(false);
  });
});
