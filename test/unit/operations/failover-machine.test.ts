import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDynamoForTest } from '../../support/dynamo.ts';
import { buttonsShown, createHarness, lastMessage, type Harness } from './failover-harness.ts';

/**
 * state-machines/ghes-failover.asl.json run end to end on aws-local-stepfunctions with the real task
 * code; appliances, Route53 and Slack are fakes that keep state. Every case also checks the lock
 * is gone at the end: the lock is released on every path.
 */
describe('the failover state machine', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  let h: Harness;
  beforeEach(async () => {
    db = await startDynamoForTest();
    h = createHarness(db.call);
  });
  afterEach(async () => {
    // Lock released on every path: no holder and no row left.
    expect(await h.locks.holder('ghes', new Date())).toBeNull();
    expect((await db.dynamo.scan('OperationsTable')).filter((r) => String(r.pk).startsWith('lock#'))).toEqual(
      [],
    );
    await db.close();
  });

  /** The Slack interaction's part: click the button the message shows, as another operator. */
  const click =
    (decision: 'approve' | 'abort', by = 'U0OPS0002') =>
    async (approvalId: string) => {
      const button = buttonsShown(h.slack.calls)
        .filter((b) => b.action_id === decision)
        .at(-1)!;
      expect(button.value).toBe(approvalId);
      return { decision, by };
    };

  it('fails over once approved: promote, DNS to the replica, roles swapped and recorded, every step timed', async () => {
    h.onApproval = click('approve');
    const result = await h.run();

    expect(result).toMatchObject({ status: 'SUCCEEDED' });
    expect(result.states).toEqual(
      expect.arrayContaining([
        'MaintenanceOn',
        'CheckDrain',
        'Settle',
        'CheckReplication',
        'StartPromote',
        'SwitchDns',
        'VerifyPrimary',
        'RecordTopology',
        'ReleaseLock',
      ]),
    );
    expect(h.zone.values).toEqual(['10.0.2.10']);
    expect(h.zone.ttl).toBe(60);
    expect(h.appliances.role).toEqual({ 'ghes-primary': 'replica', 'ghes-replica': 'primary' });
    expect(h.appliances.promotesSent).toEqual(['ghes-replica']);
    expect(h.appliances.maintenanceCalls).toEqual([['ghes-primary', true]]);
    expect(await h.topology.current()).toMatchObject({ primary: 'ghes-replica', replica: 'ghes-primary' });

    // One message, posted once and edited in place; the last version shows every step done with a time.
    const posts = h.slack.calls.filter((c) => c.method === 'chat.postMessage');
    expect(posts).toHaveLength(1);
    expect(h.slack.calls.length).toBeGreaterThan(10);
    const text = lastMessage(h.slack.calls);
    for (const label of [
      'Lock',
      'Preflight',
      'Approval',
      'Maintenance mode on the primary',
      'Active connections drained',
      'Settle 30 s',
      'Replication in sync',
      'Promote the replica',
      'DNS switched to the replica',
      'New primary answers /status',
      'Topology recorded',
      'Lock released',
    ])
      expect(text).toMatch(
        new RegExp(`:white_check_mark: ${label.replace(/[/]/g, '\\/')} \\(\\d+\\.\\d s\\)`),
      );
    expect(text).toContain('approved by <@U0OPS0002>');
    expect(text).toContain('Failed over: ghes-replica is primary');
    // The buttons carried the opaque id only; the task token never reached Slack.
    expect(buttonsShown(h.slack.calls).map((b) => b.value)).toEqual([
      expect.stringMatching(/^[0-9a-f]{32}$/),
      expect.stringMatching(/^[0-9a-f]{32}$/),
    ]);
    expect(JSON.stringify(h.slack.calls)).not.toContain('task-token');
    // Audit: each step's result and the outcome.
    expect(h.audit.filter((a) => a.action === 'step').map((a) => a.result.split(':')[0])).toEqual(
      expect.arrayContaining([
        'Lock',
        'Preflight',
        'Approval',
        'Promote the replica',
        'DNS switched to the replica',
        'Lock released',
      ]),
    );
    expect(h.audit.filter((a) => a.action === 'result').map((a) => a.result)).toEqual([
      expect.stringMatching(/^succeeded: Failed over/),
    ]);
    expect(h.alerts).toEqual([]);
  });

  it('waits for replication, then aborts with DNS unchanged and the primary out of maintenance again', async () => {
    h.onApproval = click('approve');
    h.appliances.replication = ['ok', 'critical']; // OK at preflight, behind once maintenance is on
    const result = await h.run();

    expect(result).toMatchObject({ status: 'FAILED', error: 'FailoverAborted' });
    expect(result.states.filter((s) => s === 'CheckReplication').length).toBeGreaterThan(2);
    expect(h.zone.upserts).toEqual([]);
    expect(h.appliances.promotesSent).toEqual([]);
    expect(h.appliances.maintenance['ghes-primary']).toBe(false);
    expect(h.appliances.maintenanceCalls).toEqual([
      ['ghes-primary', true],
      ['ghes-primary', false],
    ]);
    const text = lastMessage(h.slack.calls);
    expect(text).toContain(':x: Replication in sync');
    expect(text).toContain('not in sync after 60 s');
    expect(text).toContain(
      'Not failed over: replication was not in sync in time. DNS and roles are unchanged. ghes-primary was taken out of maintenance mode again.',
    );
  });

  it('when promote fails: DNS and roles unchanged, the primary out of maintenance, the exit code shown', async () => {
    h.onApproval = click('approve');
    h.appliances.promote = { polls: 1, exitCode: 1 };
    const result = await h.run();

    expect(result).toMatchObject({ status: 'FAILED', error: 'FailoverFailed' });
    expect(h.zone.values).toEqual(['10.0.1.10']);
    expect(h.zone.upserts).toEqual([]);
    expect(h.appliances.role).toEqual({ 'ghes-primary': 'primary', 'ghes-replica': 'replica' });
    expect(h.appliances.maintenance['ghes-primary']).toBe(false);
    expect(await h.topology.current()).toMatchObject({ primary: 'ghes-primary', updatedAt: null });
    expect(lastMessage(h.slack.calls)).toContain('ghe-repl-promote exited 1: Error: unable to promote');
  });

  it('fails over without maintenance mode when the primary is unreachable, and says so', async () => {
    h.onApproval = click('approve');
    h.appliances.unreachable.add('ghes-primary');
    const result = await h.run();

    expect(result).toMatchObject({ status: 'SUCCEEDED' });
    expect(result.states).not.toContain('MaintenanceOn');
    expect(h.appliances.maintenanceCalls).toEqual([]);
    expect(h.zone.values).toEqual(['10.0.2.10']);
    const text = lastMessage(h.slack.calls);
    expect(text).toContain('the failover will proceed without maintenance mode');
    expect(text).toMatch(
      /:heavy_minus_sign: Maintenance mode on the primary \(.*\) — ghes-primary unreachable: failing over without maintenance mode/,
    );
  });

  it('aborts when nobody decides before the approval times out, and changes nothing', async () => {
    const result = await h.run({ approvalTimeoutSeconds: 5 });

    expect(result).toMatchObject({ status: 'FAILED', error: 'FailoverAborted' });
    expect(result.states).toContain('ApprovalTimedOut');
    expect(h.appliances.maintenanceCalls).toEqual([]);
    expect(h.appliances.promotesSent).toEqual([]);
    expect(h.zone.upserts).toEqual([]);
    const text = lastMessage(h.slack.calls);
    expect(text).toContain('nobody approved within 5 s');
    // The buttons are gone from the final message.
    const last = h.slack.calls.at(-1)!;
    expect(JSON.stringify(last.blocks)).not.toContain('"action_id":"approve"');
  });

  it('aborts when the approver clicks Abort, and changes nothing', async () => {
    h.onApproval = click('abort');
    const result = await h.run();
    expect(result).toMatchObject({ status: 'FAILED', error: 'FailoverAborted' });
    expect(h.appliances.maintenanceCalls).toEqual([]);
    expect(h.zone.upserts).toEqual([]);
    expect(lastMessage(h.slack.calls)).toContain('aborted by <@U0OPS0002>');
  });

  it('a dry run takes the lock, runs preflight, reports, unlocks: no approval and nothing changed', async () => {
    h.onApproval = async () => {
      throw new Error('a dry run must not ask for approval');
    };
    const result = await h.run({ dryRun: true });

    expect(result).toMatchObject({ status: 'SUCCEEDED' });
    expect(result.states).toEqual([
      'AcquireLock',
      'Preflight',
      'PreflightPassed?',
      'DryRun?',
      'ReportOutcome',
      'ReleaseLock',
      'Outcome?',
      'DryRunReported',
    ]);
    expect(h.appliances.maintenanceCalls).toEqual([]);
    expect(h.appliances.promotesSent).toEqual([]);
    expect(h.zone.upserts).toEqual([]);
    expect(await h.approvals.get('0'.repeat(32))).toBeNull();
    expect(
      (await db.dynamo.scan('OperationsTable')).filter((r) => String(r.pk).startsWith('approval#')),
    ).toEqual([]);
    const text = lastMessage(h.slack.calls);
    expect(text).toContain('GHES failover dry run ghes-primary → ghes-replica');
    expect(text).toContain('Dry run: ghes-primary → ghes-replica would proceed. Nothing was changed.');
    expect(text).not.toContain('Promote');
  });

  it('stops at once when another execution holds the lock, leaving that lock alone', async () => {
    await h.locks.acquire({
      name: 'ghes',
      owner: 'failover-other',
      operation: 'failover',
      requestedBy: 'U0OPS0002',
      ttlSeconds: 600,
      now: new Date(),
    });
    const result = await h.run({ lockOwner: 'failover-other-request' }).catch((e) => e);
    // The harness's own pre-take failed (held); the execution then could not take it either.
    expect(result).toMatchObject({ status: 'FAILED', error: 'FailoverFailed' });
    expect(result.states).toEqual(['AcquireLock', 'ReportOutcome', 'ReleaseLock', 'Outcome?', 'Failed']);
    expect((await h.locks.holder('ghes', new Date()))?.owner).toBe('failover-other');
    expect(lastMessage(h.slack.calls)).toContain('held by failover-other');
    await h.locks.release('ghes', 'failover-other');
  });

  it('leaves maintenance on and alerts an operator when promote has no result in time', async () => {
    h.onApproval = click('approve');
    h.appliances.promote = { polls: 1, exitCode: null };
    const result = await h.run();

    expect(result).toMatchObject({ status: 'FAILED', error: 'FailoverNeedsOperator' });
    expect(h.zone.upserts).toEqual([]);
    // Its fate is unknown: taking the old primary out of maintenance could split the brain.
    expect(h.appliances.maintenance['ghes-primary']).toBe(true);
    expect(h.alerts).toEqual([
      expect.objectContaining({
        kind: 'failover-needs-operator',
        summary: expect.stringContaining('did not report a result within 5 min'),
      }),
    ]);
    const loud = h.slack.calls.filter((c) => c.method === 'chat.postMessage').at(-1)!;
    expect(loud.text).toMatch(/^<!here> :rotating_light: GHES failover `failover-.*` needs an operator/);
    expect(loud.text).toContain('cmd-promote-1');
  });

  it('alerts with the exact DNS change to make when the switch fails after promote', async () => {
    h.onApproval = click('approve');
    h.zone.failUpsert = true;
    const result = await h.run();

    expect(result).toMatchObject({ status: 'FAILED', error: 'FailoverNeedsOperator' });
    expect(h.appliances.role['ghes-replica']).toBe('primary');
    expect(h.zone.values).toEqual(['10.0.1.10']);
    expect(h.alerts[0]!.summary).toContain(
      'ghes-replica is promoted and is now the primary, but DNS still points at ghes-primary',
    );
    expect(h.alerts[0]!.detail).toContain('"ResourceRecords":[{"Value":"10.0.2.10"}]');
    expect(h.alerts[0]!.detail).toContain('--hosted-zone-id Z0SANDBOX0001');
    expect(lastMessage(h.slack.calls)).toContain(':x: DNS switched to the replica');
  });

  it('undoes maintenance when promote was refused before sending, and alerts (no undo) when its fate is unknown', async () => {
    h.onApproval = click('approve');
    h.appliances.promote = { polls: 1, exitCode: 0, start: 'not-sent' };
    expect(await h.run()).toMatchObject({ status: 'FAILED', error: 'FailoverFailed' });
    expect(h.appliances.maintenance['ghes-primary']).toBe(false);
    expect(h.alerts).toEqual([]);

    h.appliances.promote = { polls: 1, exitCode: 0, start: 'lost' };
    expect(await h.run()).toMatchObject({ status: 'FAILED', error: 'FailoverNeedsOperator' });
    expect(h.appliances.maintenance['ghes-primary']).toBe(true);
    expect(h.zone.upserts).toEqual([]);
    expect(h.alerts).toHaveLength(1);
  });
});
