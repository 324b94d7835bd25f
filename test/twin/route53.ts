import { randomBytes } from 'node:crypto';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { escapeXml, queryErrorXml, TwinAwsError, type TwinAwsService } from './aws-endpoint.ts';
import type { TwinClock } from './clock.ts';

/**
 * Route53 for the twin, on its REST-XML wire protocol (API version 2013-04-01), so a product client —
 * the SDK's or any other SigV4-signed one — works against it unchanged:
 * `POST /2013-04-01/hostedzone/<id>/rrset` ChangeResourceRecordSets (CREATE / DELETE / UPSERT, all
 * changes of a batch or none), `GET …/rrset` ListResourceRecordSets (Route53's order: labels
 * reversed, then type; `name`/`type`/`maxitems` to start at a record) and `GET /2013-04-01/change/<id>`
 * GetChange, PENDING until `syncMs` of simulated time has passed, then INSYNC. Records change at once,
 * as Route53's own servers answer them at once; INSYNC says every edge has them. Fault targets:
 * `route53:<Op>`.
 */
export interface DnsRecord {
  /** Fully qualified, with the trailing dot, lowercase: what Route53 returns. */
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly values: readonly string[];
}

export interface Route53Twin extends TwinAwsService {
  /** The zone's records (SOA and NS at the apex left out): what `GET /sandbox/state` shows. */
  records(zoneId: string): DnsRecord[];
  changes(): readonly { id: string; zoneId: string; status: 'PENDING' | 'INSYNC'; submittedAt: string }[];
}

const NS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const TYPES = ['A', 'AAAA', 'CAA', 'CNAME', 'DS', 'MX', 'NAPTR', 'NS', 'PTR', 'SOA', 'SPF', 'SRV', 'TXT'];

const fqdn = (name: string) => `${name.toLowerCase().replace(/\.$/, '')}.`;
/** Route53 lists names in the order of their labels reversed: `com.example.www`. */
const sortKey = (name: string) => name.replace(/\.$/, '').split('.').reverse().join('.');
const compare = (a: { name: string; type: string }, b: { name: string; type: string }) =>
  sortKey(a.name) === sortKey(b.name)
    ? a.type.localeCompare(b.type)
    : sortKey(a.name) < sortKey(b.name)
      ? -1
      : 1;

const recordXml = (r: DnsRecord) =>
  `<ResourceRecordSet><Name>${escapeXml(r.name)}</Name><Type>${r.type}</Type><TTL>${r.ttl}</TTL><ResourceRecords>${r.values
    .map((v) => `<ResourceRecord><Value>${escapeXml(v)}</Value></ResourceRecord>`)
    .join('')}</ResourceRecords></ResourceRecordSet>`;

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  removeNSPrefix: true,
  isArray: (name) => ['Change', 'ResourceRecord'].includes(name),
});

interface Change {
  readonly action: string;
  readonly record: DnsRecord;
}

const invalidBatch = (messages: string[]) =>
  new TwinAwsError('InvalidChangeBatch', messages.map((m) => `[${m}]`).join(', '));

/** The batch as Route53 reads it, or InvalidInput / InvalidChangeBatch naming what is wrong. */
const parseBatch = (body: string, zoneName: string): { changes: Change[]; comment?: string } => {
  if (XMLValidator.validate(body) !== true)
    throw new TwinAwsError('InvalidInput', 'Invalid XML; the body is not well formed');
  interface XmlRecordSet {
    Name?: string;
    Type?: string;
    TTL?: string;
    ResourceRecords?: { ResourceRecord?: { Value?: string }[] };
  }
  const parsed = parser.parse(body) as {
    ChangeResourceRecordSetsRequest?: {
      ChangeBatch?: {
        Comment?: string;
        Changes?: { Change?: { Action?: string; ResourceRecordSet?: XmlRecordSet }[] };
      };
    };
  };
  const batch = parsed.ChangeResourceRecordSetsRequest?.ChangeBatch;
  const list = batch?.Changes?.Change;
  if (!batch || !list?.length)
    throw new TwinAwsError('InvalidInput', 'Invalid request: ChangeBatch.Changes needs at least one Change');
  const problems: string[] = [];
  const changes = list.map((change): Change => {
    const set = change.ResourceRecordSet ?? {};
    const action = String(change.Action ?? '');
    const name = fqdn(String(set.Name ?? ''));
    const type = String(set.Type ?? '');
    const ttl = Number(set.TTL);
    const values = (set.ResourceRecords?.ResourceRecord ?? []).map((r) => String(r.Value ?? ''));
    if (!['CREATE', 'DELETE', 'UPSERT'].includes(action)) problems.push(`Invalid action: ${action}`);
    if (!TYPES.includes(type)) problems.push(`Invalid type: ${type}`);
    if (name !== zoneName && !name.endsWith(`.${zoneName}`))
      problems.push(`RRSet with DNS name ${name} is not permitted in zone ${zoneName}`);
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2_147_483_647)
      problems.push(`Invalid Resource Record: TTL for ${name} ${type} must be 0 to 2147483647`);
    if (!values.length) problems.push(`Invalid request: ${name} ${type} needs ResourceRecords`);
    if (type === 'A')
      for (const v of values)
        if (!/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(v))
          problems.push(
            `Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address encountered with '${v}''`,
          );
    if (type === 'CNAME' && values.length > 1)
      problems.push(`Invalid Resource Record: a CNAME record set has exactly one value`);
    return { action, record: { name, type, ttl, values } };
  });
  if (problems.length) throw invalidBatch(problems);
  return { changes, ...(batch.Comment !== undefined ? { comment: String(batch.Comment) } : {}) };
};

