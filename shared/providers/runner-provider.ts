import type { RunnerCredentials } from '../github/github-app.ts';

/** One small interface for every way of starting a runner (runners' compute-provider pattern). */
export interface LaunchRequest {
  /** `<job id>#<run attempt>`: the idempotency key of everything launched for the job. */
  readonly jobKey: string;
  readonly credentials: RunnerCredentials;
  /**
   * A runner that has had no job for this long exits and its machine stops (the job it was
   * launched for may have gone to another runner). From the pool's `idleMinutes`.
   */
  readonly idleMinutes: number;
}

/** What a runner reads at boot: its credentials and how long it may wait for a job. */
export const bootConfigOf = (request: LaunchRequest) => ({
  ...request.credentials,
  idleMinutes: request.idleMinutes,
});

export interface CodeBuildTarget {
  readonly project: string;
  readonly computeType?: string;
  readonly image?: string;
  readonly environmentType?: string;
}

export interface Ec2WakeTarget {
  readonly tagKey: string;
  readonly tagValue: string;
}

export interface RunnerProvider<Target> {
  launch(request: LaunchRequest, target: Target): Promise<{ resourceId: string }>;
  /** Whether a machine started earlier is still up (booting or running), so its runner may still come. */
  isAlive(resourceId: string): Promise<boolean>;
}

/** The provider had no capacity for this job; the dispatcher tries the pool's fallback. */
export class NoCapacityError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NoCapacityError';
  }
}

/** SSM parameter names allow `[a-zA-Z0-9_.-/]`: the job key's `#` becomes `-`. */
export const parameterSafe = (text: string): string => text.replace(/[^a-zA-Z0-9_.\-/]/g, '-');
