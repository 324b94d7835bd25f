import type { Logger } from '@aws-lambda-powertools/logger';
import { isGithubStop } from '../github/call-budget.ts';
import type { GithubRecoveryApi, HookDelivery } from '../github/recovery-api.ts';
import type { RecoveryStore } from './recovery-store.ts';

/**
 * GHES never redelivers a failed webhook by itself. Each run reads the hook's delivery log (newest
 * first) down to where the last run stopped, and asks GitHub once to redeliver every failed
 * `workflow_job` delivery. The redelivery goes through the normal intake, whose dedupe makes a double
 * harmless.
 *
 * The cursor (record `hook-cursor#<source>`):
 * - `watermark`: the newest delivery id read so far. The head scan stops at it.
 * - `backlog`: stretches a run could not finish (budget spent, rate limited): the log's own `next`
 *   cursor to resume from and the floor to stop at. A burst bigger than one run's budget is read over
 *   several runs, oldest stretch first, while each run still gives the head (new failures, the jobs
 *   waiting right now) the first half of its calls: neither the backlog nor new failures starve.
 * - `retry`: deliveries whose redelivery call failed (a 5xx), tried again by the next run.
 * With no cursor yet, the first run looks back `firstLookbackSeconds` only: redelivering a day of
 * old `queued` events on a fresh deployment would launch runners for jobs long gone.
 *
 * Two runs at once: each failed guid is claimed with a conditional put before its redelivery, so
 * only one run redelivers it; the cursor is saved only if no other run saved it meanwhile (the loser
 * re-reads the stretch next time and finds every guid claimed).
 */
export interface DeliveryCursor {
  readonly watermark: number | null;
  readonly backlog: readonly BacklogStretch[];
  readonly retry: readonly { readonly id: number; readonly guid: string }[];
}

export interface BacklogStretch {
  /** The log's cursor of the page to read next (older than everything read before it). */
  readonly cursor: string;
  /** Stop at deliveries with this id or lower… */
  readonly floorId: number | null;
  /** …or delivered before this time (the first run's lookback). */
  readonly floorTime: string | null;
}

export interface RedeliveryOptions {
  /** Names the cursor record: `app`, or `org:<org>:<hookId>` (a new hook starts afresh). */
  readonly sourceKey: string;
  /** Calls this part may still make (the run's budget less what later parts keep). */
  readonly callsLeft: () => number;
  readonly now?: () => Date;
  /** @default 3600 */
  readonly firstLookbackSeconds?: number;
  /** @default 100 (GitHub's maximum) */
  readonly perPage?: number;
  /** More stretches than this and the head stops advancing until the backlog shrinks. @default 10 */
  readonly maxBacklog?: number;
  /** A claimed guid is not redelivered again for this long: longer than GitHub keeps the log (3 days). @default 4 days */
  readonly claimSeconds?: number;
}

export interface RedeliveryReport {
  readonly redelivered: number;
  /** Redelivery calls that failed; retried next run. */
  readonly redeliveryFailures: number;
  /** Stretches of the log still to read. */
  readonly backlog: number;
  /** The GitHub work stopped early (budget or rate limit) or another run moved the cursor first. */
  readonly incomplete: boolean;
}

const MAX_RETRIES = 50;
/** Redeliveries in flight at once: GHES answers each in tens of milliseconds, a run has seconds. */
const REDELIVERIES_AT_ONCE = 5;

const isFailed = (delivery: HookDelivery) => delivery.statusCode < 200 || delivery.statusCode > 299;

class StopScan extends Error {}

