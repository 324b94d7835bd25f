import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';

/**
 * The one DNS record users reach GHES by, on Route53 (`@aws-sdk/client-route-53`, built once in
 * shared/aws/clients.ts). The SDK's standard retry covers Throttling and PriorRequestNotComplete
 * (Route53 allows five requests a second per account, and one change batch at a time per zone).
 */
export interface DnsRecord {
  readonly name: string;
  readonly type: 'A' | 'CNAME';
  readonly ttl: number;
  readonly values: readonly string[];
}

export type ChangeStatus = 'PENDING' | 'INSYNC';

export interface DnsRecords {
  /** The record as Route53 serves it now, or null when the zone has none of that name and type. */
  read(zoneId: string, name: string, type: 'A' | 'CNAME'): Promise<DnsRecord | null>;
  /** UPSERT to a single value; returns Route53's change id to follow with `changeStatus`. */
  upsert(
    zoneId: string,
    record: DnsRecord & { readonly comment: string },
  ): Promise<{ changeId: string; status: ChangeStatus }>;
  /** `INSYNC` once every Route53 name server answers with the change. */
  changeStatus(changeId: string): Promise<ChangeStatus>;
}

/** Route53 answers names fully qualified and in lowercase: `ghes.example.internal.`. */
const fqdn = (name: string) => `${name.toLowerCase().replace(/\.$/, '')}.`;
const bareId = (id: string) => id.replace(/^\/?(hostedzone|change)\//, '');

export const createRoute53Records = (route53: Route53Client): DnsRecords => ({
  async read(zoneId, name, type) {
    const out = await route53.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: bareId(zoneId),
        StartRecordName: fqdn(name),
        StartRecordType: type,
        MaxItems: 1,
      }),
    );
    // The list starts at the name asked for; the first entry is another name when there is none.
    const set = out.ResourceRecordSets?.[0];
    if (!set || fqdn(set.Name ?? '') !== fqdn(name) || set.Type !== type) return null;
    return {
      name: fqdn(name),
      type,
      ttl: set.TTL ?? 0,
      values: (set.ResourceRecords ?? []).map((r) => r.Value ?? ''),
    };
  },

  async upsert(zoneId, { name, type, ttl, values, comment }) {
    const out = await route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: bareId(zoneId),
        ChangeBatch: {
          Comment: comment.slice(0, 256),
          Changes: [
            {
              Action: 'UPSERT',
              ResourceRecordSet: {
                Name: fqdn(name),
                Type: type,
                TTL: ttl,
                ResourceRecords: values.map((Value) => ({ Value })),
              },
            },
          ],
        },
      }),
    );
    if (!out.ChangeInfo?.Id) throw new Error('Route53 ChangeResourceRecordSets: answer without a change id');
    return { changeId: bareId(out.ChangeInfo.Id), status: out.ChangeInfo.Status as ChangeStatus };
  },

  async changeStatus(changeId) {
    const out = await route53.send(new GetChangeCommand({ Id: bareId(changeId) }));
    const status = out.ChangeInfo?.Status;
    if (status !== 'PENDING' && status !== 'INSYNC')
      throw new Error(`Route53 GetChange: unexpected status ${String(status)}`);
    return status;
  },
});
