/**
 * What a failover's Slack message shows, as data: each step's status and timings, the pending
 * approval, the outcome. The tasks change it through these pure functions; the store keeps it in the
 * operations table (`message#<execution>`) and the renderer turns it into Slack blocks.
 */
export const FAILOVER_STEPS = [
  { id: 'lock', label: 'Lock' },
  { id: 'preflight', label: 'Preflight' },
  { id: 'approval', label: 'Approval' },
  { id: 'maintenance', label: 'Maintenance mode on the primary' },
  { id: 'drain', label: 'Active connections drained' },
  { id: 'settle', label: 'Settle 30 s' },
  { id: 'replication', label: 'Replication in sync' },
  { id: 'promote', label: 'Promote the replica' },
  { id: 'dns', label: 'DNS switched to the replica' },
  { id: 'verify', label: 'New primary answers /status' },
  { id: 'topology', label: 'Topology recorded' },
  { id: 'unlock', label: 'Lock released' },
] as const;

export type StepId = (typeof FAILOVER_STEPS)[number]['id'];
/** A dry run shows only these. */
export const DRY_RUN_STEPS: readonly StepId[] = ['lock', 'preflight', 'unlock'];

export type StepStatus = 'running' | 'succeeded' | 'failed' | 'skipped';

export interface StepRecord {
  readonly status: StepStatus;
  readonly startedAt: string;
  readonly endedAt?: string;
  /** One line: `primary unreachable (connect ECONNREFUSED)`, `exit 1`, `3 connections left`. */
  readonly detail?: string;
}

/**
 * - `succeeded`: the replica is primary, DNS points at it, it answers 200.
 * - `dry-run`: preflight only, nothing changed.
 * - `aborted`: stopped on purpose (Abort clicked, approval timed out, a check refused): nothing changed.
 * - `failed`: an error before promote succeeded: DNS untouched, maintenance undone.
 * - `needs-operator`: the appliances or DNS are in a state a person must finish; `nextSteps` says how.
 */
export type OutcomeKind = 'succeeded' | 'dry-run' | 'aborted' | 'failed' | 'needs-operator';

export interface Outcome {
  readonly kind: OutcomeKind;
  readonly summary: string;
  readonly nextSteps: readonly string[];
}

export interface ProgressRecord {
  readonly execution: string;
  readonly channel: string;
  /** The message's ts once posted; null while Slack has not taken it. */
  readonly ts: string | null;
  readonly requestedBy: string;
  readonly dryRun: boolean;
  readonly startedAt: string;
  /** Appliance names, known after preflight. */
  readonly from: string | null;
  readonly to: string | null;
  readonly steps: Readonly<Partial<Record<StepId, StepRecord>>>;
  /** Shown as Approve/Abort buttons while the approval step runs. Not the task token. */
  readonly approvalId: string | null;
  /** When the approval times out (and the failover is aborted). */
  readonly approvalExpiresAt: string | null;
  readonly outcome: Outcome | null;
}

export const newProgress = (p: {
  execution: string;
  channel: string;
  requestedBy: string;
  dryRun: boolean;
  now: Date;
}): ProgressRecord => ({
  execution: p.execution,
  channel: p.channel,
  ts: null,
  requestedBy: p.requestedBy,
  dryRun: p.dryRun,
  startedAt: p.now.toISOString(),
  from: null,
  to: null,
  steps: {},
  approvalId: null,
  approvalExpiresAt: null,
  outcome: null,
});

/**
 * A step starts (`running`; a repeated start — each poll of a wait loop — keeps the first start time
 * and updates the detail) or ends (keeps its start time, or starts and ends at once when it never
 * ran, as a skipped step does). An ended step changed again (the undo of maintenance mode adds a
 * detail) keeps both times.
 */
export const withStep = (
  record: ProgressRecord,
  id: StepId,
  status: StepStatus,
  now: Date,
  detail?: string,
): ProgressRecord => {
  const previous = record.steps[id];
  const at = now.toISOString();
  const restarted = !previous || (status === 'running' && previous.status !== 'running');
  const startedAt = restarted ? at : previous.startedAt;
  // An ended step told something more (a detail) keeps its end time.
  const endedAt = previous?.endedAt && !restarted ? previous.endedAt : at;
  const step: StepRecord = {
    status,
    startedAt,
    ...(status === 'running' ? {} : { endedAt }),
    ...(detail !== undefined
      ? { detail }
      : previous?.detail !== undefined
        ? { detail: previous.detail }
        : {}),
  };
  return { ...record, steps: { ...record.steps, [id]: step } };
};

/** The steps still running, e.g. the one a caught error interrupted. */
export const runningSteps = (record: ProgressRecord): StepId[] =>
  FAILOVER_STEPS.map((s) => s.id).filter((id) => record.steps[id]?.status === 'running');

export const stepSeconds = (step: StepRecord, now: Date): number =>
  ((step.endedAt ? Date.parse(step.endedAt) : now.getTime()) - Date.parse(step.startedAt)) / 1000;

export const labelOf = (id: StepId): string => FAILOVER_STEPS.find((s) => s.id === id)!.label;
