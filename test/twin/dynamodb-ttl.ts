/**
 * DynamoDB Time to Live for the twin (dynalite has none), for tables whose definition in
 * `infra/dynamodb-tables.json` enables `TimeToLiveSpecification`.
 *
 * Simulated time: an item whose TTL attribute is N seconds after the moment it was written is
 * deleted about N × timeScale real seconds later, so the sandbox's 3-day delivery claims go in
 * 3.6 real hours at timeScale 0.05. As on AWS, deletion lags (here by up to one sweep), an expired
 * item not yet deleted is still read and written like any other, an attribute that is not a Number
 * is ignored, and so is an expiry more than five years in the past
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html).
 *
 * The twin learns each item's expiry from the writes that pass through it; a deletion is a
 * conditional delete on the expiry it learnt, so an item rewritten with a later expiry stays.
 */
type Item = Record<string, unknown>;
type Key = Record<string, unknown>;

export interface TtlDeps {
  /** Table name → its TTL attribute, for the tables with TTL enabled. */
  readonly attributes: ReadonlyMap<string, string>;
  readonly timeScale: number;
  /** Real time, in ms. */
  readonly now: () => number;
  /** Real ms between two sweeps. */
  readonly sweepMs: number;
  readonly keyOf: (tableName: string, item: Item) => Key;
  readonly read: (tableName: string, key: Key) => Promise<Item | undefined>;
  /** Deletes the item if its TTL attribute still holds `expiresAt`; resolves also when it does not. */
  readonly remove: (tableName: string, key: Key, attribute: string, expiresAt: string) => Promise<void>;
}

export interface TtlReaper {
  /** Called after a write succeeded, with the operation and its input as the client sent them. */
  noteWrite(operation: string, input: Record<string, unknown>): Promise<void>;
  close(): void;
}

interface Expiry {
  readonly tableName: string;
  readonly key: Key;
  readonly expiresAt: string;
  /** Real ms at which the item is due for deletion. */
  readonly dueAt: number;
}

const FIVE_YEARS_MS = 5 * 365 * 24 * 3600 * 1000;

/** Whether an update expression can change `attribute` (by name or through a `#name` alias). */
const touches = (request: Record<string, unknown>, attribute: string): boolean => {
  const expression = String(request.UpdateExpression ?? '');
  const aliases = Object.entries((request.ExpressionAttributeNames ?? {}) as Record<string, string>)
    .filter(([, name]) => name === attribute)
    .map(([alias]) => alias);
  const legacy = Object.keys((request.AttributeUpdates ?? {}) as object).includes(attribute);
  const name = attribute.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const direct = new RegExp(`(^|[^\\w#:])${name}\\b`).test(expression);
  return legacy || direct || aliases.some((alias) => expression.includes(alias));
};

export const createTtlReaper = (deps: TtlDeps): TtlReaper => {
  const expiries = new Map<string, Expiry>();
  const id = (tableName: string, key: Key) => `${tableName}|${JSON.stringify(key)}`;

  const remember = (tableName: string, key: Key, item: Item | undefined) => {
    const attribute = deps.attributes.get(tableName)!;
    const value = (item?.[attribute] as { N?: unknown } | undefined)?.N;
    const seconds = typeof value === 'string' ? Number(value) : NaN;
    const now = deps.now();
    if (!Number.isFinite(seconds) || seconds * 1000 < now - FIVE_YEARS_MS) {
      expiries.delete(id(tableName, key));
      return;
    }
    const known = expiries.get(id(tableName, key));
    if (known?.expiresAt === value) return; // unchanged: still due when it was first written
    const dueAt = now + (seconds * 1000 - now) * deps.timeScale;
    expiries.set(id(tableName, key), { tableName, key, expiresAt: value as string, dueAt });
  };
  const forget = (tableName: string, key: Key) => expiries.delete(id(tableName, key));

  const noteOne = async (kind: string, request: Record<string, unknown>) => {
    const tableName = String(request.TableName);
    const attribute = deps.attributes.get(tableName);
    if (attribute === undefined) return;
    if (kind === 'Put') {
      const item = request.Item as Item;
      remember(tableName, deps.keyOf(tableName, item), item);
    } else if (kind === 'Delete') {
      forget(tableName, request.Key as Key);
    } else if (kind === 'Update' && touches(request, attribute)) {
      const key = request.Key as Key;
      remember(tableName, key, await deps.read(tableName, key));
    }
  };

  const noteWrite: TtlReaper['noteWrite'] = async (operation, input) => {
    if (operation === 'PutItem' || operation === 'UpdateItem' || operation === 'DeleteItem') {
      await noteOne(operation.replace(/Item$/, ''), input);
    } else if (operation === 'TransactWriteItems') {
      for (const step of (input.TransactItems ?? []) as Record<string, Record<string, unknown>>[]) {
        for (const kind of ['Put', 'Update', 'Delete'] as const)
          if (step[kind]) await noteOne(kind, step[kind]);
      }
    } else if (operation === 'BatchWriteItem') {
      const tables = (input.RequestItems ?? {}) as Record<
        string,
        Record<string, { Item?: Item; Key?: Key }>[]
      >;
      for (const [TableName, requests] of Object.entries(tables)) {
        for (const { PutRequest, DeleteRequest } of requests) {
          if (PutRequest) await noteOne('Put', { TableName, Item: PutRequest.Item });
          if (DeleteRequest) await noteOne('Delete', { TableName, Key: DeleteRequest.Key });
        }
      }
    }
  };

  let sweeping = false;
  let closed = false;
  const sweep = async () => {
    if (sweeping || closed) return;
    sweeping = true;
    try {
      const now = deps.now();
      for (const [itemId, expiry] of [...expiries]) {
        if (expiry.dueAt > now || closed) continue;
        const attribute = deps.attributes.get(expiry.tableName)!;
        try {
          await deps.remove(expiry.tableName, expiry.key, attribute, expiry.expiresAt);
        } catch {
          continue; // the twin is closing, or DynamoDB failed: the next sweep tries again
        }
        if (expiries.get(itemId) === expiry) expiries.delete(itemId);
      }
    } finally {
      sweeping = false;
    }
  };
  const timer = setInterval(() => void sweep(), deps.sweepMs);
  timer.unref(); // a sandbox or test ends without waiting for the next sweep

  return {
    noteWrite,
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
};
