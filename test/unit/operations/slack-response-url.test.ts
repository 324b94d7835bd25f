import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createResponseUrlReplies,
  responseOriginsFor,
  SLACK_RESPONSE_ORIGIN,
} from '../../../shared/operations/slack-response-url.ts';
import { captureLogger } from './slack-fakes.ts';

/** A loopback stand-in for hooks.slack.com that records what it is sent. */
const startHooks = async (answer: { status?: number; delayMs?: number } = {}) => {
  const received: { path: string; body: unknown; contentType: string | undefined }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        contentType: req.headers['content-type'],
      });
      setTimeout(() => {
        res.writeHead(answer.status ?? 200);
        res.end('ok');
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

describe('replies to a click through its response_url', () => {
  let hooks: Awaited<ReturnType<typeof startHooks>> | undefined;
  afterEach(async () => hooks?.close());

  it('posts an ephemeral reply that leaves the original message as it is', async () => {
    hooks = await startHooks();
    const log = captureLogger();
    const replies = createResponseUrlReplies({ allowedOrigins: [hooks.origin], logger: log.logger });
    expect(await replies.reply(`${hooks.origin}/actions/T0/1/secret-path`, 'Already decided')).toBe('posted');
    expect(hooks.received).toEqual([
      {
        path: '/actions/T0/1/secret-path',
        contentType: 'application/json',
        body: { response_type: 'ephemeral', replace_original: false, text: 'Already decided' },
      },
    ]);
  });

  it('posts nowhere but an allowed origin, and never logs the URL', async () => {
    hooks = await startHooks();
    const log = captureLogger();
    const replies = createResponseUrlReplies({ allowedOrigins: [SLACK_RESPONSE_ORIGIN], logger: log.logger });
    expect(await replies.reply(`${hooks.origin}/actions/T0/1/secret-path`, 'x')).toBe('skipped');
    expect(await replies.reply('not a url', 'x')).toBe('skipped');
    expect(await replies.reply(undefined, 'x')).toBe('skipped');
    expect(hooks.received).toEqual([]);
    expect(log.text()).toContain(hooks.origin);
    expect(log.text()).not.toContain('secret-path');
  });

  it('gives up within its timeout and on a refusal, without throwing', async () => {
    hooks = await startHooks({ delayMs: 500 });
    const log = captureLogger();
    const slow = createResponseUrlReplies({
      allowedOrigins: [hooks.origin],
      timeoutMs: 50,
      logger: log.logger,
    });
    const started = Date.now();
    expect(await slow.reply(`${hooks.origin}/a`, 'x')).toBe('failed');
    expect(Date.now() - started).toBeLessThan(400);
    await hooks.close();
    hooks = await startHooks({ status: 404 });
    const refused = createResponseUrlReplies({ allowedOrigins: [hooks.origin], logger: log.logger });
    expect(await refused.reply(`${hooks.origin}/a`, 'x')).toBe('failed');
  });

  it('allows hooks.slack.com on AWS, and only the configured Slack API origin when one is set', () => {
    expect(responseOriginsFor(undefined)).toEqual(['https://hooks.slack.com']);
    expect(responseOriginsFor('http://127.0.0.1:4567/api/')).toEqual(['http://127.0.0.1:4567']);
  });
});
