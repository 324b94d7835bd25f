/**
 * Fault injection for the twin's AWS services: `POST /sandbox/faults` arms one, the twin's AWS
 * endpoint consults it before every call. Targets outside AWS (the twin's GitHub, the Lambda host)
 * are added with `define`, each with its own errors and the extra fields that narrow it. A fault
 * the twin does not understand is refused with the reason (a silently ignored fault hides bugs).
 */
export interface FaultSpec {
  /** `service:Operation` with the SDK's lowercase service id, e.g. `ec2:StartInstances`. */
  readonly target: string;
  /** An AWS error code the service really answers with, e.g. `InsufficientInstanceCapacity`. */
  readonly error: string;
  readonly message?: string;
  /**
   * Fail the next N calls. With none of count, probability and ratePerSecond, every matching call
   * fails until the faults are cleared (an appliance that stays down, a command that keeps failing).
   */
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
}

/** A fault target outside AWS: its own errors only (AWS's common errors do not apply). */
export interface FaultTargetDefinition {
  /** Error name → the HTTP status it stands for (0: no HTTP answer at all). */
  readonly errors: Readonly<Record<string, number>>;
  /** The error armed when the spec names none. */
  readonly defaultError?: string;
  /**
   * Extra spec fields that narrow which calls fail, with the values they may take: a fault with
   * `"action":"queued"` only fires on calls made with that action.
   */
  readonly filters?: Readonly<Record<string, readonly string[]>>;
  /** Extra spec fields that shape the failure, each a whole number ≥ 1 (e.g. `retryAfter`). */
  readonly settings?: readonly string[];
}

export interface ArmedFault extends FaultSpec {
  /** Filter and setting fields of a defined target, as armed. */
  readonly extra?: Readonly<Record<string, string | number>>;
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
  /** The fault's settings (see FaultTargetDefinition.settings). */
  readonly settings: Readonly<Record<string, number>>;
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
}

export class FaultInjector {
  #faults: ArmedFault[] = [];
  #nextId = 1;
  #windows = new Map<number, { second: number; used: number }>();
  #defined = new Map<string, FaultTargetDefinition>();

  constructor(
    private readonly catalog: () => FaultCatalog,
    private readonly random: () => number = Math.random,
  ) {}

  /** Adds (or replaces) a target outside AWS, e.g. `github:DeliverWebhook` or `lambda:<name>`. */
  define(target: string, definition: FaultTargetDefinition): void {
    this.#defined.set(target, definition);
  }

  #targets(): Map<string, Readonly<Record<string, number>>> {
    const targets = new Map(this.catalog().targets);
    for (const [target, definition] of this.#defined) targets.set(target, definition.errors);
    return targets;
  }

