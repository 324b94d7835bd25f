import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Route53Client } from '@aws-sdk/client-route-53';
import { XMLParser } from 'fast-xml-parser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRoute53Records } from '../../../shared/operations/route53-records.ts';

/** A loopback Route53 answering REST-XML as AWS does, recording what it was sent. */
interface Seen {
  method: string;
  url: string;
  authorization: string;
  body: string;
}

const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const NS = 'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"';

describe('Route53 records through the SDK client', () => {
  let server: Server;
  let seen: Seen[];
  let answer: (req: Seen) => { status: number; body: string };
  let records: ReturnType<typeof createRoute53Records>;

  beforeEach(async () => {
    seen = [];
    server = createServer(async (req: IncomingMessage, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const request = {
        method: req.method!,
        url: req.url!,
        authorization: String(req.headers.authorization ?? ''),
        body,
      };
      seen.push(request);
      const { status, body: out } = answer(request);
      res.writeHead(status, { 'content-type': 'text/xml' }).end(out);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    records = createRoute53Records(
      new Route53Client({
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      }),
    );
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads the record by name and type, signed for route53 in us-east-1, and keeps addresses as text', async () => {
    answer = () => ({
      status: 200,
      body: xml(`<ListResourceRecordSetsResponse ${NS}><ResourceRecordSets><ResourceRecordSet>
        <Name>ghes.example.internal.</Name><Type>A</Type><TTL>60</TTL>
        <ResourceRecords><ResourceRecord><Value>10.0.1.10</Value></ResourceRecord></ResourceRecords>
        </ResourceRecordSet></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems>
        </ListResourceRecordSetsResponse>`),
    });
    const record = await records.read('Z0123456789ABCDEFGHIJ', 'GHES.example.internal', 'A');
    expect(record).toEqual({ name: 'ghes.example.internal.', type: 'A', ttl: 60, values: ['10.0.1.10'] });
    expect(seen[0]).toMatchObject({
      method: 'GET',
      url: '/2013-04-01/hostedzone/Z0123456789ABCDEFGHIJ/rrset?maxitems=1&name=ghes.example.internal.&type=A',
    });
    expect(seen[0]!.authorization).toMatch(/Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/route53\/aws4_request/);
  });

  it('answers null when the zone has no such record (the list starts at the next name)', async () => {
    answer = () => ({
      status: 200,
      body: xml(`<ListResourceRecordSetsResponse ${NS}><ResourceRecordSets><ResourceRecordSet>
        <Name>zzz.example.internal.</Name><Type>A</Type><TTL>300</TTL>
        <ResourceRecords><ResourceRecord><Value>10.9.9.9</Value></ResourceRecord></ResourceRecords>
        </ResourceRecordSet></ResourceRecordSets></ListResourceRecordSetsResponse>`),
    });
    expect(await records.read('Z0123456789ABCDEFGHIJ', 'ghes.example.internal', 'A')).toBeNull();
  });

  it('UPSERTs one record with the TTL and returns the change to follow until INSYNC', async () => {
    answer = (req) =>
      req.method === 'POST'
        ? {
            status: 200,
            body: xml(
              `<ChangeResourceRecordSetsResponse ${NS}><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id><Status>PENDING</Status><SubmittedAt>2026-11-30T02:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>`,
            ),
          }
        : {
            status: 200,
            body: xml(
              `<GetChangeResponse ${NS}><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id><Status>INSYNC</Status></ChangeInfo></GetChangeResponse>`,
            ),
          };
    const change = await records.upsert('/hostedzone/Z0123456789ABCDEFGHIJ', {
      name: 'ghes.example.internal',
      type: 'A',
      ttl: 60,
      values: ['10.0.2.10'],
      comment: 'failover <a> & <b>',
    });
    expect(change).toEqual({ changeId: 'C2682N5HXP0BZ4', status: 'PENDING' });
    expect(seen[0]!.url).toBe('/2013-04-01/hostedzone/Z0123456789ABCDEFGHIJ/rrset');
    const sent = new XMLParser({ parseTagValue: false }).parse(seen[0]!.body);
    expect(sent.ChangeResourceRecordSetsRequest.ChangeBatch).toEqual({
      Comment: 'failover <a> & <b>',
      Changes: {
        Change: {
          Action: 'UPSERT',
          ResourceRecordSet: {
            Name: 'ghes.example.internal.',
            Type: 'A',
            TTL: '60',
            ResourceRecords: { ResourceRecord: { Value: '10.0.2.10' } },
          },
        },
      },
    });
    expect(await records.changeStatus(change.changeId)).toBe('INSYNC');
    expect(seen[1]!.url).toBe('/2013-04-01/change/C2682N5HXP0BZ4');
  });

  it('retries Throttling and PriorRequestNotComplete (the SDK’s standard retry), and names an error it cannot retry', async () => {
    let calls = 0;
    answer = () =>
      ++calls <= 2
        ? {
            status: 400,
            body: xml(
              `<ErrorResponse ${NS}><Error><Type>Sender</Type><Code>${calls === 1 ? 'Throttling' : 'PriorRequestNotComplete'}</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`,
            ),
          }
        : {
            status: 200,
            body: xml(
              `<GetChangeResponse ${NS}><ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status></ChangeInfo></GetChangeResponse>`,
            ),
          };
    expect(await records.changeStatus('C1')).toBe('PENDING');
    expect(calls).toBe(3);

    answer = () => ({
      status: 400,
      body: xml(
        `<ErrorResponse ${NS}><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>RRSet with DNS name ghes.example.internal. is not permitted in zone example.com.</Message></Error></ErrorResponse>`,
      ),
    });
    const before = seen.length;
    await expect(
      records.upsert('Z0123456789ABCDEFGHIJ', {
        name: 'ghes.example.internal',
        type: 'A',
        ttl: 60,
        values: ['10.0.2.10'],
        comment: '',
      }),
    ).rejects.toMatchObject({
      name: 'InvalidChangeBatch',
      message: expect.stringContaining('is not permitted in zone'),
    });
    expect(seen.length - before).toBe(1);
  });
});
