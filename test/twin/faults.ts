/**
 * Fault injection for the twin's AWS services: `POST /sandbox/faults` arms one, the twin's AWS
 * endpoint consults it before every call. A fault the twin does not understand is refused with
 * the reason (a silently ignored fault hides bugs).
 */
export interface FaultSpec {
  /** `service:Operation` with the SDK's lowercase service id, e.g. `ec2:StartInstances`. */
  readonly target: string;
  /** An AWS error code the service really answers with, e.g. `InsufficientInstanceCapacity`. */
  readonly error: string;
  readonly message?: string;
  /** Fail the next N calls. */
  readonly count?: number;
  /** Fail each call with this probability (0–1]. */
  readonly probability?: number;
  /** Let through at most this many calls a second and fail the rest (throttling). */
  readonly ratePerSecond?: number;
  /** Let this many matching calls succeed before the fault starts (to fail a later step). */
  readonly after?: number;
  /**
   * The call takes effect and only its answer is the error: a commit whose response was lost
   * (a connection reset, a 500 after the write). Retries then meet their own earlier write.
   */
  readonly afterEffect?: boolean;
  /**
   * For a named command a twin host runs (`ssm:<command>`, e.g. `ssm:os-update`): the command exits
   * with this code instead of an AWS error.
   */
  readonly exitCode?: number;
}

export interface ArmedFault extends FaultSpec {
  readonly id: number;
  remaining?: number;
  skipped?: number;
  injected: number;
}

export interface InjectedError {
  readonly code: string;
  readonly message: string;
  readonly httpStatus: number;
  readonly afterEffect: boolean;
  readonly exitCode?: number;
}

export class FaultSpecError extends Error {
  override name = 'FaultSpecError';
}

/** AWS error codes every service may answer with (AWS's "Common Errors"; EC2 says UnauthorizedOperation). */
const commonErrors: Record<string, number> = {
  AccessDeniedException: 400,
  InternalFailure: 500,
  InternalServerError: 500,
  ServiceUnavailable: 503,
  ThrottlingException: 400,
};

export interface FaultCatalog {
  /** `service:Operation` → error codes (with HTTP status) that operation can fail with. */
  readonly targets: ReadonlyMap<string, Readonly<Record<string, number>>>;
  /** Named commands the twin's hosts run (`ssm:<command>`), which fail with an `exitCode`. */
  readonly commands?: ReadonlySet<string>;
}

export class FaultInjector {
  #faults: ArmedFault[] = [];
  #nextId = 1;
  #windows = new Map<number, { second: number; used: number }>();

  constructor(
    private readonly catalog: () => FaultCatalog,
    private readonly random: () => number = Math.random,
  ) {}