  #errorsOf(target: string): Record<string, number> {
    const defined = this.#defined.get(target);
    return defined ? { ...defined.errors } : { ...commonErrors, ...this.catalog().targets.get(target) };
  }

  arm(body: unknown): ArmedFault {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new FaultSpecError(
        'body must be a JSON object {"target","error",("count"|"probability"|"ratePerSecond")?}',
      );
    }
    const spec = body as Record<string, unknown>;
    const known = [
      ...['target', 'error', 'message', 'count', 'probability', 'ratePerSecond', 'after'],
      'afterEffect',
    ];
    const { target } = spec;
    if (typeof target !== 'string') throw new FaultSpecError('target: expected "service:Operation"');
    const targets = this.#targets();
    if (!targets.has(target)) {
      const names = [...targets.keys()].sort();
      throw new FaultSpecError(`target: "${target}" is not a twin operation; known: ${names.join(', ')}`);
    }
    const definition = this.#defined.get(target);
    const filters = definition?.filters ?? {};
    const settings = definition?.settings ?? [];
    const unknownKeys = Object.keys(spec).filter(
      (key) => !known.includes(key) && !Object.hasOwn(filters, key) && !settings.includes(key),
    );
    if (unknownKeys.length) throw new FaultSpecError(`unknown field(s): ${unknownKeys.join(', ')}`);
    const extra: Record<string, string | number> = {};
    for (const [field, values] of Object.entries(filters)) {
      const value = spec[field];
      if (value === undefined) continue;
      if (typeof value !== 'string' || !values.includes(value))
        throw new FaultSpecError(`${field}: expected one of ${values.map((v) => `"${v}"`).join(', ')}`);
      extra[field] = value;
    }
    for (const field of settings) {
      const value = spec[field];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
        throw new FaultSpecError(`${field}: expected a whole number ≥ 1`);
      extra[field] = value;
    }
    const error = spec.error ?? definition?.defaultError;
    const allowed = this.#errorsOf(target);
    if (typeof error !== 'string' || !(error in allowed)) {
      throw new FaultSpecError(
        `error: "${String(error)}" is not an error ${target} answers with; known: ${Object.keys(allowed).sort().join(', ')}`,
      );
    }
    const modes = (['count', 'probability', 'ratePerSecond'] as const).filter(
      (key) => spec[key] !== undefined,
    );
    if (modes.length > 1) throw new FaultSpecError('give at most one of count, probability, ratePerSecond');
    const mode = modes[0];
    const value = mode === undefined ? undefined : spec[mode];
    const valid =
      mode === undefined ||
      (typeof value === 'number' &&
        (mode === 'probability'
          ? value > 0 && value <= 1
          : Number.isInteger(value) && value >= (mode === 'count' ? 1 : 0)));
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
      ...(mode === undefined ? {} : { [mode]: value }),
      ...(mode === 'count' ? { remaining: value as number } : {}),
      ...(typeof spec.after === 'number' ? { after: spec.after, skipped: 0 } : {}),
      ...(spec.afterEffect === true ? { afterEffect: true } : {}),
      ...(Object.keys(extra).length ? { extra } : {}),
      injected: 0,
    };
    this.#faults.push(fault);
    return fault;
  }

  /**
   * The error to answer this call with, if an armed fault says so. `call` says what the call is
   * about (e.g. `{ action: 'queued' }`): a fault with a filter only fires on calls that match it.
   */
  take(target: string, call: Readonly<Record<string, string>> = {}): InjectedError | undefined {
    const filters = Object.keys(this.#defined.get(target)?.filters ?? {});
    for (const fault of this.#faults) {
      if (fault.target !== target) continue;
      if (filters.some((field) => fault.extra?.[field] !== undefined && fault.extra[field] !== call[field]))
        continue;
      if (fault.after !== undefined && fault.skipped! < fault.after) {
        fault.skipped!++;
        continue;
      }
      if (!this.#fires(fault)) continue;
      fault.injected++;
      if (fault.remaining !== undefined && --fault.remaining <= 0) {
        this.#faults = this.#faults.filter((f) => f !== fault);
      }
      const errors = this.#errorsOf(target);
      const settings = Object.fromEntries(
        Object.entries(fault.extra ?? {}).filter(
          (entry): entry is [string, number] => typeof entry[1] === 'number',
        ),
      );
      return {
        code: fault.error,
        message: fault.message ?? `${fault.error} (injected by the sandbox)`,
        httpStatus: errors[fault.error] ?? 400,
        afterEffect: fault.afterEffect === true,
        settings,
      };
    }
    return undefined;
  }

  #fires(fault: ArmedFault): boolean {
    if (fault.remaining !== undefined) return fault.remaining > 0;
    if (fault.probability !== undefined) return this.random() < fault.probability;
    if (fault.ratePerSecond === undefined) return true; // held until cleared
    const second = Math.floor(Date.now() / 1000);
    const window = this.#windows.get(fault.id);
    if (!window || window.second !== second) {
      this.#windows.set(fault.id, { second, used: 1 });
      return fault.ratePerSecond < 1;
    }
    window.used++;
    return window.used > fault.ratePerSecond;
  }

  clear(): void {
    this.#faults = [];
    this.#windows.clear();
  }

  list(): readonly ArmedFault[] {
    return this.#faults.map((fault) => ({ ...fault }));
  }
}
