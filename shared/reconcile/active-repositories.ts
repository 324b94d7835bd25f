import type { LedgerReads, RecentRepository } from '../ledger/ledger-reads.ts';
import type { RecoveryStore } from './recovery-store.ts';

/**
 * The repositories that ran jobs in the last `windowHours`, kept as one recovery record
 * (`active-repositories`) and topped up each run from the ledger rows queued since the previous run
 * (a few index reads a minute instead of a scan of hours of rows). `next` rotates where each run
 * starts, so a run whose budget covers a few repositories still reaches every one in turn.
 */
interface ActiveRecord {
  readonly mark: string;
  readonly next: number;
  readonly repositories: Record<string, RecentRepository & { readonly lastSeen: string }>;
}

export interface ActiveRepositories {
  /** In rotation order for this run. */
  readonly repositories: readonly RecentRepository[];
  /** Records how many of them this run got through, so the next run starts after them. */
  advance(count: number): Promise<void>;
}

/** Rows queued just before the mark may be indexed late (the index is eventually consistent). */
const OVERLAP_MS = 60_000;
const MAX_REPOSITORIES = 500;

export const loadActiveRepositories = async (
  ledger: Pick<LedgerReads, 'repositoriesQueuedSince'>,
  store: RecoveryStore,
  options: { now: Date; windowHours: number },
): Promise<ActiveRepositories> => {
  const { value, version } = await store.load<ActiveRecord>('active-repositories');
  const windowStart = new Date(options.now.getTime() - options.windowHours * 3600_000);
  const since = value
    ? new Date(Math.max(new Date(value.mark).getTime() - OVERLAP_MS, windowStart.getTime()))
    : windowStart;
  const fresh = await ledger.repositoriesQueuedSince(since.toISOString(), MAX_REPOSITORIES);
  const repositories: ActiveRecord['repositories'] = {};
  for (const [name, repo] of Object.entries(value?.repositories ?? {})) {
    if (new Date(repo.lastSeen) >= windowStart) repositories[name] = repo;
  }
  for (const repo of fresh) repositories[repo.repository] = { ...repo, lastSeen: options.now.toISOString() };
  const names = Object.keys(repositories).sort().slice(0, MAX_REPOSITORIES);
  const start = names.length ? (value?.next ?? 0) % names.length : 0;
  const ordered = [...names.slice(start), ...names.slice(0, start)].map((name) => {
    const { lastSeen: _seen, ...repo } = repositories[name]!;
    return repo;
  });
  return {
    repositories: ordered,
    async advance(count) {
      // A concurrent run that saved first wins; this run's top-up is read again next time.
      await store.save(
        'active-repositories',
        {
          mark: options.now.toISOString(),
          next: names.length ? (start + count) % names.length : 0,
          repositories,
        },
        version,
      );
    },
  };
};