export const redeliverFailedDeliveries = async (
  api: Pick<GithubRecoveryApi, 'deliveries' | 'redeliver'>,
  store: RecoveryStore,
  logger: Pick<Logger, 'warn'>,
  options: RedeliveryOptions,
): Promise<RedeliveryReport> => {
  const now = options.now ?? (() => new Date());
  const perPage = options.perPage ?? 100;
  const maxBacklog = options.maxBacklog ?? 10;
  const claimSeconds = options.claimSeconds ?? 4 * 24 * 3600;
  const record = `hook-cursor#${options.sourceKey}`;
  const loaded = await store.load<DeliveryCursor>(record);
  const cursor: DeliveryCursor = loaded.value ?? { watermark: null, backlog: [], retry: [] };
  const retry: { id: number; guid: string }[] = [];
  let redelivered = 0;
  let redeliveryFailures = 0;
  let stopped = false;
  /** Guids seen delivered OK in this run: newest first, so an OK redelivery comes before its failure. */
  const deliveredOk = new Set<string>();

  const redeliver = async (delivery: { id: number; guid: string }) => {
    if (options.callsLeft() <= 0) throw new StopScan();
    if (!(await store.claim(`redelivered#${delivery.guid}`, claimSeconds, now()))) return;
    try {
      await api.redeliver(delivery.id);
      redelivered += 1;
    } catch (error) {
      await store.unclaim(`redelivered#${delivery.guid}`);
      retry.push(delivery);
      if (isGithubStop(error)) throw new StopScan();
      redeliveryFailures += 1;
      logger.warn('could not redeliver a failed webhook; the next run tries again', {
        deliveryId: delivery.id,
        error: error as Error,
      });
    }
  };

  /**
   * A page's deliveries, newest first: the OK ones are noted first (an OK redelivery is newer than
   * the failure it repeats), then the failures are redelivered a few at a time — each is a round trip
   * to GHES, and a run has a deadline — never more at once than the budget has calls left.
   */
  const considerAll = async (deliveries: readonly HookDelivery[]) => {
    const jobs = deliveries.filter((delivery) => delivery.event === 'workflow_job');
    for (const delivery of jobs) if (!isFailed(delivery)) deliveredOk.add(delivery.guid);
    // A failed redelivery is not redelivered again: each failure gets one more chance, not a loop.
    const failed = jobs.filter((d) => isFailed(d) && !d.redelivery && !deliveredOk.has(d.guid));
    for (let i = 0; i < failed.length;) {
      const size = Math.max(1, Math.min(REDELIVERIES_AT_ONCE, options.callsLeft()));
      const results = await Promise.allSettled(failed.slice(i, i + size).map(redeliver));
      i += size;
      const refused = results.find((result) => result.status === 'rejected');
      if (refused) throw refused.reason;
    }
  };

  /**
   * Reads pages from `start` until a delivery at the floor or the log's end. Returns where to resume
   * (the cursor of the page being read when it stopped: its claimed guids are skipped on re-reading),
   * or null when the stretch is done.
   */
  const scan = async (
    start: string | null,
    atFloor: (delivery: HookDelivery) => boolean,
    reserve: number,
    onTop: (id: number) => void,
  ): Promise<{ resume: string | null; done: boolean }> => {
    let page = start;
    for (;;) {
      if (options.callsLeft() <= 0) stopped = true;
      if (stopped || options.callsLeft() <= reserve) return { resume: page, done: false };
      try {
        const { deliveries, next } = await api.deliveries(page, perPage);
        if (deliveries[0]) onTop(deliveries[0].id);
        const floor = deliveries.findIndex(atFloor);
        await considerAll(floor === -1 ? deliveries : deliveries.slice(0, floor));
        if (floor !== -1 || !next) return { resume: null, done: true };
        page = next;
      } catch (error) {
        if (!(error instanceof StopScan) && !isGithubStop(error)) throw error;
        stopped = true;
        return { resume: page, done: false };
      }
    }
  };

  // 1. Redeliveries that failed last time.
  for (const [index, delivery] of cursor.retry.entries()) {
    try {
      await redeliver(delivery);
    } catch (error) {
      if (!(error instanceof StopScan)) throw error;
      stopped = true;
      retry.push(...cursor.retry.slice(index + 1));
      break;
    }
  }

  // 2. The head: what is new since the watermark. Half the calls when a backlog waits too.
  const backlog = [...cursor.backlog];
  const floorId = cursor.watermark;
  const floorTime =
    floorId === null ? new Date(now().getTime() - (options.firstLookbackSeconds ?? 3600) * 1000) : null;
  const atFloor = (id: number | null, time: Date | null) => (delivery: HookDelivery) =>
    (id !== null && delivery.id <= id) || (time !== null && delivery.deliveredAt < time);
  let top: number | null = null;
  const head = await scan(
    null,
    atFloor(floorId, floorTime),
    backlog.length ? Math.floor(options.callsLeft() / 2) : 0,
    (id) => (top ??= id),
  );
  let watermark = cursor.watermark;
  if (head.done) {
    watermark = top ?? watermark;
  } else if (head.resume !== null && backlog.length < maxBacklog) {
    // Read down to `resume`: what lies below it, down to the old watermark, becomes a stretch.
    watermark = top ?? watermark;
    backlog.push({ cursor: head.resume, floorId, floorTime: floorTime?.toISOString() ?? null });
  }

  // 3. The backlog, oldest stretch first, with what is left.
  const remaining: BacklogStretch[] = [];
  for (const stretch of backlog) {
    if (stopped) {
      remaining.push(stretch);
      continue;
    }
    const result = await scan(
      stretch.cursor,
      atFloor(stretch.floorId, stretch.floorTime ? new Date(stretch.floorTime) : null),
      0,
      () => {},
    );
    if (!result.done) remaining.push({ ...stretch, cursor: result.resume ?? stretch.cursor });
  }

  const next: DeliveryCursor = { watermark, backlog: remaining, retry: retry.slice(0, MAX_RETRIES) };
  const saved = await store.save(record, next, loaded.version);
  return {
    redelivered,
    redeliveryFailures,
    backlog: remaining.length,
    incomplete: stopped || !saved || !head.done || remaining.length > 0,
  };
};
