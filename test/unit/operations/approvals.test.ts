import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoApprovals } from '../../../shared/operations/approvals.ts';
import { startDynamoForTest } from '../../support/dynamo.ts';

const now = new Date('2026-11-30T02:00:00.000Z');
const opening = {
  executionName: 'failover-20261130T020000-a1b2c3',
  operation: 'failover',
  requestedBy: 'U0OPS0001',
  channelId: 'C0OPS0001',
  taskToken: 'AQCEAAAAKgAAAAMAAAAAAAAAAT0K-secret-task-token',
  timeoutSeconds: 1800,
  now,
};

describe('approvals on DynamoDB', () => {
  let db: Awaited<ReturnType<typeof startDynamoForTest>>;
  beforeEach(async () => {
    db = await startDynamoForTest();
  });
  afterEach(async () => db.close());

  it('opens with a 128-bit random hex id and shows the request without its task token', async () => {
    const approvals = createDynamoApprovals(db.call, 'OperationsTable');
    const { id } = await approvals.open(opening);
    const { id: other } = await approvals.open(opening);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(other).not.toBe(id);
    const request = await approvals.get(id);
    expect(request).toEqual({
      id,
      executionName: opening.executionName,
      operation: 'failover',
      requestedBy: 'U0OPS0001',
      channelId: 'C0OPS0001',
      createdAt: '2026-11-30T02:00:00.000Z',
      expiresAt: '2026-11-30T02:30:00.000Z',
    });
    expect(JSON.stringify(request)).not.toContain('secret-task-token');
    // The row keeps a TTL a week past the timeout.
    const row = (await db.dynamo.scan('OperationsTable')).find((r) => r.pk === `approval#${id}`)!;
    expect(row.expiresAtEpoch).toBe(Date.parse('2026-11-30T02:30:00Z') / 1000 + 7 * 24 * 3600);
  });

  it('lets exactly one of 20 simultaneous clicks decide; the others learn who decided and what', async () => {
    const approvals = createDynamoApprovals(db.call, 'OperationsTable');
    const { id } = await approvals.open(opening);
    const deciders = Array.from({ length: 20 }, (_, i) => ({
      user: `U0OPS${String(100 + i)}`,
      decision: i % 2 ? ('abort' as const) : ('approve' as const),
    }));
    const outcomes = await Promise.all(
      deciders.map((d) => approvals.decide(id, d.decision, d.user, new Date(now.getTime() + 1000))),
    );
    const decided = outcomes.filter((o) => o.outcome === 'decided');
    expect(decided).toHaveLength(1);
    // Only the winner gets the token.
    expect(decided[0]).toMatchObject({ taskToken: opening.taskToken, request: { id } });
    const winner = deciders[outcomes.indexOf(decided[0]!)]!;
    for (const outcome of outcomes.filter((o) => o.outcome !== 'decided')) {
      expect(outcome).toEqual({
        outcome: 'already',
        request: expect.objectContaining({ id }),
        decision: winner.decision,
        decidedBy: winner.user,
        decidedAt: '2026-11-30T02:00:01.000Z',
      });
      expect(JSON.stringify(outcome)).not.toContain('secret-task-token');
    }
  });

  it('answers unknown for an id it never issued, and for one that is not an id, without writing', async () => {
    const approvals = createDynamoApprovals(db.call, 'OperationsTable');
    expect(await approvals.decide('0'.repeat(32), 'approve', 'U0OPS0002', now)).toEqual({
      outcome: 'unknown',
    });
    expect(await approvals.decide('approval#x" OR 1=1', 'approve', 'U0OPS0002', now)).toEqual({
      outcome: 'unknown',
    });
    expect(await approvals.get('../../etc')).toBeNull();
    expect(await db.dynamo.scan('OperationsTable')).toEqual([]);
  });

  it('refuses to open an approval without a task token', async () => {
    const approvals = createDynamoApprovals(db.call, 'OperationsTable');
    await expect(approvals.open({ ...opening, taskToken: '' })).rejects.toThrow(/task token/);
    expect(await db.dynamo.scan('OperationsTable')).toEqual([]);
  });
});
