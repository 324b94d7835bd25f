import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSlackCommands, parseCommandText } from '../../../shared/operations/slack-command.ts';
import {
  createFailoverStarter,
  lockSecondsFor,
  ORPHANED_LOCK_GRACE_SECONDS,
} from '../../../shared/operations/slack-failover-start.ts';
import type { TopologyRecord } from '../../../shared/operations/slack-status.ts';
import { signSlackRequest, slashCommand, sslCheck, type SlashCommand } from '../../support/slack-requests.ts';
import {
  captureLogger,
  fakeAudit,
  fakeExecutions,
  fakeLocks,
  fakeTopology,
  operationsConfig,
  SIGNING_SECRET,
} from './slack-fakes.ts';

const T0 = new Date('2026-11-30T10:15:00Z');

const setup = (
  options: { topology?: TopologyRecord | null | Error; secret?: string; now?: () => Date } = {},
) => {
  const operations = operationsConfig();
  const locks = fakeLocks();
  const executions = fakeExecutions();
  const audit = fakeAudit();
  const log = captureLogger();
  const now = options.now ?? (() => new Date());
  let names = 0;
  const commands = createSlackCommands({
    signingSecret: { current: async () => options.secret ?? SIGNING_SECRET },
    operations,
    audit: audit.audit,
    startFailover: createFailoverStarter({
      locks: locks.locks,
      executions: executions.executions,
      failover: operations.failover,
      now,
      newExecutionName: () => `failover-20261130T101500-${String(++names).padStart(6, '0')}`,
    }),
    status: { topology: fakeTopology(options.topology ?? null), locks: locks.locks },
    logger: log.logger,
    now,
  });
  const send = (request: { headers: Record<string, string>; body: string }) =>
    commands.receive({ headers: request.headers, body: Buffer.from(request.body) });
  const ask = (command: Partial<SlashCommand> & { text: string }) =>
    send(
      // Signed at the flow's own clock, as Slack would sign it at that moment.
      slashCommand(
        SIGNING_SECRET,
        { userId: 'U0OPS0001', channelId: 'C0OPS0001', ...command },
        { timestamp: Math.floor(now().getTime() / 1000) },
      ),
    );
  return { operations, locks, executions, audit, log, commands, send, ask };
};

const textOf = (answer: { body?: Record<string, unknown> }) => {
  expect(answer.body).toMatchObject({ response_type: 'ephemeral' });
  return String(answer.body!.text);
};

describe('/ghes: what is refused before anything happens', () => {
  it('answers 401 and records nothing when the signature is bad, stale or from the future', async () => {
    const s = setup();
    const body = slashCommand(SIGNING_SECRET, {
      userId: 'U0OPS0001',
      channelId: 'C0OPS0001',
      text: 'failover',
    });
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      slashCommand('another-secret', { userId: 'U0OPS0001', channelId: 'C0OPS0001', text: 'failover' }),
      slashCommand(
        SIGNING_SECRET,
        { userId: 'U0OPS0001', channelId: 'C0OPS0001', text: 'failover' },
        { timestamp: now - 360 },
      ),
      slashCommand(
        SIGNING_SECRET,
        { userId: 'U0OPS0001', channelId: 'C0OPS0001', text: 'failover' },
        { timestamp: now + 360 },
      ),
      { headers: { ...body.headers, 'x-slack-signature': '' }, body: body.body },
    ];
    for (const request of cases) expect((await s.send(request)).status).toBe(401);
    expect(s.audit.rows).toEqual([]);
    expect(s.locks.calls).toEqual([]);
    expect(s.executions.started).toEqual([]);
  });

  it("passes Slack's own signed example at its timestamp, and refuses it at the real now", async () => {
    const vector = JSON.parse(
      readFileSync(new URL('../../vectors/slack/signature.json', import.meta.url), 'utf8'),
    ) as { signingSecret: string; timestamp: string; body: string; signature: string };
    const request = {
      headers: { 'x-slack-signature': vector.signature, 'x-slack-request-timestamp': vector.timestamp },
      body: vector.body,
    };
    const atVector = setup({
      secret: vector.signingSecret,
      now: () => new Date(Number(vector.timestamp) * 1000),
    });
    // Verified: the example's /webhook-collect is not ours, so it is answered with help.
    expect(textOf(await atVector.send(request))).toMatch(
      /`\/webhook-collect` is not a command this app serves/,
    );
    const atNow = setup({ secret: vector.signingSecret });
    expect((await atNow.send(request)).status).toBe(401);
  });

  it('answers a signed ssl_check with a bare 200 and records nothing', async () => {
    const s = setup();
    expect(await s.send(sslCheck(SIGNING_SECRET))).toEqual({ status: 200 });
    expect(s.audit.rows).toEqual([]);
  });

  it('answers 400 when the signed form lacks the user or channel', async () => {
    const s = setup();
    const request = signSlackRequest(SIGNING_SECRET, 'command=%2Fghes&text=status&channel_id=C0OPS0001');
    expect(await s.send(request)).toMatchObject({
      status: 400,
      body: { error: 'user_id: expected a Slack user ID' },
    });
  });
});