  arm(body: unknown): ArmedFault {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new FaultSpecError(
        'body must be a JSON object {"target","error",("count"|"probability"|"ratePerSecond")}',
      );
    }
    const spec = body as Record<string, unknown>;
    const known = [
      ...['target', 'error', 'message', 'count', 'probability', 'ratePerSecond', 'after'],
      'afterEffect',
      'exitCode',
    ];
    const unknownKeys = Object.keys(spec).filter((key) => !known.includes(key));
    if (unknownKeys.length) throw new FaultSpecError(`unknown field(s): ${unknownKeys.join(', ')}`);
    const { target, error } = spec;
    if (typeof target !== 'string') throw new FaultSpecError('target: expected "service:Operation"');
    if (spec.exitCode !== undefined) return this.#armExitCode(spec);
    const errors = this.catalog().targets.get(target);
    if (!errors) {
      const targets = [...this.catalog().targets.keys()].sort();
      throw new FaultSpecError(`target: "${target}" is not a twin operation; known: ${targets.join(', ')}`);
    }
    const allowed = { ...commonErrors, ...errors };
    if (typeof error !== 'string' || !(error in allowed)) {
      throw new FaultSpecError(
        `error: "${String(error)}" is not an error ${target} answers with; known: ${Object.keys(allowed).sort().join(', ')}`,
      );
    }
    const modes = (['count', 'probability', 'ratePerSecond'] as const).filter(
      (key) => spec[key] !== undefined,
    );
    if (modes.length !== 1) throw new FaultSpecError('give exactly one of count, probability, ratePerSecond');
    const mode = modes[0]!;
    const value = spec[mode];
    const valid =
      typeof value === 'number' &&
      (mode === 'probability'
        ? value > 0 && value <= 1
        : Number.isInteger(value) && value >= (mode === 'count' ? 1 : 0));
    if (!valid) {
      throw new FaultSpecError(
        mode === 'probability'
          ? 'probability: expected a number in (0, 1]'
          : `${mode}: expected a whole number ≥ ${mode === 'count' ? 1 : 0}`,
      );
    }
    if (spec.message !== undefined && typeof spec.message !== 'string')
      throw new FaultSpecError('message: expected a string');
    if (spec.afterEffect !== undefined && typeof spec.afterEffect !== 'boolean')
      throw new FaultSpecError('afterEffect: expected true or false');
    const fault: ArmedFault = {
      id: this.#nextId++,
      target,
      error,
      ...(typeof spec.message === 'string' ? { message: spec.message } : {}),
      [mode]: value,
      ...(mode === 'count' ? { remaining: value as number } : {}),
      ...(typeof spec.after === 'number' ? { after: spec.after, skipped: 0 } : {}),
      ...(spec.afterEffect === true ? { afterEffect: true } : {}),
      injected: 0,
    };
    this.#faults.push(fault);
    return fault;
  }

  #armExitCode(spec: Record<string, unknown>): ArmedFault {
    const commands = [...(this.catalog().commands ?? [])].sort();
    if (!this.catalog().commands?.has(String(spec.target)))
      throw new FaultSpecError(
        `target: "${String(spec.target)}" is not a command a twin host runs; known: ${commands.join(', ')}`,
      );
    if (spec.error !== undefined) throw new FaultSpecError('give exitCode, not error, for a command target');
    const code = spec.exitCode;
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 1 || code > 255)
      throw new FaultSpecError('exitCode: expected a whole number 1–255');
    // Checked as an AWS fault would be (count, probability, …): the catalogue lists each command with
    // the stand-in error CommandFailed.
    const { exitCode: _code, ...rest } = spec;
    const armed = this.arm({ ...rest, error: 'CommandFailed' });
    Object.assign(armed, { exitCode: code });
    const stored = this.#faults.find((f) => f.id === armed.id)!;
    Object.assign(stored, { exitCode: code });
    return armed;
  }

  /** The error to answer this call with, if an armed fault says so. */
  take(target: string): InjectedError | undefined {
    for (const fault of this.#faults) {
      if (fault.target !== target) continue;
      if (fault.after !== undefined && fault.skipped! < fault.after) {
        fault.skipped!++;
        continue;
      }
      if (!this.#fires(fault)) continue;
      fault.injected++;
      if (fault.remaining !== undefined && --fault.remaining <= 0) {
        this.#faults = this.#faults.filter((f) => f !== fault);
      }
      const errors = { ...commonErrors, ...this.catalog().targets.get(target) };
      return {
        code: fault.error,
        message: fault.message ?? `${fault.error} (injected by the sandbox)`,
        httpStatus: errors[fault.error] ?? 400,
        afterEffect: fault.afterEffect === true,
        ...(fault.exitCode !== undefined ? { exitCode: fault.exitCode } : {}),
      };
    }
    return undefined;
  }

  #fires(fault: ArmedFault): boolean {
    if (fault.remaining !== undefined) return fault.remaining > 0;
    if (fault.probability !== undefined) return this.random() < fault.probability;
    const second = Math.floor(Date.now() / 1000);
    const window = this.#windows.get(fault.id);
    if (!window || window.second !== second) {
      this.#windows.set(fault.id, { second, used: 1 });
      return fault.ratePerSecond! < 1;
    }
    window.used++;
    return window.used > fault.ratePerSecond!;
  }

  clear(): void {
    this.#faults = [];
    this.#windows.clear();
  }

  list(): readonly ArmedFault[] {
    return this.#faults.map((fault) => ({ ...fault }));
  }
}
