import { randomBytes, randomUUID } from 'node:crypto';
import { TwinAwsError, escapeXml, type TwinAwsService } from './aws-endpoint.ts';
import type { TwinClock } from './clock.ts';

/**
 * EC2 over a fixed fleet of pre-created instances (the control plane starts and stops a warm pool;
 * it never launches). Answers the EC2 query protocol with the XML shapes the SDK parses, and walks
 * instances through AWS's transitional states on the twin clock.
 */
const states = ['pending', 'running', 'shutting-down', 'terminated', 'stopping', 'stopped'] as const;
export type Ec2State = (typeof states)[number];
/** AWS's state codes are 16 apart in this order (the high byte is reserved). */
const stateCode = (state: Ec2State) => states.indexOf(state) * 16;

export interface Ec2InstanceSeed {
  readonly instanceId?: string;
  readonly pool: string;
  readonly az: string;
  readonly instanceType: string;
  readonly state?: 'stopped' | 'running';
  readonly tags?: Record<string, string>;
  readonly spot?: boolean;
  /** The owning account; defaults to the twin's home account. */
  readonly account?: string;
}

export interface Ec2InstanceView {
  readonly instanceId: string;
  readonly state: Ec2State;
  readonly pool: string;
  readonly az: string;
  readonly instanceType: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly launchTime: Date;
  readonly jobId?: string;
  readonly account: string;
}

export type Ec2StateListener = (view: Ec2InstanceView, previousState: Ec2State) => void;

export interface Ec2Twin extends TwinAwsService {
  list(): Ec2InstanceView[];
  /** The machine powers itself off (`shutdown -h now`): with stop behaviour, it stops. */
  shutdown(instanceId: string): void;
  accountOfInstance(instanceId: string): string | undefined;
  setJobId(instanceId: string, jobId: string | undefined): void;
  onStateChange(listener: Ec2StateListener): void;
  close(): void;
}

export interface Ec2TwinOptions {
  readonly clock: TwinClock;
  readonly region: string;
  readonly instances: readonly Ec2InstanceSeed[];
  /**
   * The RUNNER_PARAMETER_PREFIX of the stack the instances were set up for: every seeded instance is
   * tagged `ghes-cp:parameter-prefix=<it>`, as an operator tags them at deploy (a seed's own `tags`
   * win, e.g. another stage's instance). Absent: instances without the tag.
   */
  readonly parameterPrefix?: string;
  /** Simulated pending → running time; AWS typically takes 15–40 s. */
  readonly bootMs?: number;
  /** Simulated stopping → stopped time. */
  readonly stopMs?: number;
  /** The account instances belong to unless seeded otherwise. @default '111122223333' */
  readonly homeAccount?: string;
  /** The account a caller's access key acts in (STS sessions); callers see only its instances. */
  readonly accountOf?: (caller: string) => string;
}

type Instance = { -readonly [K in keyof Ec2InstanceView]: Ec2InstanceView[K] } & {
  readonly reservationId: string;
  readonly spot: boolean;
  cancelTransition?: () => void;
};

/** How StartInstances and StopInstances treat each state; states in neither list are answered unchanged. */
interface StateChange {
  readonly verb: string;
  /** Any of these fails the whole call, as AWS validates every id before changing one. */
  readonly refused: readonly Ec2State[];
  readonly from: readonly Ec2State[];
  readonly via: Ec2State;
  readonly to: Ec2State;
}

const changes: Record<'StartInstances' | 'StopInstances', StateChange> = {
  StartInstances: {
    verb: 'started',
    refused: ['stopping', 'shutting-down', 'terminated'],
    from: ['stopped'],
    via: 'pending',
    to: 'running',
  },
  StopInstances: {
    verb: 'stopped',
    refused: ['shutting-down', 'terminated'],
    from: ['running', 'pending'],
    via: 'stopping',
    to: 'stopped',
  },
};

const hexId = (prefix: string) => `${prefix}-0${randomBytes(8).toString('hex')}`;
const xmlns = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** Collects `Prefix.N` (or `Prefix.N.Suffix`) form fields in index order, as the query protocol numbers lists. */
const listField = (input: Record<string, unknown>, prefix: string, suffix = ''): string[] => {
  const pattern = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)${suffix.replace(/\./g, '\\.')}$`);
  return Object.entries(input)
    .map(([key, value]) => [pattern.exec(key)?.[1], String(value)] as const)
    .filter((entry): entry is readonly [string, string] => entry[0] !== undefined)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, value]) => value);
};

/** EC2 filter values accept `*` and `?` wildcards. */
const matchesValue = (pattern: string, actual: string | undefined) =>
  actual !== undefined &&
  new RegExp(
    `^${pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`))}$`,
  ).test(actual);