describe('/ghes help and unknown commands', () => {
  it.each(['', 'help', '  help  '])('answers %j with the help, to anyone', async (text) => {
    const s = setup();
    const answer = textOf(await s.ask({ text, userId: 'U0DEV0001' }));
    expect(answer).toContain('`/ghes failover --dry-run`');
    expect(s.audit.rows).toMatchObject([{ actor: 'U0DEV0001', action: 'request', operation: 'help' }]);
  });

  it('answers anything else with the help, echoing the text as text (no mention is sent)', async () => {
    const s = setup();
    const answer = textOf(await s.ask({ text: 'reboot <!channel>' }));
    expect(answer).toContain('`reboot &lt;!channel&gt;` is not a `/ghes` command I know.');
    expect(answer).not.toContain('<!channel>');
    expect(s.executions.started).toEqual([]);
  });

  it.each([
    ['failover', { verb: 'failover', dryRun: false }],
    ['failover --dry-run', { verb: 'failover', dryRun: true }],
    ['  failover   --dry-run ', { verb: 'failover', dryRun: true }],
    ['status', { verb: 'status' }],
  ])('reads %j as %j', (text, verb) => {
    expect(parseCommandText(text)).toEqual(verb);
  });

  it.each(['failover --force', 'failover now', 'failover --dry-run --force', 'FAILOVER', 'status please'])(
    'does not read %j as a command',
    (text) => {
      expect(parseCommandText(text)).toMatchObject({ verb: 'help', problem: expect.any(String) });
    },
  );
});

describe('/ghes failover: authorization by ID', () => {
  it('refuses a workspace member with no rights, starting nothing, and audits the refusal', async () => {
    const s = setup();
    const answer = await s.ask({ text: 'failover', userId: 'U0DEV0001' });
    expect(answer.status).toBe(200);
    expect(textOf(answer)).toBe(
      'Refused: you are not authorized to run GHES operations (Slack user U0DEV0001 is not in operations.slack.userIds). Nothing was started.',
    );
    expect(s.locks.calls).toEqual([]);
    expect(s.executions.started).toEqual([]);
    expect(s.audit.rows).toMatchObject([
      {
        actor: 'U0DEV0001',
        action: 'refuse',
        operation: 'failover',
        result: 'refused: user not authorized',
        channelId: 'C0OPS0001',
      },
    ]);
  });

  it('refuses an authorized user in another channel, naming the channels allowed', async () => {
    const s = setup();
    const answer = textOf(await s.ask({ text: 'failover --dry-run', channelId: 'C0RANDOM1' }));
    expect(answer).toContain('GHES operations are run only from <#C0OPS0001>');
    expect(answer).toContain('this channel (C0RANDOM1)');
    expect(s.executions.started).toEqual([]);
    expect(s.audit.rows).toMatchObject([
      { operation: 'failover --dry-run', result: 'refused: channel not allowed' },
    ]);
  });

  it('judges by ID, never by name: an authorized ID with any user name is let in, an unknown ID named like one is not', async () => {
    const s = setup();
    expect(textOf(await s.ask({ text: 'failover', userId: 'U0OPS0001', userName: 'someone-else' }))).toMatch(
      /^Failover started/,
    );
    expect(textOf(await s.ask({ text: 'status', userId: 'U0DEV0001', userName: 'u0ops0001' }))).toMatch(
      /^Refused/,
    );
  });
});

