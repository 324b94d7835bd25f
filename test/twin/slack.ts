import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FaultInjector } from './faults.ts';

/**
 * A loopback Slack Web API for `chat.postMessage` and `chat.update`, answering as Slack does: HTTP
 * 200 with `{"ok":true,"channel":"C…","ts":"…"}`, or `{"ok":false,"error":"channel_not_found"}`;
 * HTTP 429 with `retry-after` when rate limited. A bad bot token is `invalid_auth`; a channel is
 * known by its ID or its `#name` (postMessage only: chat.update wants the ID, as on Slack). Every
 * call is recorded as sent, failures included. Faults: `slack:chat.postMessage` / `slack:chat.update`
 * with Slack's own error codes (`ratelimited` answers 429 with `retry-after: 1`).
 */
export interface SlackCall {
  readonly at: string;
  readonly method: string;
  readonly channel: string | null;
  /** The message's ts: the one posted, or the one updated. */
  readonly ts: string | null;
  readonly text: string | null;
  readonly blocks: unknown;
  readonly threadTs: string | null;
  /** Slack's error code when the call failed. */
  readonly error: string | null;
}

export interface SlackTwin {
  /** What the Slack client's `apiUrl` is set to. */
  readonly apiUrl: string;
  readonly calls: readonly SlackCall[];
  /** Fault targets and the Slack errors each can be armed with (HTTP status as Slack answers). */
  readonly faultTargets: ReadonlyMap<string, Readonly<Record<string, number>>>;
  close(): Promise<void>;
}

const CHAT_ERRORS: Record<string, number> = {
  ratelimited: 429,
  channel_not_found: 200,
  not_in_channel: 200,
  is_archived: 200,
  invalid_auth: 200,
  token_revoked: 200,
  internal_error: 200,
  fatal_error: 200,
  invalid_blocks: 200,
  msg_too_long: 200,
};

const read = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

/** @slack/web-api sends form fields (objects as JSON strings); other clients send JSON. */
const argsOf = (body: string, contentType = ''): Record<string, unknown> => {
  if (contentType.includes('application/json')) return JSON.parse(body || '{}') as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    args[key] = key === 'blocks' || key === 'attachments' ? JSON.parse(value) : value;
  }
  return args;
};

export const startSlackTwin = async (options: {
  botToken: string;
  /** `#name` → channel ID. */
  channels: Readonly<Record<string, string>>;
  faults: FaultInjector;
}): Promise<SlackTwin> => {
  const calls: SlackCall[] = [];
  const ids = new Set(Object.values(options.channels));
  /** ts → channel ID of every message posted. */
  const messages = new Map<string, string>();
  let seq = 0;
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;

  const answer = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    void (async () => {
      const method = new URL(req.url ?? '/', 'http://slack').pathname.replace(/^\/api\//, '');
      const args = argsOf(await read(req), req.headers['content-type']);
      const channelArg = typeof args.channel === 'string' ? args.channel : null;
      const record = (fields: Partial<SlackCall>) =>
        calls.push({
          at: new Date().toISOString(),
          method,
          channel: channelArg,
          ts: typeof args.ts === 'string' ? args.ts : null,
          text: typeof args.text === 'string' ? args.text : null,
          blocks: args.blocks ?? null,
          threadTs: typeof args.thread_ts === 'string' ? args.thread_ts : null,
          error: null,
          ...fields,
        });
      const fail = (error: string) => {
        record({ error });
        if (error === 'ratelimited') return answer(res, 429, { ok: false, error }, { 'retry-after': '1' });
        return answer(res, 200, { ok: false, error });
      };
      if (method !== 'chat.postMessage' && method !== 'chat.update') return fail('unknown_method');
      const injected = options.faults.take(`slack:${method}`);
      if (injected) return fail(injected.code);
      if (req.headers.authorization !== `Bearer ${options.botToken}`) return fail('invalid_auth');
      if (!channelArg) return fail('channel_not_found');
      const channel =
        method === 'chat.postMessage' ? (options.channels[channelArg] ?? channelArg) : channelArg;
      if (!ids.has(channel)) return fail('channel_not_found');
      if (typeof args.text !== 'string' && args.blocks === undefined) return fail('no_text');
      if (method === 'chat.postMessage') {
        const ts = nextTs();
        messages.set(ts, channel);
        record({ channel, ts });
        return answer(res, 200, { ok: true, channel, ts, message: { text: args.text, ts } });
      }
      const ts = typeof args.ts === 'string' ? args.ts : '';
      if (messages.get(ts) !== channel) return fail('message_not_found');
      record({ channel, ts });
      return answer(res, 200, { ok: true, channel, ts, text: args.text });
    })().catch(() => answer(res, 500, { ok: false, error: 'fatal_error' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    calls,
    faultTargets: new Map([
      ['slack:chat.postMessage', CHAT_ERRORS],
      ['slack:chat.update', { ...CHAT_ERRORS, message_not_found: 200 }],
    ]),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

/** A stable channel ID for a `#name`: `#deploys` → `C0DEPLOYS`, as Slack's IDs look. */
export const channelIdOf = (name: string): string =>
  `C0${name
    .replace(/^#/, '')
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '')
    .slice(0, 9)}`;
