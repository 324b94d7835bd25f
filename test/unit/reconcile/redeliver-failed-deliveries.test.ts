import { describe, expect, it } from 'vitest';
import { GithubBudgetExhaustedError } from '../../../shared/github/call-budget.ts';
import type { GithubRecoveryApi, HookDelivery } from '../../../shared/github/recovery-api.ts';
import {
  redeliverFailedDeliveries,
  type DeliveryCursor,
} from '../../../shared/reconcile/redeliver-failed-deliveries.ts';
import { memoryRecoveryStore } from '../../support/recovery-store.ts';

const NOW = new Date('2026-11-24T12:00:00Z');
const minutesAgo = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);

/**
 * A hook delivery log as the contract has it: newest first, pages of `perPage`, and a `next` cursor
 * that names a position in the log (older than id N), so it stays valid while new deliveries arrive.
 */
const deliveryLog = (options: { callBudget?: number; failRedeliveryOf?: number[] } = {}) => {
  const log: HookDelivery[] = [];
  const redelivered: number[] = [];
  const pagesRead: (string | null)[] = [];
  let calls = 0;
  const spend = () => {
    calls += 1;
    if (options.callBudget !== undefined && calls > options.callBudget) {
      throw new GithubBudgetExhaustedError('spent');
    }
  };
  const add = (id: number, extra: Partial<HookDelivery> & { failed?: boolean } = {}) => {
    const { failed = false, ...rest } = extra;
    log.unshift({
      id,
      guid: `g${id}`,
      deliveredAt: minutesAgo(1),
      redelivery: false,
      statusCode: failed ? 500 : 202,
      event: 'workflow_job',
      action: 'queued',
      ...rest,
    });
  };
  const api: Pick<GithubRecoveryApi, 'deliveries' | 'redeliver'> = {
    async deliveries(cursor, perPage) {
      spend();
      pagesRead.push(cursor);
      const below = cursor === null ? Number.POSITIVE_INFINITY : Number(cursor.slice('before:'.length));
      const older = log.filter((d) => d.id < below);
      const page = older.slice(0, perPage);
      const more = older.length > perPage;
      return { deliveries: page, next: more ? `before:${page.at(-1)!.id}` : null };
    },
    async redeliver(id) {
      spend();
      if (options.failRedeliveryOf?.includes(id)) {
        throw Object.assign(new Error('Bad Gateway'), { status: 502 });
      }
      redelivered.push(id);
      const original = log.find((d) => d.id === id)!;
      // GitHub logs the redelivery as a new, newer item with the original's guid.
      add(Math.max(...log.map((d) => d.id)) + 1, { guid: original.guid, redelivery: true });
    },
  };
  return {
    log,
    add,
    api,
    redelivered,
    pagesRead,
    resetCalls: (budget?: number) => {
      calls = 0;
      options.callBudget = budget;
    },
    callsLeft: () => (options.callBudget === undefined ? 1000 : options.callBudget - calls),
  };
};

const run = (
  github: ReturnType<typeof deliveryLog>,
  store: ReturnType<typeof memoryRecoveryStore>['store'],
  extra: { perPage?: number; now?: Date } = {},
) =>
  redeliverFailedDeliveries(
    github.api,
    store,
    { warn: () => {} },
    {
      sourceKey: 'app',
      callsLeft: github.callsLeft,
      now: () => extra.now ?? NOW,
      perPage: extra.perPage ?? 100,
    },
  );