describe('/ghes failover: starting it', () => {
  it('takes the lock as the new execution and starts it with the contract input', async () => {
    const s = setup({ now: () => T0 });
    const answer = textOf(await s.ask({ text: 'failover' }));
    expect(answer).toBe(
      'Failover started: nothing changes until a second authorized person approves in the message that follows. Execution `failover-20261130T101500-000001`.',
    );
    expect(s.executions.started).toEqual([
      {
        name: 'failover-20261130T101500-000001',
        input: {
          operation: 'failover',
          dryRun: false,
          requestedBy: 'U0OPS0001',
          channelId: 'C0OPS0001',
          lockOwner: 'failover-20261130T101500-000001',
          approvalTimeoutSeconds: 30 * 60,
        },
      },
    ]);
    expect(s.locks.held.get('ghes')).toEqual({
      name: 'ghes',
      owner: 'failover-20261130T101500-000001',
      operation: 'failover',
      requestedBy: 'U0OPS0001',
      acquiredAt: T0.toISOString(),
      expiresAt: new Date(T0.getTime() + lockSecondsFor(s.operations.failover, false) * 1000).toISOString(),
    });
    expect(s.audit.rows.map((r) => [r.action, r.operation, r.result, r.executionName])).toEqual([
      ['request', 'failover', 'received', undefined],
      ['start', 'failover', 'started', 'failover-20261130T101500-000001'],
    ]);
  });

  it('starts a dry run as such, with a shorter lock', async () => {
    const s = setup({ now: () => T0 });
    expect(textOf(await s.ask({ text: 'failover --dry-run' }))).toMatch(
      /^Dry run started: .* changes nothing\./,
    );
    expect(s.executions.started[0]!.input).toMatchObject({ dryRun: true });
    expect(s.locks.held.get('ghes')).toMatchObject({ operation: 'failover --dry-run' });
    expect(lockSecondsFor(s.operations.failover, true)).toBeLessThan(
      lockSecondsFor(s.operations.failover, false),
    );
  });

  it('holds the lock past every bounded wait of a failover', () => {
    const f = operationsConfig().failover;
    const waits =
      f.approvalTimeoutMinutes * 60 +
      f.drainTimeoutSeconds +
      f.replicationTimeoutSeconds +
      f.promoteTimeoutMinutes * 60;
    expect(lockSecondsFor(f, false)).toBeGreaterThan(waits);
  });

  it('refuses a second failover while one runs, naming who holds the lock, for what, since when', async () => {
    let now = T0;
    const s = setup({ now: () => now });
    await s.ask({ text: 'failover' });
    now = new Date(T0.getTime() + 5 * 60_000);
    const answer = textOf(await s.ask({ text: 'failover --dry-run', userId: 'U0OPS0002' }));
    expect(answer).toContain(
      'Refused: another operation is running: `failover` (execution `failover-20261130T101500-000001`)',
    );
    expect(answer).toContain('asked by <@U0OPS0001>');
    expect(answer).toContain(`since ${T0.toISOString()}`);
    expect(answer).toMatch(/Nothing was started\.$/);
    expect(s.executions.started).toHaveLength(1);
    expect(s.audit.rows.at(-1)).toMatchObject({
      actor: 'U0OPS0002',
      action: 'refuse',
      result: `refused: lock held by failover-20261130T101500-000001 (failover, asked by U0OPS0001, since ${T0.toISOString()})`,
    });
  });

  it('gives the lock back when Step Functions refuses the start, so the next attempt can run', async () => {
    const s = setup({ now: () => T0 });
    s.executions.failNextWith(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const answer = textOf(await s.ask({ text: 'failover' }));
    expect(answer).toBe(
      'Could not start `failover`: Step Functions answered ThrottlingException. Nothing was started; the lock was released, so you can try again.',
    );
    expect(s.locks.held.size).toBe(0);
    expect(s.locks.calls).toEqual([
      'acquire failover-20261130T101500-000001',
      'release failover-20261130T101500-000001',
    ]);
    expect(s.audit.rows.at(-1)).toMatchObject({
      action: 'result',
      result: 'failed to start: ThrottlingException',
    });
  });

  it('keeps the lock when the start answer was lost but the execution did start', async () => {
    const s = setup({ now: () => T0 });
    s.executions.failNextWith(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }), {
      startedAnyway: true,
    });
    expect(textOf(await s.ask({ text: 'failover' }))).toMatch(/^Failover started/);
    expect(s.locks.held.get('ghes')!.owner).toBe('failover-20261130T101500-000001');
    expect(s.locks.calls).not.toContain('release failover-20261130T101500-000001');
  });

  it('does nothing at all when the request cannot be written to the audit log first', async () => {
    const s = setup();
    s.audit.failWhen((entry) => entry.action === 'request');
    const answer = textOf(await s.ask({ text: 'failover' }));
    expect(answer).toMatch(/^Nothing was done: the audit log could not be written/);
    expect(s.locks.calls).toEqual([]);
    expect(s.executions.started).toEqual([]);
    expect(
      s.log.lines.some(([level, message]) => level === 'error' && message === 'audit row not written'),
    ).toBe(true);
  });

  it('still refuses when the refusal cannot be audited, says so, and logs what the row would have said', async () => {
    const s = setup();
    s.audit.failWhen(() => true);
    const answer = textOf(await s.ask({ text: 'failover', userId: 'U0DEV0001' }));
    expect(answer).toMatch(/^Refused: .*Nothing was started\.\n_This could not be written to the audit log/);
    const logged = s.log.lines.find(([, message]) => message === 'audit row not written');
    expect(logged?.[2]).toMatchObject({
      audit: { actor: 'U0DEV0001', result: 'refused: user not authorized' },
    });
  });

  it('answers with an error and starts nothing when the lock store does not answer', async () => {
    const s = setup();
    s.locks.locks.acquire = async () => {
      throw Object.assign(new Error('down'), { name: 'InternalServerError' });
    };
    const answer = textOf(await s.ask({ text: 'failover' }));
    expect(answer).toMatch(
      /^Could not start `failover`: the operation lock could not be taken \(InternalServerError\)/,
    );
    expect(s.executions.started).toEqual([]);
  });
});

