import type { Logger } from '@aws-lambda-powertools/logger';
import { isGithubStop } from '../github/call-budget.ts';
import type { GithubRecoveryApi, GithubRunner, RunnerScope } from '../github/recovery-api.ts';
import { jobKey } from '../ledger/job-ledger.ts';
import type { JobLaunchRow, LedgerReads } from '../ledger/ledger-reads.ts';
import type { RecoveryStore } from './recovery-store.ts';

/**
 * Offline runner registrations no machine will ever use: a JIT registration whose launch died before
 * recording it (the dispatcher's crash-and-retry leaves one behind), or one of a job that closed
 * without it. They clutter the runner list for good otherwise. JIT runners carry no creation time in
 * the API, so the ledger row of the runner's job decides (names are `ghes-cp-<jobId>-<attempt>-<hex>`,
 * shared/dispatch/runner-registrations.ts):
 * - job open and the row names this runner: the live launch, still booting → never removed;
 * - job open and a dispatcher holds it right now: it may have just registered this one → kept;
 * - job closed, or the row names a different runner → no machine will use this one → removed;
 * - otherwise (no row, or an open row naming no runner: a registration-token or adopted launch) →
 *   removed only once it has been seen offline for `graceSeconds` across runs (sightings kept in the
 *   recovery record `offline-runners`), longer than any runner takes to boot and connect.
 */
export const RUNNER_NAME = /^ghes-cp-(\d+)-(\d+)-[0-9a-f]{6}(?:-\d+)?$/;

const CLOSED: ReadonlySet<string> = new Set(['completed', 'failed']);

export type RunnerVerdict = { readonly remove: boolean; readonly why: string };

export const judgeOfflineRunner = (
  runner: GithubRunner,
  row: JobLaunchRow | undefined,
  context: { now: Date; firstSeenOffline: Date | undefined; graceSeconds: number },
): RunnerVerdict => {
  if (!RUNNER_NAME.test(runner.name)) return { remove: false, why: 'not registered by the control plane' };
  if (runner.status !== 'offline' || runner.busy) return { remove: false, why: 'online or busy' };
  const open = row !== undefined && !CLOSED.has(row.status);
  if (open && row.runnerId === runner.id) return { remove: false, why: 'the live launch of an open job' };
  if (open && row.dispatchLeaseUntil !== null && row.dispatchLeaseUntil * 1000 > context.now.getTime()) {
    return { remove: false, why: 'a dispatcher is launching the job now' };
  }
  if (row !== undefined && !open) return { remove: true, why: `its job is ${row.status}` };
  if (open && row.runnerId !== null)
    return { remove: true, why: `the job's launch uses runner ${row.runnerId}` };
  const offlineFor = context.firstSeenOffline
    ? (context.now.getTime() - context.firstSeenOffline.getTime()) / 1000
    : 0;
  return offlineFor >= context.graceSeconds
    ? { remove: true, why: `offline for ${Math.round(offlineFor)} s with no launch recorded for it` }
    : { remove: false, why: 'offline, but may still be booting' };
};

export interface OrphanOptions {
  readonly scopes: readonly RunnerScope[];
  readonly callsLeft: () => number;
  readonly now: Date;
  /** @default 900 */
  readonly graceSeconds?: number;
  /** @default 20 */
  readonly maxRemovals?: number;
}

export const removeOrphanRunners = async (
  api: Pick<GithubRecoveryApi, 'runners' | 'removeRunner'>,
  ledger: Pick<LedgerReads, 'launchOf'>,
  store: RecoveryStore,
  logger: Pick<Logger, 'info' | 'warn'>,
  options: OrphanOptions,
): Promise<{ removed: number; stopped: boolean }> => {
  const graceSeconds = options.graceSeconds ?? 900;
  const maxRemovals = options.maxRemovals ?? 20;
  const { value: sightings = {}, version } = await store.load<Record<string, string>>('offline-runners');
  const stillOffline: Record<string, string> = {};
  let removed = 0;
  let stopped = false;
  try {
    for (const scope of options.scopes) {
      for (let page = 1; ; page++) {
        if (options.callsLeft() <= 0 || removed >= maxRemovals) throw new StopSweep();
        const { runners, more } = await api.runners(scope, page, 100);
        for (const runner of runners) {
          const match = RUNNER_NAME.exec(runner.name);
          if (!match || runner.status !== 'offline' || runner.busy) continue;
          const sightingKey = `${scope.kind === 'org' ? scope.org : scope.repository}/${runner.id}`;
          const firstSeen = sightings[sightingKey] ?? options.now.toISOString();
          const row = await ledger.launchOf(jobKey(Number(match[1]), Number(match[2])));
          const verdict = judgeOfflineRunner(runner, row, {
            now: options.now,
            firstSeenOffline: new Date(firstSeen),
            graceSeconds,
          });
          if (!verdict.remove) {
            stillOffline[sightingKey] = firstSeen;
            continue;
          }
          if (options.callsLeft() <= 0 || removed >= maxRemovals) {
            stillOffline[sightingKey] = firstSeen;
            throw new StopSweep();
          }
          await api.removeRunner(scope, runner.id);
          removed += 1;
          logger.info('removed an orphaned runner registration', {
            runnerId: runner.id,
            runnerName: runner.name,
            why: verdict.why,
          });
        }
        if (!more) break;
      }
    }
  } catch (error) {
    if (!(error instanceof StopSweep) && !isGithubStop(error)) throw error;
    stopped = true;
    // Sightings of the runners not reached this run stay as they were.
    for (const [key, at] of Object.entries(sightings)) stillOffline[key] ??= at;
  }
  await store.save('offline-runners', stillOffline, version);
  return { removed, stopped };
};

class StopSweep extends Error {}