const filterValuesOf = (instance: Instance, name: string): (string | undefined)[] => {
  if (name.startsWith('tag:')) return [instance.tags[name.slice(4)]];
  if (name === 'tag-key') return Object.keys(instance.tags);
  if (name === 'instance-state-name') return [instance.state];
  if (name === 'availability-zone') return [instance.az];
  if (name === 'instance-type') return [instance.instanceType];
  if (name === 'instance-id') return [instance.instanceId];
  throw new TwinAwsError('InvalidParameterValue', `The filter '${name}' is invalid`);
};

const stateXml = (tag: string, state: Ec2State) =>
  `<${tag}><code>${stateCode(state)}</code><name>${state}</name></${tag}>`;

const xmlItems = <T>(list: readonly T[], render: (item: T) => string) => list.map(render).join('');

const instanceXml = (instance: Instance) =>
  `<item><instanceId>${instance.instanceId}</instanceId>${stateXml('instanceState', instance.state)}` +
  `<instanceType>${escapeXml(instance.instanceType)}</instanceType>` +
  `<launchTime>${instance.launchTime.toISOString()}</launchTime>` +
  `<placement><availabilityZone>${escapeXml(instance.az)}</availabilityZone><tenancy>default</tenancy></placement>` +
  (instance.spot ? '<instanceLifecycle>spot</instanceLifecycle>' : '') +
  `<tagSet>${xmlItems(
    Object.entries(instance.tags),
    ([key, value]) => `<item><key>${escapeXml(key)}</key><value>${escapeXml(value)}</value></item>`,
  )}</tagSet></item>`;

