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
  /** A reserved-capacity fleet (`fleet:` label, as the pool allows). */
  readonly fleetArn?: string;
  /** Run the project's own install/pre_build/post_build phases around the runner (`buildspec-override:true`). */
  readonly projectBuildspec?: boolean;
}

export interface Ec2WakeTarget {
  readonly tagKey: string;
  readonly tagValue: string;
}

export interface Launched {
  readonly resourceId: string;
  /** Candidates tried first and why each was passed over (`i-0ab… (eu-west-1a/m7i.large): InsufficientInstanceCapacity`). */
  readonly passedOver?: readonly string[];
  /**
   * The Parameter Store name of the launch's credentials when it cannot be derived from the
   * resource (CodeBuild's is random): kept in the ledger so a launch that dies before its first
   * step (which deletes it) has it deleted by the reconciler.
   */
  readonly credentialsParameter?: string;
}

export interface RunnerProvider<Target> {
  launch(request: LaunchRequest, target: Target): Promise<Launched>;
  /** Whether a machine started earlier is still up (booting or running), so its runner may still come. */
  isAlive(resourceId: string): Promise<boolean>;
  /**
   * A resource an earlier attempt for this job started and never recorded (the dispatcher died right
   * after launching); asked only on a redelivery, so a retry takes it over instead of starting another.
   */
  adopt?(jobKey: string, target: Target): Promise<{ resourceId: string } | undefined>;
}

/** The provider had no capacity for this job; the dispatcher tries the pool's fallback. */
export class NoCapacityError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NoCapacityError';
  }
}

/** The pool cannot launch as configured (say, a project without the buildspec its labels ask for). */
export class MisconfiguredPoolError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MisconfiguredPoolError';
  }
}

/**
 * AWS refused the call for lack of permission (IAM, an SCP, a missing tag on the resource): retrying
 * cannot help until an operator acts. EC2 says `UnauthorizedOperation`; JSON services say
 * `AccessDeniedException`; STS (a pool's role) says `AccessDenied`.
 */
const PERMISSION_ERRORS: ReadonlySet<string> = new Set([
  'UnauthorizedOperation',
  'AccessDeniedException',
  'AccessDenied',
]);
export const isPermissionDenied = (error: unknown): boolean =>
  error instanceof Error && PERMISSION_ERRORS.has(error.name);

/** Neither retrying nor waiting helps: an operator must change IAM, tags or the pool's project. */
export const needsOperator = (error: unknown): boolean =>
  isPermissionDenied(error) || error instanceof MisconfiguredPoolError;
