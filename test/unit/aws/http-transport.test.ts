import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { generate, type GenerateResult } from 'selfsigned';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closeIdleConnections,
  createHttpTransport,
  openConnections,
  send,
  TransportError,
  type HttpTransport,
} from '../../../shared/aws/http-transport.ts';

/** The AWS calls' HTTP/1.1 transport against real loopback servers: node:http, node:https, raw TCP. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (condition: () => boolean, what: string) => {
  for (const started = Date.now(); !condition(); await sleep(5)) {
    if (Date.now() - started > 2_000) throw new Error(`still waiting for ${what}`);
  }
};

const newTransport = (options?: Parameters<typeof createHttpTransport>[0]): HttpTransport => {
  const transport = createHttpTransport(options);
  cleanups.push(() => transport.closeIdleConnections());
  return transport;
};

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
};

/** A node:http server; `answer` gets each request with its body read. */
const httpStub = async (
  answer: (request: IncomingMessage, body: string, response: ServerResponse) => void,
) => {
  let connections = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => answer(request, Buffer.concat(chunks).toString('utf8'), response));
  });
  server.on('connection', () => connections++);
  cleanups.push(() => server.closeAllConnections());
  const port = await listen(server);
  return { server, url: new URL(`http://127.0.0.1:${port}/`), connections: () => connections };
};

interface RawRequest {
  readonly head: string;
  readonly body: string;
  /** 0 for the first request on its socket. */
  readonly index: number;
}

/** A TCP server that reads whole requests and answers with whatever bytes a test writes. */
const rawStub = async (onRequest: (socket: Socket, request: RawRequest) => void) => {
  const sockets = new Set<Socket>();
  const requests: RawRequest[] = [];
  let connections = 0;
  const server = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let index = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (let end; (end = buffered.indexOf('\r\n\r\n')) >= 0;) {
        const head = buffered.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const request = { head, body: buffered.toString('utf8', end + 4, end + 4 + length), index: index++ };
        buffered = buffered.subarray(end + 4 + length);
        requests.push(request);
        onRequest(socket, request);
      }
    });
  });
  cleanups.push(() => sockets.forEach((socket) => socket.destroy()));
  const port = await listen(server);
  return { url: new URL(`http://127.0.0.1:${port}/`), requests, sockets, connections: () => connections };
};

const answer = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

const JSON_HEADERS = { 'content-type': 'application/x-amz-json-1.0' };

