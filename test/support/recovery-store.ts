import type { RecoveryStore } from '../../shared/reconcile/recovery-store.ts';

/** The reconciler's recovery records in memory, with the Dynamo store's conditions. */
export const memoryRecoveryStore = () => {
  const records = new Map<string, { value: unknown; version: number }>();
  const claims = new Map<string, number>();
  const store: RecoveryStore = {
    async load<T>(name: string) {
      const found = records.get(name);
      return { value: found?.value as T | undefined, version: found?.version ?? 0 };
    },
    async save(name, value, version) {
      if ((records.get(name)?.version ?? 0) !== version) return false;
      records.set(name, { value: structuredClone(value), version: version + 1 });
      return true;
    },
    async claim(name, ttlSeconds, now) {
      const until = claims.get(name);
      if (until !== undefined && until >= now.getTime() / 1000) return false;
      claims.set(name, now.getTime() / 1000 + ttlSeconds);
      return true;
    },
    async unclaim(name) {
      claims.delete(name);
    },
  };
  return { store, records, claims };
};
