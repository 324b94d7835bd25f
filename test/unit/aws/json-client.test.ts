import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AwsNetworkError,
  AwsServiceError,
  createJsonClient,
  dynamoDbSpec,
  isConditionFailure,
} from '../../../shared/aws/json-client.ts';

/** The light AWS client against a loopback HTTP server: signing, connections, retries, errors. */
interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

const serve = async (answer: (request: Received, response: ServerResponse) => void) => {
  const received: Received[] = [];
  let connections = 0;
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const seen = {
        method: request.method!,
        path: request.url!,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(seen);
      answer(seen, response);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const client = createJsonClient(dynamoDbSpec, { region: 'eu-west-1', endpoint, credentials });
  return { client, received, connections: () => connections };
};

const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
  response.end(JSON.stringify(body));
};

/** node:crypto behind the interface @smithy/signature-v4 expects, for an independent signature. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: Uint8Array | string) {
    this.hash = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data: Uint8Array | string) {
    this.hash.update(data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

describe('the light JSON client', () => {
  it('signs each call as AWS SigV4 expects, as an independent signer computes it', async () => {
    const { client, received } = await serve((_request, response) => json(response, 200, {}));
    await client('GetItem', { TableName: 'Jobs', Key: { pk: { S: '1#1' } } });

    const [call] = received as [Received];
    const amzDate = call.headers['x-amz-date'] as string;
    // The same headers signed (SigV4 lets the client choose which), no x-amz-content-sha256.
    const signer = new SignatureV4({
      service: 'dynamodb',
      region: 'eu-west-1',
      credentials,
      sha256: NodeSha256 as never,
      applyChecksum: false,
    });
    const signed = await signer.sign(
      {
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: Number(call.headers.host!.split(':')[1]),
        path: '/',
        headers: {
          host: call.headers.host!,
          'content-length': call.headers['content-length']!,
          'content-type': call.headers['content-type'] as string,
          'x-amz-target': call.headers['x-amz-target'] as string,
        },
        body: call.body,
      },
      {
        signingDate: new Date(
          `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
        ),
      },
    );
    const signature = (header: string) => /Signature=([0-9a-f]{64})/.exec(header)?.[1];
    expect(signature(call.headers.authorization!)).toBe(signature(signed.headers.authorization!));
    expect(call.headers['x-amz-target']).toBe('DynamoDB_20120810.GetItem');
    expect(JSON.parse(call.body)).toEqual({ TableName: 'Jobs', Key: { pk: { S: '1#1' } } });
  });

  it('reuses one keep-alive connection for sequential calls', async () => {
    const { client, connections } = await serve((_request, response) => json(response, 200, {}));
    for (let i = 0; i < 20; i++) await client('GetItem', { TableName: 'Jobs', Key: { pk: { S: `${i}` } } });
    expect(connections()).toBe(1);
  });

  it('retries throttling and 5xx answers, then returns the answer that went through', async () => {
    let calls = 0;
    const { client } = await serve((_request, response) => {
      calls++;
      if (calls === 1) return json(response, 400, { __type: 'com.amazon.coral#ThrottlingException' });
      if (calls === 2) return json(response, 500, { __type: 'InternalServerError' });
      json(response, 200, { Item: { pk: { S: 'x' } } });
    });
    await expect(client('GetItem', {})).resolves.toEqual({ Item: { pk: { S: 'x' } } });
    expect(calls).toBe(3);
  });

  it('leaves a transaction cancelled by a conflict or a condition to the caller, keeping one idempotency token per call', async () => {
    const answers = [
      { __type: 'TransactionCanceledException', CancellationReasons: [{ Code: 'TransactionConflict' }] },
      { __type: 'TransactionCanceledException', CancellationReasons: [{ Code: 'ConditionalCheckFailed' }] },
    ];
    const { client, received } = await serve((_request, response) => json(response, 400, answers.shift()));
    const conflict = await client('TransactWriteItems', { TransactItems: [] }).catch(
      (error: unknown) => error,
    );
    expect(conflict).toMatchObject({ name: 'TransactionCanceledException' });
    expect(isConditionFailure(conflict)).toBe(false);
    const condition = await client('TransactWriteItems', { TransactItems: [] }).catch(
      (error: unknown) => error,
    );
    expect(isConditionFailure(condition)).toBe(true);
    expect(received).toHaveLength(2);
  });

  it('retries a transaction whose answer was lost with the same idempotency token', async () => {
    let calls = 0;
    const { client, received } = await serve((_request, response) =>
      ++calls === 1 ? json(response, 500, { __type: 'InternalServerError' }) : json(response, 200, {}),
    );
    await client('TransactWriteItems', { TransactItems: [] });
    const tokens = received.map((call) => JSON.parse(call.body).ClientRequestToken);
    expect(tokens).toHaveLength(2);
    expect(new Set(tokens).size).toBe(1);
  });

  it('names the AWS error code and keeps the answer, without retrying a client error', async () => {
    const { client, received } = await serve((_request, response) =>
      json(response, 400, {
        __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException',
        message: 'Requested resource not found',
      }),
    );
    const failure = await client('GetItem', {}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AwsServiceError);
    expect(failure).toMatchObject({ name: 'ResourceNotFoundException', httpStatus: 400 });
    expect(received).toHaveLength(1);
  });

  it('gives up on a server that never answers, with a network error after three timed-out tries', async () => {
    const { received } = await serve(() => {}); // accepts and never answers
    const endpoint = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/`;
    const client = createJsonClient(
      dynamoDbSpec,
      { region: 'eu-west-1', endpoint, credentials },
      { timeoutMs: 100 },
    );
    const started = performance.now();
    await expect(client('GetItem', {})).rejects.toBeInstanceOf(AwsNetworkError);
    expect(received).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('takes an HTML error page from a proxy as the HTTP error it is', async () => {
    const { client } = await serve((_request, response) => {
      response.writeHead(403, { 'content-type': 'text/html' });
      response.end('<html>Forbidden</html>');
    });
    await expect(client('GetItem', {})).rejects.toMatchObject({ name: 'UnknownError', httpStatus: 403 });
  });
});