describe('the HTTP/1.1 transport', () => {
  it('sends one POST with the path, the given headers, host and the body length in bytes', async () => {
    // Prepare
    const seen: { method?: string; path?: string; headers?: IncomingMessage['headers']; body?: string } = {};
    const { url } = await httpStub((request, body, response) => {
      Object.assign(seen, { method: request.method, path: request.url, headers: request.headers, body });
      response.end('{}');
    });
    const body = JSON.stringify({ name: 'café €' });

    // Act
    await newTransport().send(
      new URL('/a/b?x=1', url),
      { ...JSON_HEADERS, 'X-Amz-Target': 'DynamoDB_20120810.GetItem' },
      body,
      2_000,
    );

    // Assess
    expect(seen).toMatchObject({ method: 'POST', path: '/a/b?x=1', body });
    expect(seen.headers).toMatchObject({
      host: url.host,
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.GetItem',
      'content-length': String(Buffer.byteLength(body)),
    });
  });

  it('answers 4xx and 5xx as answers with status, lower-case headers and body', async () => {
    const { url } = await httpStub((_request, _body, response) => {
      response.writeHead(400, { 'X-Amzn-ErrorType': 'ValidationException', 'X-Amzn-RequestId': 'r-1' });
      response.end('{"message":"bad key"}');
    });

    const result = await newTransport().send(url, JSON_HEADERS, '{}', 2_000);

    expect(result.status).toBe(400);
    expect(result.headers).toMatchObject({
      'x-amzn-errortype': 'ValidationException',
      'x-amzn-requestid': 'r-1',
    });
    expect(result.text).toBe('{"message":"bad key"}');
  });

  it('reuses one connection over 50 sequential calls', async () => {
    const { url, connections } = await httpStub((_request, body, response) => response.end(`echo ${body}`));
    cleanups.push(closeIdleConnections);

    for (let i = 0; i < 50; i++) {
      expect((await send(url, JSON_HEADERS, `call ${i}`, 2_000)).text).toBe(`echo call ${i}`);
    }

    expect(connections()).toBe(1);
    expect(openConnections()).toBe(1);
  });

  it('opens more sockets for concurrent calls, and each call gets its own answer', async () => {
    // Answers come back in the reverse order of the requests: the first waits longest.
    const { url, connections } = await httpStub((_request, body, response) => {
      setTimeout(() => response.end(`echo ${body}`), 40 - 4 * Number(body));
    });
    const transport = newTransport();
    const burst = () =>
      Promise.all(Array.from({ length: 10 }, (_, i) => transport.send(url, JSON_HEADERS, String(i), 2_000)));

    const first = await burst();
    const second = await burst();

    for (const answers of [first, second]) {
      expect(answers.map((a) => a.text)).toEqual(Array.from({ length: 10 }, (_, i) => `echo ${i}`));
    }
    expect(connections()).toBe(10); // the second burst reused the first's sockets
  });

  it('caps the sockets per origin; calls beyond it wait for a free one', async () => {
    const { url, connections } = await httpStub((_request, body, response) => {
      setTimeout(() => response.end(`echo ${body}`), 10);
    });
    const transport = newTransport({ maxSocketsPerOrigin: 3 });

    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => transport.send(url, JSON_HEADERS, String(i), 2_000)),
    );

    expect(answers.map((a) => a.text)).toEqual(Array.from({ length: 10 }, (_, i) => `echo ${i}`));
    expect(connections()).toBe(3);
  });

  it('reads a chunked answer written in pieces, then reuses the connection', async () => {
    const { url, connections } = await httpStub(async (_request, body, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      for (const piece of ['{"Items":[', `"${body}"`, ']}']) {
        response.write(piece);
        await sleep(5);
      }
      response.end();
    });
    const transport = newTransport();

    const first = await transport.send(url, JSON_HEADERS, 'a', 2_000);
    const second = await transport.send(url, JSON_HEADERS, 'b', 2_000);

    expect(first.headers['transfer-encoding']).toBe('chunked');
    expect(JSON.parse(first.text)).toEqual({ Items: ['a'] });
    expect(JSON.parse(second.text)).toEqual({ Items: ['b'] });
    expect(connections()).toBe(1);
  });

  it('reads answers that arrive one byte at a time, multi-byte characters split included', async () => {
    const interim = 'HTTP/1.1 100 Continue\r\n\r\n';
    const chunked =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '4;note=x\r\n{"a"\r\n7\r\n:"€"}\r\n0\r\nX-Trailer: 1\r\n\r\n';
    const { url, connections } = await rawStub(async (socket, request) => {
      const bytes = Buffer.from(request.index === 0 ? interim + answer('{"name":"café €"}') : chunked);
      for (const byte of bytes) {
        socket.write(Buffer.of(byte));
        await sleep(1);
      }
    });
    const transport = newTransport();

    const first = await transport.send(url, JSON_HEADERS, '{}', 5_000);
    const second = await transport.send(url, JSON_HEADERS, '{}', 5_000);

    expect(first).toMatchObject({ status: 200, text: '{"name":"café €"}' });
    expect(second).toMatchObject({ status: 200, text: '{"a":"€"}' });
    expect(connections()).toBe(1);
  });

  it('does not reuse a connection after the server answered `Connection: close`', async () => {
    // The server keeps the socket open anyway: only the client's reading of the header closes it.
    const { url, connections } = await rawStub((socket) =>
      socket.write(answer('{}', 'Connection: close\r\n')),
    );
    const transport = newTransport();

    for (let i = 0; i < 3; i++)
      expect((await transport.send(url, JSON_HEADERS, '{}', 2_000)).status).toBe(200);

    expect(connections()).toBe(3);
    await until(() => transport.openConnections() === 0, 'the client to close its sockets');
  });

  it('opens a new socket when the server closed the idle one (keep-alive timeout)', async () => {
    const { server, url, connections } = await httpStub((_request, _body, response) => response.end('{}'));
    server.keepAliveTimeout = 50;
    const transport = newTransport();
    await transport.send(url, JSON_HEADERS, '{}', 2_000);
    await until(() => transport.openConnections() === 0, 'the server to close the idle socket');

    const next = await transport.send(url, JSON_HEADERS, '{}', 2_000);

    expect(next.status).toBe(200);
    expect(connections()).toBe(2);
  });

  it('retries once on a new socket when a reused one dies before any answer byte', async () => {
    // The race a keep-alive timeout leaves: the server closes just as our next request goes out.
    const { url, connections, requests } = await rawStub((socket, request) =>
      request.index === 0 ? socket.write(answer(`{"n":${request.body}}`)) : socket.destroy(),
    );
    const transport = newTransport();
    await transport.send(url, JSON_HEADERS, '1', 2_000);

    const next = await transport.send(url, JSON_HEADERS, '2', 2_000);

    expect(next.text).toBe('{"n":2}');
    expect(connections()).toBe(2);
    expect(requests.map((r) => r.body)).toEqual(['1', '2', '2']);
  });

  it('reports a new connection closed before any answer as a TransportError, without retrying', async () => {
    const { url, connections } = await rawStub((socket) => socket.destroy());

    const call = newTransport().send(url, JSON_HEADERS, '{}', 2_000);

    await expect(call).rejects.toThrow(
      new TransportError(`${url.origin}: connection closed before a complete answer`),
    );
    expect(connections()).toBe(1);
  });

  it('reports an answer cut off mid-body as a TransportError, without retrying, new socket or reused', async () => {
    const { url, connections } = await rawStub((socket, request) => {
      if (request.body === 'whole') return socket.write(answer('{}'));
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"Items":[');
      setTimeout(() => socket.destroy(), 10);
    });
    const transport = newTransport();

    await expect(transport.send(url, JSON_HEADERS, 'cut', 2_000)).rejects.toThrow(
      new TransportError(`${url.origin}: connection closed before a complete answer`),
    );
    expect(connections()).toBe(1);
    await transport.send(url, JSON_HEADERS, 'whole', 2_000);
    await expect(transport.send(url, JSON_HEADERS, 'cut', 2_000)).rejects.toThrow(
      /closed before a complete answer/,
    );
    expect(connections()).toBe(2);
  });

  it('rejects an answer that is not HTTP, or whose length is not a number, at once', async () => {
    const { url } = await rawStub((socket, request) =>
      socket.write(
        request.body === 'ssh'
          ? 'SSH-2.0-OpenSSH_9.6\r\n'
          : 'HTTP/1.1 200 OK\r\ncontent-length: 2; drop table\r\n\r\n{}',
      ),
    );
    const transport = newTransport();

    await expect(transport.send(url, JSON_HEADERS, 'ssh', 2_000)).rejects.toThrow(
      new TransportError('not an HTTP/1.x answer: "SSH-2.0-OpenSSH_9.6\\r\\n"'),
    );
    await expect(transport.send(url, JSON_HEADERS, 'bad length', 2_000)).rejects.toThrow(
      new TransportError('bad content-length: "2; drop table"'),
    );
  });

  it('gives up after the timeout and closes the socket', async () => {
    const { url, sockets } = await rawStub(() => {});
    const transport = newTransport();
    const started = Date.now();

    const call = transport.send(url, JSON_HEADERS, '{}', 100);

    await expect(call).rejects.toThrow(new TransportError(`${url.origin}: no answer within 100 ms`));
    expect(Date.now() - started).toBeGreaterThanOrEqual(99);
    await until(() => sockets.size === 0 && transport.openConnections() === 0, 'the socket to close');
  });

  it('refuses a header that would inject a line, or a wrong content-length, before connecting', async () => {
    const { url, connections } = await rawStub((socket) => socket.write(answer('{}')));
    const transport = newTransport();

    await expect(transport.send(url, { 'x-a': 'b\r\nx-evil: 1' }, '{}', 2_000)).rejects.toThrow(TypeError);
    await expect(transport.send(url, { 'content-length': '1' }, '{}', 2_000)).rejects.toThrow(/2 bytes/);
    expect(connections()).toBe(0);
  });
});

