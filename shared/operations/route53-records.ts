import { AwsClient } from 'aws4fetch';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { AwsServiceError, type AwsConnection } from '../aws/json-client.ts';

/**
 * The one DNS record users reach GHES by, on Route53. Speaks Route53's REST-XML API over aws4fetch
 * (already the project's SigV4 signer): `@aws-sdk/client-route53` cannot be installed from the
 * registry this project uses, and three calls do not justify vendoring it.
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

const API = '2013-04-01';
const RETRYABLE = new Set([
  'Throttling',
  'ThrottlingException',
  'PriorRequestNotComplete',
  'ServiceUnavailable',
]);
const MAX_ATTEMPTS = 4;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Route53 answers names fully qualified and in lowercase: `ghes.example.internal.`. */
const fqdn = (name: string) => `${name.toLowerCase().replace(/\.$/, '')}.`;
const bareId = (id: string) => id.replace(/^\/?(hostedzone|change)\//, '');

/** The parts of Route53's answers this adapter reads. */
interface ChangeInfo {
  Id?: string;
  Status?: string;
}
interface Route53Xml {
  ErrorResponse?: { Error?: { Code?: string; Message?: string } };
  InvalidChangeBatch?: { Messages?: { Message?: string[] } };
  ListResourceRecordSetsResponse?: {
    ResourceRecordSets?: {
      ResourceRecordSet?: {
        Name: string;
        Type: string;
        TTL?: string;
        ResourceRecords?: { ResourceRecord?: { Value: string }[] };
      }[];
    };
  };
  ChangeResourceRecordSetsResponse?: { ChangeInfo?: ChangeInfo };
  GetChangeResponse?: { ChangeInfo?: ChangeInfo };
}

const parser = new XMLParser({
  // Lists of one element must still come back as lists.
  isArray: (name) => ['ResourceRecordSet', 'ResourceRecord', 'Message'].includes(name),
  // Values as strings: `10.0.1.10` must not become a number.
  parseTagValue: false,
  removeNSPrefix: true,
});
const builder = new XMLBuilder({ ignoreAttributes: false });

export const createRoute53Records = (connection: AwsConnection): DnsRecords => {
  const signer = new AwsClient({
    ...connection.credentials,
    service: 'route53',
    // Route53 is global; its API signs in us-east-1 (aws partition).
    region: 'us-east-1',
    retries: 0,
  });
  const base = (connection.endpoint ?? 'https://route53.amazonaws.com').replace(/\/$/, '');

  const once = async (method: 'GET' | 'POST', path: string, body?: string) => {
    const response = await signer.fetch(`${base}/${API}/${path}`, {
      method,
      ...(body ? { body, headers: { 'content-type': 'application/xml' } } : {}),
    });
    const text = await response.text();
    const parsed = (text ? parser.parse(text) : {}) as Route53Xml;
    if (response.ok) return parsed;
    // `<ErrorResponse><Error><Code>` for most errors; `<InvalidChangeBatch><Messages>` for a bad batch.
    const error = parsed.ErrorResponse?.Error;
    const code = error?.Code ?? (parsed.InvalidChangeBatch ? 'InvalidChangeBatch' : `Http${response.status}`);
    const message =
      error?.Message ?? parsed.InvalidChangeBatch?.Messages?.Message?.join('; ') ?? `HTTP ${response.status}`;
    throw new AwsServiceError(String(code), `Route53 ${path.split('/')[0]}: ${message}`, response.status);
  };

  const call = async (method: 'GET' | 'POST', path: string, body?: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await once(method, path, body);
      } catch (error) {
        const retryable =
          error instanceof AwsServiceError
            ? RETRYABLE.has(error.name) || error.httpStatus >= 500
            : error instanceof TypeError; // fetch's network failure
        if (!retryable || attempt >= MAX_ATTEMPTS) throw error;
        // Route53 allows five requests a second per account; back off with full jitter.
        await sleep(Math.random() * 200 * 2 ** attempt);
      }
    }
  };

  return {
    async read(zoneId, name, type) {
      const query = new URLSearchParams({ name: fqdn(name), type, maxitems: '1' });
      const out = await call('GET', `hostedzone/${bareId(zoneId)}/rrset?${query}`);
      // The list starts at the name asked for; the first entry is another name when there is none.
      const set = out.ListResourceRecordSetsResponse?.ResourceRecordSets?.ResourceRecordSet?.[0];
      if (!set || fqdn(String(set.Name)) !== fqdn(name) || set.Type !== type) return null;
      return {
        name: fqdn(name),
        type,
        ttl: Number(set.TTL),
        values: (set.ResourceRecords?.ResourceRecord ?? []).map((r) => String(r.Value)),
      };
    },

    async upsert(zoneId, { name, type, ttl, values, comment }) {
      const body = builder.build({
        '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
        ChangeResourceRecordSetsRequest: {
          '@_xmlns': `https://route53.amazonaws.com/doc/${API}/`,
          ChangeBatch: {
            Comment: comment.slice(0, 256),
            Changes: {
              Change: {
                Action: 'UPSERT',
                ResourceRecordSet: {
                  Name: fqdn(name),
                  Type: type,
                  TTL: ttl,
                  ResourceRecords: { ResourceRecord: values.map((Value) => ({ Value })) },
                },
              },
            },
          },
        },
      }) as string;
      const out = await call('POST', `hostedzone/${bareId(zoneId)}/rrset/`, body);
      const info = out.ChangeResourceRecordSetsResponse?.ChangeInfo;
      if (!info?.Id) throw new Error('Route53 ChangeResourceRecordSets: answer without a change id');
      return { changeId: bareId(String(info.Id)), status: info.Status as ChangeStatus };
    },

    async changeStatus(changeId) {
      const out = await call('GET', `change/${encodeURIComponent(bareId(changeId))}`);
      const status = out.GetChangeResponse?.ChangeInfo?.Status;
      if (status !== 'PENDING' && status !== 'INSYNC')
        throw new Error(`Route53 GetChange: unexpected status ${String(status)}`);
      return status;
    },
  };
};
