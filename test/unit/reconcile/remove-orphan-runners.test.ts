import { describe, expect, it } from 'vitest';
import type { GithubRunner, RunnerScope } from '../../../shared/github/recovery-api.ts';
import type { JobLaunchRow } from '../../../shared/ledger/ledger-reads.ts';
import { judgeOfflineRunner, removeOrphanRunners } from '../../../shared/reconcile/remove-orphan-runners.ts';
import { memoryRecoveryStore } from '../../support/recovery-store.ts';

const NOW = new Date('2026-11-24T12:00:00Z');
const offline = (id: number, name = `ghes-cp-${id * 10}-1-a1b2c3`): GithubRunner => ({
  id,
  name,
  status: 'offline',
  busy: false,
});
const row = (extra: Partial<JobLaunchRow> = {}): JobLaunchRow => ({
  status: 'dispatched',
  runnerId: null,
  dispatchLeaseUntil: null,
  ...extra,
});
const judge = (runner: GithubRunner, launch: JobLaunchRow | undefined, seenSecondsAgo?: number) =>
  judgeOfflineRunner(runner, launch, {
    now: NOW,
    firstSeenOffline:
      seenSecondsAgo === undefined ? undefined : new Date(NOW.getTime() - seenSecondsAgo * 1000),
    graceSeconds: 900,
  }).remove;

describe('orphaned runner registrations', () => {
  it('never removes the live launch of an open job, however long it has been offline', () => {
    expect(judge(offline(7), row({ runnerId: 7 }), 86_400)).toBe(false);
    expect(judge(offline(7), row({ status: 'queued', runnerId: 7 }), 86_400)).toBe(false);
  });

  it('removes the registration of a closed job, and one the ledger says another launch replaced', () => {
    expect(judge(offline(7), row({ status: 'completed', runnerId: 7 }))).toBe(true);
    expect(judge(offline(7), row({ status: 'failed' }))).toBe(true);
    expect(judge(offline(7), row({ runnerId: 8 }))).toBe(true); // the crash-retry orphan
  });

  it('keeps a registration a dispatcher may be launching right now', () => {
    const leased = row({ status: 'queued', runnerId: 8, dispatchLeaseUntil: NOW.getTime() / 1000 + 30 });
    expect(judge(offline(7), leased, 86_400)).toBe(false);
  });

  it('removes a registration with no launch recorded only after it stayed offline through the grace period', () => {
    expect(judge(offline(7), undefined)).toBe(false);
    expect(judge(offline(7), row({ status: 'queued' }), 600)).toBe(false);
    expect(judge(offline(7), undefined, 901)).toBe(true);
    expect(judge(offline(7), row({ status: 'queued' }), 901)).toBe(true);
  });

  it('leaves runners it did not register, and online or busy ones, alone', () => {
    expect(judge(offline(7, 'build-host-7'), undefined, 86_400)).toBe(false);
    expect(judge({ ...offline(7), status: 'online' }, row({ status: 'completed' }))).toBe(false);
    expect(judge({ ...offline(7), busy: true }, row({ status: 'completed' }))).toBe(false);
  });

  it('sweeps a scope: removes orphans, remembers when it first saw the others, removes those a run later', async () => {
    // Prepare
    const scope: RunnerScope = { kind: 'org', org: 'acme', installationId: 77 };
    let runners = [offline(1), offline(2), offline(3), { ...offline(4), status: 'online' }];
    const rows: Record<string, JobLaunchRow> = {
      '10#1': row({ status: 'completed' }),
      '20#1': row({ runnerId: 2 }),
      // 30#1: no row at all
    };
    const removedIds: number[] = [];
    const api = {
      runners: async () => ({ runners, more: false }),
      removeRunner: async (_scope: RunnerScope, id: number) => {
        removedIds.push(id);
        runners = runners.filter((runner) => runner.id !== id);
      },
    };
    const ledger = { launchOf: async (key: string) => rows[key] };
    const { store } = memoryRecoveryStore();
    const sweep = (now: Date) =>
      removeOrphanRunners(
        api,
        ledger,
        store,
        { info: () => {}, warn: () => {} },
        {
          scopes: [scope],
          callsLeft: () => 10,
          now,
        },
      );
    // Act
    const first = await sweep(NOW);
    const second = await sweep(new Date(NOW.getTime() + 901_000));
    // Assess
    expect(first).toEqual({ removed: 1, stopped: false });
    expect(second).toEqual({ removed: 1, stopped: false });
    expect(removedIds).toEqual([1, 3]);
  });
});
