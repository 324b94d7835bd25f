import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** What our request logic needs of an HTTP request: lower-cased headers and the exact body bytes. */
export interface RawRequest {
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Buffer;
  /** The address the front door (API Gateway, the load balancer) took the connection from. */
  readonly sourceIp?: string;
}

export interface JsonResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * API Gateway HTTP API (v2) hands text bodies over as they are and binary ones base64-encoded;
 * signatures are computed over the bytes, so both must come back to the same Buffer.
 */
export const fromApiGatewayV2 = (event: APIGatewayProxyEventV2): RawRequest => {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const raw = event.body ?? '';
  // The TCP peer API Gateway saw; not a header, which a client could write.
  const sourceIp = event.requestContext?.http?.sourceIp;
  return {
    headers,
    body: Buffer.from(raw, event.isBase64Encoded ? 'base64' : 'utf8'),
    ...(sourceIp ? { sourceIp } : {}),
  };
};

export const toApiGatewayResult = (response: JsonResponse): APIGatewayProxyStructuredResultV2 => ({
  statusCode: response.status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(response.body),
});
