import { describe, expect, it } from 'vitest';
import type { ALBEvent } from 'aws-lambda';
import { fromAlbEvent, isAlbEvent, toAlbResult } from '../../../shared/http/alb.ts';
import { fromApiGatewayV2 } from '../../../shared/http/api-gateway.ts';

/** An ALB event as the Elastic Load Balancing guide shows it, for a POST with a JSON body. */
const albEvent = (overrides: Partial<ALBEvent> = {}): ALBEvent => ({
  requestContext: {
    elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/hook/0123' },
  },
  httpMethod: 'POST',
  path: '/github/webhook',
  queryStringParameters: {},
  headers: {
    'content-type': 'application/json',
    'x-github-event': 'workflow_job',
    'x-forwarded-for': '10.20.1.5',
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
  },
  body: '{"action":"queued"}',
  isBase64Encoded: false,
  ...overrides,
});

describe('ALB adapter', () => {
  it('tells a load balancer event from an HTTP API one', () => {
    expect(isAlbEvent(albEvent())).toBe(true);
    expect(isAlbEvent({ version: '2.0', requestContext: { http: { sourceIp: '10.0.0.1' } } })).toBe(false);
    expect(isAlbEvent(null)).toBe(false);
  });

  it('hands the intake the same headers and body bytes as the HTTP API would', () => {
    const request = fromAlbEvent(albEvent());
    expect(request.body.toString('utf8')).toBe('{"action":"queued"}');
    expect(request.headers['x-github-event']).toBe('workflow_job');
    expect(request.sourceIp).toBe('10.20.1.5');
    const viaApi = fromApiGatewayV2({
      headers: { 'Content-Type': 'application/json', 'X-GitHub-Event': 'workflow_job' },
      body: '{"action":"queued"}',
      isBase64Encoded: false,
      requestContext: { http: { sourceIp: '10.20.1.5' } },
    } as never);
    expect(viaApi.body.equals(request.body)).toBe(true);
    expect(viaApi.sourceIp).toBe(request.sourceIp);
  });

  it('decodes a base64 body to the exact bytes that were signed', () => {
    const bytes = Buffer.from([0x7b, 0x22, 0xc3, 0xa9, 0x22, 0x7d, 0xff]);
    const request = fromAlbEvent(albEvent({ body: bytes.toString('base64'), isBase64Encoded: true }));
    expect(request.body.equals(bytes)).toBe(true);
  });

  it('takes the sender from the last X-Forwarded-For entry, the one the load balancer appended', () => {
    const forged = fromAlbEvent(
      albEvent({ headers: { 'x-forwarded-for': '10.20.1.5, 192.0.2.66', 'X-GitHub-Event': 'ping' } }),
    );
    expect(forged.sourceIp).toBe('192.0.2.66');
    expect(forged.headers['x-github-event']).toBe('ping');
    expect(fromAlbEvent(albEvent({ headers: {} })).sourceIp).toBeUndefined();
  });

  it('reads multi-value headers when the target group sends them', () => {
    const request = fromAlbEvent(
      albEvent({
        headers: undefined,
        multiValueHeaders: {
          'X-Forwarded-For': ['10.20.1.5', '10.30.0.9'],
          'x-github-event': ['workflow_job'],
        },
      }),
    );
    expect(request.headers['x-github-event']).toBe('workflow_job');
    expect(request.sourceIp).toBe('10.30.0.9');
  });

  it('answers with the status, its description, a JSON body and isBase64Encoded, as the load balancer requires', () => {
    expect(toAlbResult({ status: 202, body: { outcome: 'accepted' } })).toEqual({
      statusCode: 202,
      statusDescription: '202 Accepted',
      headers: { 'content-type': 'application/json' },
      body: '{"outcome":"accepted"}',
      isBase64Encoded: false,
    });
    expect(toAlbResult({ status: 403, body: {} }).statusDescription).toBe('403 Forbidden');
  });

  it('handles an empty body', () => {
    expect(fromAlbEvent(albEvent({ body: null })).body.length).toBe(0);
  });
});