export const createRoute53Twin = (options: {
  clock: Pick<TwinClock, 'timeScale'>;
  /** Simulated time a change takes to reach every Route53 edge (PENDING → INSYNC). */
  syncMs: number;
  /** Each zone's records besides the SOA and NS the twin adds at its apex (names with or without the dot). */
  zones: readonly { id: string; name: string; records: readonly DnsRecord[] }[];
}): Route53Twin => {
  const zones = new Map<string, { name: string; records: DnsRecord[] }>(
    options.zones.map((zone) => {
      const name = fqdn(zone.name);
      const apex: DnsRecord[] = [
        { name, type: 'NS', ttl: 172_800, values: ['ns-1.awsdns-00.com.', 'ns-2.awsdns-00.net.'] },
        {
          name,
          type: 'SOA',
          ttl: 900,
          values: ['ns-1.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400'],
        },
      ];
      const records = zone.records.map((r) => ({ ...r, name: fqdn(r.name) }));
      return [zone.id, { name, records: [...apex, ...records].sort(compare) as DnsRecord[] }];
    }),
  );
  const changes: { id: string; zoneId: string; submittedAt: Date; comment?: string }[] = [];
  const statusOf = (change: { submittedAt: Date }) =>
    Date.now() - change.submittedAt.getTime() >= options.syncMs * options.clock.timeScale
      ? 'INSYNC'
      : 'PENDING';
  const changeInfo = (change: (typeof changes)[number]) =>
    `<ChangeInfo><Id>/change/${change.id}</Id><Status>${statusOf(change)}</Status><SubmittedAt>${change.submittedAt.toISOString()}</SubmittedAt>${
      change.comment === undefined ? '' : `<Comment>${escapeXml(change.comment)}</Comment>`
    }</ChangeInfo>`;
  const zoneOf = (id: unknown) => {
    const zone = zones.get(String(id));
    if (!zone) throw new TwinAwsError('NoSuchHostedZone', `No hosted zone found with ID: ${String(id)}`, 404);
    return zone;
  };
  const xml = (root: string, inner: string) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${NS}">${inner}</${root}>`;

  return {
    id: 'route53',
    signingName: 'route53',
    protocol: 'rest-xml',
    operations: {
      ChangeResourceRecordSets: {
        InvalidChangeBatch: 400,
        InvalidInput: 400,
        NoSuchHostedZone: 404,
        PriorRequestNotComplete: 400,
        Throttling: 400,
      },
      ListResourceRecordSets: { InvalidInput: 400, NoSuchHostedZone: 404, Throttling: 400 },
      GetChange: { InvalidInput: 400, NoSuchChange: 404, Throttling: 400 },
    },
    route(method, path, query, body) {
      const rrset = /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset\/?$/.exec(path);
      if (rrset && method === 'POST')
        return {
          operation: 'ChangeResourceRecordSets',
          input: { zoneId: decodeURIComponent(rrset[1]!), body },
        };
      if (rrset && method === 'GET')
        return {
          operation: 'ListResourceRecordSets',
          input: { zoneId: decodeURIComponent(rrset[1]!), ...Object.fromEntries(query) },
        };
      const change = /^\/2013-04-01\/change\/([^/]+)$/.exec(path);
      if (change && method === 'GET')
        return { operation: 'GetChange', input: { id: decodeURIComponent(change[1]!) } };
      return undefined;
    },
    errorXml: (code, message, status) =>
      queryErrorXml(code, message, status).replace('<ErrorResponse>', `<ErrorResponse xmlns="${NS}">`),
    async handle({ operation, input }) {
      switch (operation) {
        case 'ChangeResourceRecordSets': {
          const zone = zoneOf(input.zoneId);
          const { changes: batch, comment } = parseBatch(String(input.body), zone.name);
          // All or nothing: apply to a copy, keep it only when every change fits.
          const next = [...zone.records];
          const problems: string[] = [];
          for (const { action, record } of batch) {
            const at = next.findIndex((r) => r.name === record.name && r.type === record.type);
            const label = `name='${record.name}', type='${record.type}'`;
            if (action === 'CREATE' && at >= 0)
              problems.push(`Tried to create resource record set [${label}] but it already exists`);
            else if (action === 'DELETE' && at < 0)
              problems.push(`Tried to delete resource record set [${label}] but it was not found`);
            else if (
              action === 'DELETE' &&
              (next[at]!.ttl !== record.ttl ||
                [...next[at]!.values].sort().join() !== [...record.values].sort().join())
            )
              problems.push(
                `Tried to delete resource record set [${label}] but the values provided do not match the current values`,
              );
            else if (
              action !== 'DELETE' &&
              record.type !== 'CNAME' &&
              next.some((r) => r.name === record.name && r.type === 'CNAME')
            )
              problems.push(
                `RRSet of type ${record.type} with DNS name ${record.name} is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone ${zone.name}`,
              );
            else if (action === 'DELETE') next.splice(at, 1);
            else if (at >= 0) next[at] = record;
            else next.push(record);
          }
          if (problems.length) throw invalidBatch(problems);
          zone.records = next.sort(compare);
          const change = {
            id: `C${randomBytes(10).toString('hex').toUpperCase().slice(0, 19)}`,
            zoneId: String(input.zoneId),
            submittedAt: new Date(),
            ...(comment === undefined ? {} : { comment }),
          };
          changes.push(change);
          return xml('ChangeResourceRecordSetsResponse', changeInfo(change));
        }
        case 'ListResourceRecordSets': {
          const zone = zoneOf(input.zoneId);
          const max = input.maxitems === undefined ? 300 : Number(input.maxitems);
          if (!Number.isInteger(max) || max < 1 || max > 300)
            throw new TwinAwsError('InvalidInput', 'maxitems: expected 1 to 300');
          if (input.type !== undefined && input.name === undefined)
            throw new TwinAwsError('InvalidInput', 'The input is not valid: type requires name');
          const from =
            input.name === undefined
              ? undefined
              : { name: fqdn(String(input.name)), type: String(input.type ?? '') };
          const listed = from ? zone.records.filter((r) => compare(r, from) >= 0) : zone.records;
          const page = listed.slice(0, max);
          const next = listed[max];
          return xml(
            'ListResourceRecordSetsResponse',
            `<ResourceRecordSets>${page.map(recordXml).join('')}</ResourceRecordSets><IsTruncated>${next !== undefined}</IsTruncated>${
              next
                ? `<NextRecordName>${escapeXml(next.name)}</NextRecordName><NextRecordType>${next.type}</NextRecordType>`
                : ''
            }<MaxItems>${max}</MaxItems>`,
          );
        }
        case 'GetChange': {
          const id = String(input.id).replace(/^\/?change\//, '');
          const change = changes.find((c) => c.id === id);
          if (!change)
            throw new TwinAwsError(
              'NoSuchChange',
              `A change with the specified change ID does not exist: ${id}`,
              404,
            );
          return xml('GetChangeResponse', changeInfo(change));
        }
        default:
          throw new Error(`the Route53 twin lists ${operation} but does not handle it`);
      }
    },
    records: (zoneId) =>
      (zones.get(zoneId)?.records ?? []).filter(
        (r) => !(r.name === zones.get(zoneId)!.name && (r.type === 'SOA' || r.type === 'NS')),
      ),
    changes: () =>
      changes.map((c) => ({
        id: c.id,
        zoneId: c.zoneId,
        status: statusOf(c),
        submittedAt: c.submittedAt.toISOString(),
      })),
  };
};