describe('/ghes failover: a lock left by a starter that died', () => {
  const orphan = (s: ReturnType<typeof setup>, owner: string, acquiredAt: Date) =>
    s.locks.held.set('ghes', {
      name: 'ghes',
      owner,
      operation: 'failover',
      requestedBy: 'U0OPS0002',
      acquiredAt: acquiredAt.toISOString(),
      expiresAt: new Date(acquiredAt.getTime() + 3600_000).toISOString(),
    });

  it('is taken over once its execution has been missing past the grace, and the takeover is said', async () => {
    const s = setup({ now: () => T0 });
    orphan(
      s,
      'failover-20261130T100000-dead00',
      new Date(T0.getTime() - (ORPHANED_LOCK_GRACE_SECONDS + 1) * 1000),
    );
    expect(textOf(await s.ask({ text: 'failover' }))).toMatch(/^Failover started/);
    expect(s.locks.held.get('ghes')!.owner).toBe('failover-20261130T101500-000001');
    expect(s.locks.calls).toContain('release failover-20261130T100000-dead00');
  });

  it('is left alone within the grace: its starter may still be starting it', async () => {
    const s = setup({ now: () => T0 });
    orphan(s, 'failover-20261130T101450-young0', new Date(T0.getTime() - 10_000));
    expect(textOf(await s.ask({ text: 'failover' }))).toMatch(/^Refused: another operation is running/);
  });

  it('is taken over at once when its execution has stopped without releasing it', async () => {
    const s = setup({ now: () => T0 });
    orphan(s, 'failover-20261130T101450-ended0', new Date(T0.getTime() - 10_000));
    s.executions.presence.set('failover-20261130T101450-ended0', 'stopped');
    expect(textOf(await s.ask({ text: 'failover' }))).toMatch(/^Failover started/);
  });

  it('is left alone while its execution runs, or when another operation holds it', async () => {
    const s = setup({ now: () => T0 });
    orphan(s, 'failover-20261130T090000-alive0', new Date(T0.getTime() - 3600_000 + 60_000));
    s.executions.presence.set('failover-20261130T090000-alive0', 'running');
    expect(textOf(await s.ask({ text: 'failover' }))).toMatch(/^Refused/);
    orphan(s, 'backup-20261130T090000', new Date(T0.getTime() - 600_000));
    expect(textOf(await s.ask({ text: 'failover' }))).toMatch(/^Refused/);
    expect(s.executions.started).toEqual([]);
  });
});

