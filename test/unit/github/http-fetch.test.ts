import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpFetch } from '../../../shared/github/http-fetch.ts';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A loopback server answering with `answer(request)`; records what it was sent. */
const serve = async (
  answer: (seen: Seen) => { status: number; headers?: Record<string, string | string[]>; body?: string },
) => {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      seen.push(request);
      const { status, headers = {}, body = '' } = answer(request);
      res.writeHead(status, headers).end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
};

describe('the fetch octokit calls GitHub with', () => {
  it('sends the method, headers and body, and reads status, headers and body back', async () => {
    // Prepare
    const github = await serve(() => ({
      status: 201,
      headers: {
        'content-type': 'application/json',
        'x-github-enterprise-version': '3.14.0',
        link: ['<a>', '<b>'],
      },
      body: '{"encoded_jit_config":"abc"}',
    }));

    // Act
    const response = await createHttpFetch()(`${github.url}/orgs/acme/actions/runners/generate-jitconfig`, {
      method: 'POST',
      headers: { authorization: 'token t', 'content-type': 'application/json' },
      body: '{"name":"r-1"}',
    });

    // Assess
    expect(github.seen).toMatchObject([
      {
        method: 'POST',
        url: '/orgs/acme/actions/runners/generate-jitconfig',
        headers: { authorization: 'token t', 'content-length': '14' },
        body: '{"name":"r-1"}',
      },
    ]);
    expect(response.status).toBe(201);
    expect(response.headers.get('X-GitHub-Enterprise-Version')).toBe('3.14.0');
    expect(Object.fromEntries(response.headers)).toMatchObject({ link: '<a>, <b>' });
    expect(await response.text()).toBe('{"encoded_jit_config":"abc"}');
    expect(Buffer.from(await response.arrayBuffer()).toString()).toBe('{"encoded_jit_config":"abc"}');
  });

  it("follows a renamed repository's redirect as fetch does: GET stays GET, 307 keeps the POST and its body", async () => {
    // Prepare
    const github = await serve(({ url }) =>
      url === '/repos/acme/old/actions/jobs/1'
        ? { status: 301, headers: { location: '/repositories/9/actions/jobs/1' } }
        : url === '/repos/acme/old/actions/runners/registration-token'
          ? { status: 307, headers: { location: '/repositories/9/actions/runners/registration-token' } }
          : { status: 200, body: url },
    );
    const fetch = createHttpFetch();

    // Act
    const get = await fetch(`${github.url}/repos/acme/old/actions/jobs/1`, {
      headers: { authorization: 'token t' },
    });
    const post = await fetch(`${github.url}/repos/acme/old/actions/runners/registration-token`, {
      method: 'POST',
      headers: { authorization: 'token t' },
      body: '{}',
    });

    // Assess
    expect([await get.text(), get.url]).toEqual([
      '/repositories/9/actions/jobs/1',
      `${github.url}/repositories/9/actions/jobs/1`,
    ]);
    expect(await post.text()).toBe('/repositories/9/actions/runners/registration-token');
    expect(
      github.seen.map(({ method, url, headers, body }) => [method, url, headers.authorization, body]),
    ).toEqual([
      ['GET', '/repos/acme/old/actions/jobs/1', 'token t', ''],
      ['GET', '/repositories/9/actions/jobs/1', 'token t', ''],
      ['POST', '/repos/acme/old/actions/runners/registration-token', 'token t', '{}'],
      ['POST', '/repositories/9/actions/runners/registration-token', 'token t', '{}'],
    ]);
  });

  it('does not send the token to another origin a redirect points at', async () => {
    // Prepare
    const elsewhere = await serve(() => ({ status: 200, body: 'ok' }));
    const github = await serve(() => ({ status: 302, headers: { location: `${elsewhere.url}/file` } }));

    // Act
    const response = await createHttpFetch()(`${github.url}/repos/acme/app/tarball`, {
      headers: { authorization: 'token t', accept: 'application/json' },
    });

    // Assess
    expect(await response.text()).toBe('ok');
    expect(elsewhere.seen[0]!.headers.authorization).toBeUndefined();
    expect(elsewhere.seen[0]!.headers.accept).toBe('application/json');
  });

  it('fails as fetch fails when nothing answers: a TypeError whose cause names the network error', async () => {
    // Prepare: a port nothing listens on any more
    const gone = await serve(() => ({ status: 200 }));
    await new Promise((resolve) => servers.pop()!.close(resolve));

    // Act
    const error = await createHttpFetch()(`${gone.url}/`).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    // Assess
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error & { cause: { code: string } }).cause.code).toBe('ECONNREFUSED');
  });
});
