import type { ALBEvent, ALBResult } from 'aws-lambda';
import type { JsonResponse, RawRequest } from './api-gateway.ts';

/**
 * An Application Load Balancer's Lambda events (ingress `private`), brought to the same RawRequest
 * the HTTP API's events become, and answers in the shape the load balancer needs. AWS's contract
 * (Elastic Load Balancing guide, "Lambda functions as targets"): header names lower-cased, one value
 * each unless the target group enables multi-value headers; the body as text for text content
 * types, else base64 with `isBase64Encoded`; the answer carries `statusCode`, `statusDescription`
 * ("200 OK"), `headers` and `isBase64Encoded`, and may be at most 1 MB.
 */
export const isAlbEvent = (event: unknown): event is ALBEvent =>
  typeof event === 'object' &&
  event !== null &&
  typeof (event as { requestContext?: { elb?: unknown } }).requestContext?.elb === 'object';

/**
 * The load balancer appends the address its connection came from to X-Forwarded-For (the stack sets
 * `routing.http.xff_header_processing.mode` to `append`), so the last entry is the sender as the
 * load balancer saw it; anything before it is what the client claimed.
 */
const connectionAddress = (forwardedFor: string | undefined) =>
  forwardedFor?.split(',').at(-1)?.trim() || undefined;

export const fromAlbEvent = (event: ALBEvent): RawRequest => {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  // With multi-value headers on, each header comes as a list; joined as HTTP joins repeated headers.
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    if (values !== undefined) headers[name.toLowerCase()] = values.join(',');
  }
  const sourceIp = connectionAddress(headers['x-forwarded-for']);
  return {
    headers,
    body: Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8'),
    ...(sourceIp ? { sourceIp } : {}),
  };
};

// node:http taken on the first ALB answer, not imported: the HTTP API's cold start would load it too.
const reasonPhrase = (status: number) =>
  process.getBuiltinModule('node:http').STATUS_CODES[status] ?? 'Unknown';

export const toAlbResult = (response: JsonResponse): ALBResult => ({
  statusCode: response.status,
  statusDescription: `${response.status} ${reasonPhrase(response.status)}`,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(response.body),
  isBase64Encoded: false,
});
