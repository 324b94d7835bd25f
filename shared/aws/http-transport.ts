import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

/**
 * A minimal HTTP/1.1 client for one job: POST a small JSON body to an AWS endpoint over a kept-alive
 * connection and read the whole answer.
 *
 * Why not `node:http`: ClientRequest, IncomingMessage, llhttp and the Agent's bookkeeping cost
 * 0.1–0.25 ms of CPU per keep-alive POST (less only after tens of thousands of calls of JIT); one
 * socket write and this parser cost a third to a half of that (test/bench/http-transport-cpu.ts),
 * and the webhook makes two AWS calls on a 0.8 ms budget.
 * Left out because AWS's JSON APIs never need them: pipelining, streamed or chunked request bodies,
 * `Expect: 100-continue`, redirects, proxies, compression (no `Accept-Encoding` is sent).
 *
 * `node:net` / `node:tls` are taken with `process.getBuiltinModule` on first use, never imported:
 * an ESM import builds the module's facade at load (tens of ms at cold start, measured for
 * node:http), and TLS is loaded only for https origins (AWS itself, not the loopback twin).
 */

/** The request never got a complete answer: connection refused or lost, bad TLS, timeout, not HTTP. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
}

export interface HttpAnswer {
  readonly status: number;
  /** Lower-case names; a repeated header's values joined with `, `; no prototype. */
  readonly headers: Record<string, string>;
  readonly text: string;
}

/** AWS's answer heads are well under 1 KiB: a head (or chunk line) longer than this is not AWS. */
const MAX_HEAD = 16_384;

/** Reads one answer from the bytes of one socket, in whatever pieces they arrive. */
class AnswerReader {
  status = 0;
  headers: Record<string, string> = Object.create(null); // so a `__proto__` header stays a header
  /** False once the server says it will close, or the body runs to the connection's end. */
  reusable = true;
  started = false;
  private state: 'head' | 'body' | 'size' | 'crlf' | 'trailer' | 'done' = 'head';
  private chunked = false;
  private left = 0; // bytes still due in the body or chunk; Infinity: until the server closes
  private pending: Buffer | undefined; // a head or line not yet complete
  private readonly parts: Buffer[] = [];

  /** True once the answer is complete. */
  feed(chunk: Buffer): boolean {
    this.started = true;
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    while (this.state !== 'done') {
      if (this.state === 'body') {
        const take = Math.min(this.left, data.length);
        if (take > 0) this.parts.push(data.subarray(0, take));
        this.left -= take;
        data = data.subarray(take);
        if (this.left > 0) return false;
        this.state = this.chunked ? 'crlf' : 'done';
        continue;
      }
      // The head ends at an empty line; a chunk size, a chunk's end and a trailer are a line each.
      // Something else on the port (a TLS server, SSH) is told apart at once, not at the timeout.
      if (this.state === 'head' && !'HTTP/1.'.startsWith(data.toString('latin1', 0, 7))) {
        throw new TransportError(`not an HTTP/1.x answer: ${JSON.stringify(data.toString('latin1', 0, 40))}`);
      }
      const separator = this.state === 'head' ? '\r\n\r\n' : '\r\n';
      const end = data.indexOf(separator);
      if (end < 0) {
        if (data.length > MAX_HEAD) throw new TransportError(`answer head longer than ${MAX_HEAD} bytes`);
        if (data.length > 0) this.pending = data;
        return false;
      }
      const text = data.toString('latin1', 0, end);
      data = data.subarray(end + separator.length);
      if (this.state === 'head') this.head(text);
      else if (this.state === 'size') this.size(text);
      else if (this.state === 'crlf') {
        if (text !== '') throw new TransportError('chunk longer than its size');
        this.state = 'size';
      } else if (text === '') this.state = 'done'; // the empty line after the (ignored) trailers
    }
    // Bytes past the answer answer nothing we asked (one request per socket at a time): the
    // connection is out of step, so it is not reused.
    if (data.length > 0) this.reusable = false;
    return true;
  }

  /** The server closed its side: true if that is how this answer ends (no length, not chunked). */
  closed(): boolean {
    if (this.state !== 'body' || this.left !== Infinity) return false;
    this.state = 'done';
    return true;
  }

  text(): string {
    return this.parts.length === 1
      ? this.parts[0]!.toString('utf8')
      : Buffer.concat(this.parts).toString('utf8');
  }