describe('the HTTP/1.1 transport at cold start', () => {
  it('loads neither node:http nor node:tls for an http origin, and TLS once an https one is used', async () => {
    // A fresh process: this one has loaded both already. Port 1 refuses: no server needed.
    const script = `
      const loaded = () => ['http', 'tls'].filter((name) => process.moduleLoadList.includes('NativeModule ' + name));
      const { send } = await import('./shared/aws/http-transport.ts');
      const refused = await send(new URL('http://127.0.0.1:1/'), {}, '{}', 2000).catch((error) => error.name);
      const afterHttp = loaded();
      await send(new URL('https://127.0.0.1:1/'), {}, '{}', 2000).catch(() => {});
      console.log(JSON.stringify({ refused, afterHttp, afterHttps: loaded() }));`;

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: new URL('../../..', import.meta.url) },
    );

    expect(JSON.parse(stdout)).toEqual({ refused: 'TransportError', afterHttp: [], afterHttps: ['tls'] });
  });
});

describe('the HTTP/1.1 transport over TLS', () => {
  const authority = (name: string) =>
    generate([{ name: 'commonName', value: name }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      ],
    });
  const leaf = (ca: GenerateResult) =>
    generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] },
      ],
    });

  const httpsStub = async () => {
    const ca = await authority('Test CA');
    const certificate = await leaf(ca);
    const servernames: unknown[] = [];
    const server = createHttpsServer(
      { key: certificate.private, cert: certificate.cert },
      (request, response) => {
        servernames.push((request.socket as TLSSocket).servername);
        response.end('{"ok":true}');
      },
    );
    let connections = 0;
    server.on('secureConnection', () => connections++);
    cleanups.push(() => server.closeAllConnections());
    const port = await listen(server);
    return { ca: ca.cert, port, servernames, connections: () => connections };
  };

  it('sends the host name as SNI, verifies the certificate with the given CA and keeps the connection', async () => {
    const { ca, port, servernames, connections } = await httpsStub();
    const transport = newTransport({ tls: { ca } });
    const url = new URL(`https://localhost:${port}/`);

    for (let i = 0; i < 3; i++)
      expect((await transport.send(url, JSON_HEADERS, '{}', 5_000)).text).toBe('{"ok":true}');

    expect(servernames).toEqual(['localhost', 'localhost', 'localhost']);
    expect(connections()).toBe(1);
  });

  it('refuses a certificate from another CA, or none it trusts by default', async () => {
    const { port, connections } = await httpsStub();
    const other = await authority('Other CA');
    const url = new URL(`https://localhost:${port}/`);

    const withOther = newTransport({ tls: { ca: other.cert } }).send(url, JSON_HEADERS, '{}', 5_000);
    const withDefaults = newTransport().send(url, JSON_HEADERS, '{}', 5_000);

    const untrusted = { name: 'TransportError', cause: { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' } };
    await expect(withOther).rejects.toMatchObject(untrusted);
    await expect(withDefaults).rejects.toMatchObject(untrusted);
    expect(connections()).toBe(0);
  });

  it('refuses a valid certificate issued for another name', async () => {
    const { ca, port } = await httpsStub();

    const call = newTransport({ tls: { ca } }).send(
      new URL(`https://127.0.0.1:${port}/`),
      JSON_HEADERS,
      '{}',
      5_000,
    );

    await expect(call).rejects.toMatchObject({
      name: 'TransportError',
      cause: { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    });
  });
});
