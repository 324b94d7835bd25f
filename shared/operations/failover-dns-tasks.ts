import type { OperationsConfig } from '../config/operations-config.ts';
import type { FailoverProgress } from './failover-progress.ts';
import { parseFailoverState, preflightOf, runOf, type Poll } from './failover-state.ts';
import type { DnsRecords } from './route53-records.ts';

/**
 * The DNS switch, in a function of its own (functions/ghes-failover-dns) whose role alone may change
 * the configured record. Runs only after promote succeeded (the ASL's only way here).
 */
export interface DnsTaskDeps {
  readonly operations: OperationsConfig;
  readonly dns: Pick<DnsRecords, 'upsert' | 'changeStatus'>;
  readonly progress: FailoverProgress;
}

/** Route53 usually reports INSYNC within 60 s; past this many checks the failover goes on to verify. */
export const DNS_SYNC_ATTEMPTS = 18;

export const createDnsTasks = (deps: DnsTaskDeps) => {
  const { progress, operations } = deps;
  const { dns } = operations;

  return {
    /** SwitchDns: UPSERT of the record to the replica's value (idempotent, so safe to retry). */
    async switchDns(input: { state: unknown }): Promise<{ changeId: string }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      const preflight = preflightOf(state);
      const replica = operations.appliances.find((a) => a.name === preflight.replica);
      if (!replica) throw new Error(`appliance ${preflight.replica} is not in the config`);
      await progress.step(run.execution, 'dns', 'running', `${dns.recordName} → ${replica.dnsValue}`);
      const { changeId } = await deps.dns.upsert(dns.hostedZoneId, {
        name: dns.recordName,
        type: dns.type,
        ttl: dns.ttl,
        values: [replica.dnsValue],
        comment: `ghes-control-plane failover ${run.execution}: ${preflight.primary} -> ${preflight.replica}`,
      });
      return { changeId };
    },

    /** CheckDnsSync: GetChange until INSYNC, bounded; past the bound the failover goes on (verify probes by address). */
    async checkDnsSync(input: { state: unknown }): Promise<Poll & { status: string }> {
      const state = parseFailoverState(input.state);
      const run = runOf(state);
      if (!state.dnsChange) throw new Error('CheckDnsSync: no change id in the state');
      const attempt = (state.dnsSync?.attempt ?? 0) + 1;
      const preflight = preflightOf(state);
      const value = operations.appliances.find((a) => a.name === preflight.replica)?.dnsValue;
      const status = await deps.dns.changeStatus(state.dnsChange.changeId);
      if (status === 'INSYNC' || attempt >= DNS_SYNC_ATTEMPTS) {
        await progress.step(
          run.execution,
          'dns',
          'succeeded',
          `${dns.recordName} → ${value} (TTL ${dns.ttl})${status === 'INSYNC' ? '' : `, Route53 still ${status} after ${attempt} checks`}`,
        );
        return { attempt, done: true, giveUp: status !== 'INSYNC', status };
      }
      return { attempt, done: false, giveUp: false, status };
    },
  };
};

export type DnsTasks = ReturnType<typeof createDnsTasks>;