  private head(text: string): void {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: |$)/.exec(lines[0]!);
    if (!status)
      throw new TransportError(`not an HTTP/1.x answer: ${JSON.stringify(lines[0]!.slice(0, 40))}`);
    // 100 Continue, 103 Early Hints: interim, the answer follows.
    if (status[2]!.startsWith('1')) return;
    this.status = Number(status[2]);
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0)
        throw new TransportError(`malformed answer header: ${JSON.stringify(line.slice(0, 40))}`);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      this.headers[name] = name in this.headers ? `${this.headers[name]}, ${value}` : value;
    }
    const { connection = '', 'transfer-encoding': coding, 'content-length': length } = this.headers;
    this.reusable = status[1] === '1' ? !/close/i.test(connection) : /keep-alive/i.test(connection);
    this.state = 'body';
    if (this.status === 204 || this.status === 304) {
      this.state = 'done';
    } else if (coding !== undefined) {
      // RFC 9112 §6.3: chunked as the last coding frames the body; any other runs to the close.
      // A coding and a length both is a request-smuggling smell: read the answer, drop the socket.
      this.chunked = /(?:^|,)\s*chunked\s*$/i.test(coding);
      if (this.chunked) this.state = 'size';
      else this.left = Infinity;
      if (!this.chunked || length !== undefined) this.reusable = false;
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(length))
        throw new TransportError(`bad content-length: ${JSON.stringify(length)}`);
      this.left = Number(length);
    } else {
      this.left = Infinity;
      this.reusable = false;
    }
  }

  private size(line: string): void {
    // A hex size, then `;extensions` (RFC 9112 §7.1.1) nobody needs here.
    const size = /^([0-9a-fA-F]{1,8})[ \t]*(?:;|$)/.exec(line);
    if (!size) throw new TransportError(`bad chunk size line: ${JSON.stringify(line.slice(0, 40))}`);
    this.left = parseInt(size[1]!, 16);
    this.state = this.left === 0 ? 'trailer' : 'body';
  }
}

interface Exchange {
  readonly reader: AnswerReader;
  /** Settles the call; without an error, the reader holds a complete answer. */
  end(error?: TransportError): void;
}

interface Connection {
  readonly socket: Socket;
  /** Answers read so far: above 0, the socket sat idle and the server may have closed it meanwhile. */
  answers: number;
  exchange: Exchange | undefined;
}

export interface HttpTransportOptions {
  /** Trusted CAs for https origins (a test server, a private endpoint); certificates are always verified. */
  readonly tls?: Pick<ConnectionOptions, 'ca'>;
  /** Sockets open at once per origin; further calls wait for one to be free (a Lambda container never needs more; the twin runs every container in one process). @default 128 */
  readonly maxSocketsPerOrigin?: number;
}

/** The sockets to one origin: idle ones reused last-in first-out, so the coldest expire unused. */
class Pool {
  readonly idle: Connection[] = [];
  readonly waiting: ((connection: Connection) => void)[] = [];
  size = 0;

  constructor(
    readonly origin: string,
    private readonly url: URL,
    private readonly options: HttpTransportOptions,
  ) {}

  /** An idle socket still open, else a new one under the cap, else undefined: wait in `waiting`. */
  take(): Connection | undefined {
    for (let connection; (connection = this.idle.pop());) {
      const { socket } = connection;
      if (!socket.destroyed && socket.writable && !socket.readableEnded) return connection;
      socket.destroy();
    }
    return this.size < (this.options.maxSocketsPerOrigin ?? 128) ? this.open() : undefined;
  }

  open(): Connection {
    const tls = this.url.protocol === 'https:';
    const host = this.url.hostname.replace(/^\[(.*)\]$/, '$1'); // [::1] → ::1
    const port = Number(this.url.port) || (tls ? 443 : 80);
    const net = process.getBuiltinModule('node:net');
    const socket: Socket = tls
      ? process.getBuiltinModule('node:tls').connect({
          ...this.options.tls,
          host,
          port,
          servername: net.isIP(host) ? undefined : host, // SNI takes names only (RFC 6066 §3)
        })
      : net.connect({ host, port });
    socket.setNoDelay(true);
    // An idle pooled socket must not keep a script or test alive; during a call, its timer does.
    socket.unref();
    const connection: Connection = { socket, answers: 0, exchange: undefined };
    this.size++;
    socket.on('data', (chunk: Buffer) => {
      const exchange = connection.exchange;
      if (!exchange) return void socket.destroy(); // bytes no request asked for
      let complete: boolean;
      try {
        complete = exchange.reader.feed(chunk);
      } catch (error) {
        return exchange.end(error as TransportError);
      }
      if (complete) exchange.end();
    });
    socket.on('end', () => {
      if (connection.exchange?.reader.closed()) connection.exchange.end();
    });
    socket.on('error', (error) => {
      connection.exchange?.end(new TransportError(`${this.origin}: ${error.message}`, { cause: error }));
    });
    socket.on('close', () => {
      this.size--;
      const at = this.idle.indexOf(connection);
      if (at >= 0) this.idle.splice(at, 1);
      connection.exchange?.end(
        new TransportError(`${this.origin}: connection closed before a complete answer`),
      );
      const next = this.waiting.shift();
      if (next) next(this.open());
    });
    return connection;
  }

