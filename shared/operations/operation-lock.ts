/**
 * One lock per GHES deployment (`name: 'ghes'`): at most one appliance operation at a time. The lock
 * lives in the operations table (`pk = lock#<name>`); its expiry is part of every write's condition
 * (a DynamoDB TTL deletes late and is no lock expiry). The Slack command takes it before it starts an
 * execution, with the execution's name as owner, so a second request is refused at once naming the
 * holder; the state machine re-takes it as the same owner (extending it) and releases it on every path.
 *
 * Contract only: the DynamoDB implementation lands with the failover state machine.
 */
export interface LockHolder {
  readonly name: string;
  /** The execution name that holds it. */
  readonly owner: string;
  /** `failover`, `failover --dry-run`, later `backup`, `certificate-renewal`, … */
  readonly operation: string;
  /** Slack user ID of who asked. */
  readonly requestedBy: string;
  readonly acquiredAt: string;
  readonly expiresAt: string;
}

export interface AcquireLock {
  readonly name: string;
  readonly owner: string;
  readonly operation: string;
  readonly requestedBy: string;
  readonly ttlSeconds: number;
  readonly now: Date;
}

export type AcquireOutcome =
  { readonly acquired: true } | { readonly acquired: false; readonly holder: LockHolder };

export interface OperationLocks {
  /** Takes the lock when free, expired, or already held by the same owner (then extends it). */
  acquire(request: AcquireLock): Promise<AcquireOutcome>;
  /** Releases it only if `owner` still holds it; false when it did not. */
  release(name: string, owner: string): Promise<boolean>;
  /** The current, unexpired holder, or null. */
  holder(name: string, now: Date): Promise<LockHolder | null>;
}