const response = (operation: string, body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<${operation}Response xmlns="${xmlns}"><requestId>${randomUUID()}</requestId>${body}</${operation}Response>`;

export const createEc2Twin = (options: Ec2TwinOptions): Ec2Twin => {
  const { clock } = options;
  const bootMs = options.bootMs ?? 20_000;
  const stopMs = options.stopMs ?? 10_000;
  const listeners: Ec2StateListener[] = [];
  const instances = new Map<string, Instance>();
  const homeAccount = options.homeAccount ?? '111122223333';
  const accountOf = options.accountOf ?? (() => homeAccount);
  for (const seed of options.instances) {
    const instanceId = seed.instanceId ?? hexId('i');
    // A zone outside the region would be a config error that real AWS could never answer with.
    if (!seed.az.startsWith(options.region)) throw new Error(`${seed.az} is not in ${options.region}`);
    if (instances.has(instanceId)) throw new Error(`duplicate seeded instance ${instanceId}`);
    instances.set(instanceId, {
      instanceId,
      reservationId: hexId('r'),
      pool: seed.pool,
      az: seed.az,
      instanceType: seed.instanceType,
      tags: {
        ...(options.parameterPrefix ? { 'ghes-cp:parameter-prefix': options.parameterPrefix } : {}),
        ...seed.tags,
        'ghes-cp:pool': seed.pool,
      },
      spot: seed.spot ?? false,
      state: seed.state ?? 'stopped',
      launchTime: clock.now(),
      account: seed.account ?? homeAccount,
    });
  }

  const view = (instance: Instance): Ec2InstanceView => {
    const { reservationId: _r, spot: _s, cancelTransition: _c, ...shown } = instance;
    return { ...shown, tags: { ...shown.tags } };
  };

  const transition = (instance: Instance, next: Ec2State, thenAfterMs?: number, then?: Ec2State) => {
    instance.cancelTransition?.();
    instance.cancelTransition = undefined;
    const previous = instance.state;
    instance.state = next;
    // Scheduled before listeners run, so a listener that changes the instance again cancels it.
    if (thenAfterMs !== undefined && then !== undefined) {
      instance.cancelTransition = clock.after(thenAfterMs, () => {
        instance.cancelTransition = undefined;
        transition(instance, then);
      });
    }
    const shown = view(instance);
    for (const listener of listeners) listener(shown, previous);
  };

  /** Resolves every id first, so one bad id fails the whole call before any instance changes. */
  const resolveIds = (ids: readonly string[], account: string): Instance[] => {
    // Another account's instance does not exist for this caller.
    const missing = ids.filter((id) => instances.get(id)?.account !== account);
    if (missing.length) {
      const [which, verb] = missing.length === 1 ? ['ID', 'does'] : ['IDs', 'do'];
      throw new TwinAwsError(
        'InvalidInstanceID.NotFound',
        `The instance ${which} '${missing.join(', ')}' ${verb} not exist`,
      );
    }
    return ids.map((id) => instances.get(id)!);
  };

  const requireIds = (input: Record<string, unknown>, account: string): Instance[] => {
    const ids = listField(input, 'InstanceId');
    if (ids.length === 0) {
      throw new TwinAwsError('MissingParameter', 'The request must contain the parameter InstanceId');
    }
    return resolveIds(ids, account);
  };

  const selectFiltered = (input: Record<string, unknown>, account: string): Instance[] => {
    const ids = listField(input, 'InstanceId');
    const selected = ids.length
      ? resolveIds(ids, account)
      : [...instances.values()].filter((instance) => instance.account === account);
    const filters = listField(input, 'Filter', '.Name').map((name, index) => ({
      name,
      values: listField(input, `Filter.${index + 1}.Value`),
    }));
    return selected.filter((instance) =>
      filters.every(({ name, values }) => {
        const actual = filterValuesOf(instance, name);
        return values.some((pattern) => actual.some((value) => matchesValue(pattern, value)));
      }),
    );
  };

  const changeStates = (
    input: Record<string, unknown>,
    account: string,
    change: StateChange,
    delayMs: number,
  ) => {
    const targets = requireIds(input, account);
    const blocked = targets.find(({ state }) => change.refused.includes(state));
    if (blocked) {
      throw new TwinAwsError(
        'IncorrectInstanceState',
        `The instance '${blocked.instanceId}' is not in a state from which it can be ${change.verb}.`,
      );
    }
    const previous = targets.map(({ state }) => state);
    for (const instance of targets.filter(({ state }) => change.from.includes(state))) {
      if (change.via === 'pending') instance.launchTime = clock.now();
      transition(instance, change.via, delayMs, change.to);
    }
    const item = (instance: Instance, index: number) =>
      `<item><instanceId>${instance.instanceId}</instanceId>${stateXml('currentState', instance.state)}` +
      `${stateXml('previousState', previous[index]!)}</item>`;
    return `<instancesSet>${targets.map(item).join('')}</instancesSet>`;
  };

  const describeInstanceStatus = (input: Record<string, unknown>, account: string) => {
    const includeAll = String(input.IncludeAllInstances ?? 'false') === 'true';
    const shown = selectFiltered(input, account).filter(({ state }) => includeAll || state === 'running');
    const status = (instance: Instance) =>
      `<status>${instance.state === 'running' ? 'ok' : 'not-applicable'}</status>`;
    const item = (instance: Instance) =>
      `<item><instanceId>${instance.instanceId}</instanceId><availabilityZone>${escapeXml(instance.az)}</availabilityZone>` +
      `${stateXml('instanceState', instance.state)}<systemStatus>${status(instance)}</systemStatus>` +
      `<instanceStatus>${status(instance)}</instanceStatus></item>`;
    return `<instanceStatusSet>${xmlItems(shown, item)}</instanceStatusSet>`;
  };

  const common = { RequestLimitExceeded: 503, 'InvalidInstanceID.NotFound': 400, UnauthorizedOperation: 403 };
  return {
    id: 'ec2',
    signingName: 'ec2',
    protocol: 'ec2-query',
    operations: {
      DescribeInstances: common,
      DescribeInstanceStatus: common,
      StartInstances: {
        ...common,
        // AWS answers capacity shortages with a server error, so SDKs retry them.
        InsufficientInstanceCapacity: 500,
        IncorrectInstanceState: 400,
        InstanceLimitExceeded: 400,
        Unsupported: 400,
      },
      StopInstances: { ...common, IncorrectInstanceState: 400 },
    },
    async handle({ operation, input, caller }) {
      // Internal callers (the runner simulation) act as the home account unless they say otherwise.
      const account = caller ? accountOf(caller) : homeAccount;
      switch (operation) {
        case 'DescribeInstances': {
          const reservation = (instance: Instance) =>
            `<item><reservationId>${instance.reservationId}</reservationId><ownerId>${instance.account}</ownerId><groupSet/>` +
            `<instancesSet>${instanceXml(instance)}</instancesSet></item>`;
          return response(
            operation,
            `<reservationSet>${xmlItems(selectFiltered(input, account), reservation)}</reservationSet>`,
          );
        }
        case 'DescribeInstanceStatus':
          return response(operation, describeInstanceStatus(input, account));
        case 'StartInstances':
        case 'StopInstances':
          return response(
            operation,
            changeStates(
              input,
              account,
              changes[operation],
              operation === 'StartInstances' ? bootMs : stopMs,
            ),
          );
        default:
          throw new Error(`the EC2 twin lists ${operation} but does not handle it`);
      }
    },
    list: () => [...instances.values()].map(view),
    accountOfInstance: (instanceId) => instances.get(instanceId)?.account,
    shutdown(instanceId) {
      const instance = instances.get(instanceId);
      if (instance && ['running', 'pending'].includes(instance.state))
        transition(instance, 'stopping', stopMs, 'stopped');
    },
    setJobId(instanceId, jobId) {
      const instance = instances.get(instanceId);
      if (!instance) throw new Error(`no twin instance ${instanceId}`);
      if (jobId === undefined) delete instance.jobId;
      else instance.jobId = jobId;
    },
    onStateChange(listener) {
      listeners.push(listener);
    },
    close() {
      for (const instance of instances.values()) instance.cancelTransition?.();
      listeners.length = 0;
    },
  };
};