describe('/ghes status', () => {
  it('shows the configured roles while no failover has recorded a topology, and a free lock', async () => {
    const s = setup({ now: () => T0 });
    const answer = textOf(await s.ask({ text: 'status' }));
    expect(answer).toContain('• *ghes-primary* (`i-0a1b2c3d4e5f60001`): primary');
    expect(answer).toContain('• *ghes-replica* (`i-0a1b2c3d4e5f60002`): replica');
    expect(answer).toContain(
      'Roles: as configured (`initialRole`): no failover has recorded a topology yet.',
    );
    expect(answer).toContain('Operation lock: free');
    expect(answer).toContain('not read live');
    expect(s.audit.rows).toMatchObject([{ action: 'request', operation: 'status', result: 'answered' }]);
  });

  it('shows the roles the last failover recorded, what was last known, and who holds the lock', async () => {
    const s = setup({
      now: () => T0,
      topology: {
        primary: 'ghes-replica',
        replica: 'ghes-primary',
        updatedAt: '2026-11-29T03:00:00.000Z',
        changedBy: 'U0OPS0002',
        lastKnown: {
          at: '2026-11-29T03:05:00.000Z',
          replication: 'ok',
          maintenance: { 'ghes-primary': true },
        },
      },
    });
    await s.ask({ text: 'failover --dry-run', userId: 'U0OPS0002' });
    const answer = textOf(await s.ask({ text: 'status' }));
    expect(answer).toContain('*ghes-primary* (`i-0a1b2c3d4e5f60001`): replica, maintenance on (last known)');
    expect(answer).toContain('*ghes-replica* (`i-0a1b2c3d4e5f60002`): primary');
    expect(answer).toContain('Roles: as recorded at 2026-11-29T03:00:00.000Z by <@U0OPS0002>.');
    expect(answer).toContain(
      'Replication: ok (last known, checked 2026-11-29T03:05:00.000Z; not read live).',
    );
    expect(answer).toContain(
      'Operation lock: held, `failover --dry-run` (execution `failover-20261130T101500-000001`), asked by <@U0OPS0002>',
    );
  });

  it('still answers when a read fails, saying what could not be read', async () => {
    const s = setup({ topology: Object.assign(new Error('x'), { name: 'ResourceNotFoundException' }) });
    s.locks.locks.holder = async () => {
      throw Object.assign(new Error('x'), { name: 'StoreNotAvailableError' });
    };
    const answer = textOf(await s.ask({ text: 'status' }));
    expect(answer).toContain('Roles: the topology record could not be read (ResourceNotFoundException)');
    expect(answer).toContain('*ghes-primary* (`i-0a1b2c3d4e5f60001`): primary');
    expect(answer).toContain('Operation lock: could not be read (StoreNotAvailableError).');
  });

  it('is refused to a workspace member with no rights', async () => {
    const s = setup();
    expect(textOf(await s.ask({ text: 'status', userId: 'U0DEV0001' }))).toMatch(
      /^Refused: you are not authorized/,
    );
  });
});

describe('/ghes logging', () => {
  it('never logs the signing secret, the form, or its response_url and token', async () => {
    const s = setup();
    s.audit.failWhen((entry) => entry.action === 'refuse');
    await s.ask({ text: 'failover', userId: 'U0DEV0001' });
    await s.ask({ text: 'failover' });
    await s.send(slashCommand('wrong', { userId: 'U0OPS0001', channelId: 'C0OPS0001', text: 'status' }));
    const logged = s.log.text();
    expect(logged).toContain('U0DEV0001'); // the log says who, so the check below can fail
    for (const secret of [SIGNING_SECRET, 'hooks.slack.com', 'gIkuvaNzQIHg97ATvDxqgjtO', 'trigger'])
      expect(logged).not.toContain(secret);
  });
});