describe('redelivery of failed workflow_job deliveries', () => {
  it('on its first run looks back an hour only and redelivers each failed workflow_job delivery once', async () => {
    // Prepare
    const github = deliveryLog();
    const { store } = memoryRecoveryStore();
    github.add(1, { failed: true, deliveredAt: minutesAgo(90) }); // before the lookback
    github.add(2, { failed: true }); // lost
    github.add(3, { failed: true, event: 'push' }); // not ours
    github.add(4, { failed: true, statusCode: 0 }); // no HTTP answer at all: lost too
    github.add(5, { failed: true, guid: 'g-ok' });
    github.add(6, { guid: 'g-ok', redelivery: true }); // someone already redelivered it, OK
    github.add(7, { failed: true, guid: 'g-again', redelivery: true }); // a failed redelivery: no loop
    github.add(8);
    // Act
    const report = await run(github, store);
    // Assess
    expect(github.redelivered).toEqual([4, 2]);
    expect(report).toEqual({ redelivered: 2, redeliveryFailures: 0, backlog: 0, incomplete: false });
  });

  it('reads only what is new since its cursor on the next run', async () => {
    const github = deliveryLog();
    const { store, records } = memoryRecoveryStore();
    github.add(1, { failed: true });
    await run(github, store);
    // The newest id read; its own redelivery (id 2) came after and is read next time.
    expect((records.get('hook-cursor#app')!.value as DeliveryCursor).watermark).toBe(1);
    github.add(10, { failed: true });
    github.add(11);
    github.pagesRead.length = 0;
    const report = await run(github, store, { perPage: 2 });
    // Page 1 holds 11 and 10, page 2 (2 and 1) reaches the watermark: no further page.
    expect(github.redelivered).toEqual([1, 10]);
    expect(github.pagesRead).toEqual([null, 'before:10']);
    expect(report.redelivered).toBe(1);
  });

  it('redelivers a guid once when two runs read the log at the same time', async () => {
    const github = deliveryLog();
    const { store } = memoryRecoveryStore();
    for (let id = 1; id <= 6; id++) github.add(id, { failed: id % 2 === 0 });
    const [a, b] = await Promise.all([
      run(github, store, { perPage: 2 }),
      run(github, store, { perPage: 2 }),
    ]);
    expect([...github.redelivered].sort()).toEqual([2, 4, 6]);
    expect(a.redelivered + b.redelivered).toBe(3);
    // One of them lost the cursor write and says so.
    expect([a.incomplete, b.incomplete]).toContain(true);
  });

  it('works through a backlog bigger than one run over several runs, new failures first each time', async () => {
    const github = deliveryLog({ callBudget: 4 });
    const { store } = memoryRecoveryStore();
    for (let id = 1; id <= 40; id++) github.add(id, { failed: true, guid: `burst-${id}` });
    // Act: run 1 spends its 4 calls on one page and three redeliveries.
    const first = await run(github, store, { perPage: 10 });
    expect(first.incomplete).toBe(true);
    expect(first.redelivered).toBe(3);
    // A new failure arrives while the backlog is still being read.
    github.add(100, { failed: true, guid: 'fresh' });
    const runs = [first];
    for (let i = 0; i < 30 && runs.at(-1)!.incomplete; i++) {
      github.resetCalls(4);
      runs.push(await run(github, store, { perPage: 10 }));
      if (i === 0) expect(github.redelivered).toContain(100); // the head is read before the backlog
    }
    // Assess: everything redelivered exactly once, the backlog emptied.
    expect(runs.at(-1)).toMatchObject({ backlog: 0, incomplete: false });
    expect([...github.redelivered].sort((x, y) => x - y)).toEqual(
      [...Array(40).keys()].map((i) => i + 1).concat(100),
    );
  });

  it('tries a redelivery GitHub failed again on the next run', async () => {
    const failing = { failRedeliveryOf: [2] };
    const github = deliveryLog(failing);
    const { store } = memoryRecoveryStore();
    github.add(1);
    github.add(2, { failed: true });
    const first = await run(github, store);
    expect(first).toMatchObject({ redelivered: 0, redeliveryFailures: 1 });
    failing.failRedeliveryOf = [];
    const second = await run(github, store);
    expect(second.redelivered).toBe(1);
    expect(github.redelivered).toEqual([2]);
  });
});

describe('redelivery under a deadline', () => {
  it('redelivers a page’s failures a few at a time, never more at once than the budget has calls', async () => {
    // Prepare: 12 failed deliveries; each redelivery takes a while, as a round trip to GHES does.
    const github = deliveryLog();
    for (let id = 1; id <= 12; id++) github.add(id, { failed: true });
    const { store } = memoryRecoveryStore();
    let inFlight = 0;
    let most = 0;
    const redeliver = github.api.redeliver;
    github.api.redeliver = async (id) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
      return redeliver(id);
    };

    // Act
    const report = await run(github, store);

    // Assess: all 12, at most 5 in flight.
    expect(report.redelivered).toBe(12);
    expect(most).toBe(5);
    // With 4 calls in all, one reads the page and exactly 3 redeliver: the budget is never overrun.
    const tight = deliveryLog({ callBudget: 4 });
    for (let id = 1; id <= 12; id++) tight.add(id, { failed: true });
    expect((await run(tight, memoryRecoveryStore().store)).redelivered).toBe(3);
  });
});