  release(connection: Connection, reusable: boolean): void {
    connection.answers++;
    if (!reusable) return void connection.socket.destroy();
    const next = this.waiting.shift();
    if (next) next(connection);
    else this.idle.push(connection);
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const serialise = (url: URL, headers: Record<string, string>, body: string): string => {
  const length = Buffer.byteLength(body);
  let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\n`;
  let host = false;
  for (const name in headers) {
    const value = headers[name]!;
    // A CR or LF inside a header would let it write headers, or a whole request, of its own.
    if (!TOKEN.test(name) || /[\r\n\0]/.test(value))
      throw new TypeError(`header ${JSON.stringify(name)} is not valid HTTP`);
    const lower = name.toLowerCase();
    if (lower === 'host') host = true;
    else if (lower === 'transfer-encoding' || lower === 'connection')
      throw new TypeError(`header ${name} is the transport's`);
    else if (lower === 'content-length') {
      // A wrong length would leave the server reading our next request as this one's body.
      if (value !== String(length))
        throw new TypeError(`content-length ${value} but the body has ${length} bytes`);
      continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  if (!host) head += `host: ${url.host}\r\n`;
  return `${head}content-length: ${length}\r\n\r\n${body}`;
};

export interface HttpTransport {
  /** POST `body`; resolves with any HTTP answer (4xx and 5xx included), rejects with `TransportError`. */
  send(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<HttpAnswer>;
  /** Sockets open (idle or busy) across origins. */
  openConnections(): number;
  closeIdleConnections(): void;
}

export const createHttpTransport = (options: HttpTransportOptions = {}): HttpTransport => {
  const pools = new Map<string, Pool>();
  const poolFor = (url: URL): Pool => {
    const origin = url.origin;
    let pool = pools.get(origin);
    if (!pool) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new TypeError(`not an http(s) URL: ${origin}`);
      pools.set(origin, (pool = new Pool(origin, url, options)));
    }
    return pool;
  };

  const send = (url: URL, headers: Record<string, string>, body: string, timeoutMs: number) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const request = serialise(url, headers, body);
      const pool = poolFor(url);
      let current: Connection | undefined;
      const timer = setTimeout(() => {
        const at = pool.waiting.indexOf(start);
        if (at >= 0) pool.waiting.splice(at, 1);
        if (current) {
          current.exchange = undefined;
          current.socket.destroy();
        }
        reject(new TransportError(`${pool.origin}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const start = (connection: Connection) => {
        current = connection;
        const reader = new AnswerReader();
        const reused = connection.answers > 0;
        connection.exchange = {
          reader,
          end: (error) => {
            connection.exchange = undefined;
            // A reused socket that dies before a byte of answer was most likely closed by the server
            // while idle (keep-alive timeout) as our request went out: try once on a new socket. A new
            // socket failing is a real failure. The server may have seen the request: at-least-once,
            // as with any retry of a lost answer.
            if (error && reused && !reader.started) return start(pool.open());
            clearTimeout(timer);
            if (error) {
              connection.socket.destroy();
              return reject(error);
            }
            pool.release(connection, reader.reusable);
            resolve({ status: reader.status, headers: reader.headers, text: reader.text() });
          },
        };
        connection.socket.write(request);
      };
      const ready = pool.take();
      if (ready) start(ready);
      else pool.waiting.push(start);
    });

  return {
    send,
    openConnections: () => [...pools.values()].reduce((sum, pool) => sum + pool.size, 0),
    closeIdleConnections: () => {
      for (const pool of pools.values()) for (const { socket } of pool.idle.splice(0)) socket.destroy();
    },
  };
};

/** One transport for the container: a warm invocation reuses the connections the last one opened. */
const shared = createHttpTransport();
export const { send, openConnections, closeIdleConnections } = shared;
