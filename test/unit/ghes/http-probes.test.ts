import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { generate, type GenerateResult } from 'selfsigned';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/http/errors.ts';
import { createManageApi, createManagePasswords, ManageApiError } from '../../../shared/ghes/manage-api.ts';
import { isServing, probeStatus } from '../../../shared/ghes/status-probe.ts';

/**
 * The Manage API client and the /status probe against real loopback HTTP(S) servers: status codes,
 * a server that never answers, a closed port, and TLS from an internal CA on an address.
 */
const vector = (name: string) => readFileSync(new URL(`../../vectors/ghes/${name}`, import.meta.url), 'utf8');
const SECRET = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ghes-manage';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
};

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const seen: { url?: string; authorization?: string }[] = [];
const httpServer = async (handler: Handler) => {
  const port = await listen(
    createServer((req, res) => {
      seen.push({ url: req.url, authorization: req.headers.authorization });
      handler(req, res);
    }),
  );
  return `http://127.0.0.1:${port}`;
};
/** Accepts the connection and never answers. */
const silentServer = () => httpServer(() => undefined);
const closedPort = async () => {
  const server = createServer();
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
};

describe('/status probe', () => {
  it('reports 200 from the active primary, and that it serves', async () => {
    const base = await httpServer((_req, res) => res.writeHead(200).end('ok'));
    const result = await probeStatus(`${base}/status`);
    expect(result).toMatchObject({ status: 200 });
    expect(isServing(result)).toBe(true);
    expect(seen.at(-1)?.url).toBe('/status');
  });

  it('reports 503 from a replica or an appliance in maintenance, which does not serve', async () => {
    const base = await httpServer((_req, res) => res.writeHead(503).end('maintenance'));
    const result = await probeStatus(`${base}/status`);
    expect(result).toMatchObject({ status: 503 });
    expect(isServing(result)).toBe(false);
  });

  it('does not follow a redirect: a 301 is not a 200', async () => {
    const base = await httpServer((_req, res) =>
      res.writeHead(301, { location: 'https://elsewhere/status' }).end(),
    );
    expect(await probeStatus(`${base}/status`)).toMatchObject({ status: 301 });
  });

  it('gives up on an appliance that accepts the connection but never answers, at its timeout', async () => {
    const base = await silentServer();
    const result = await probeStatus(`${base}/status`, { timeoutMs: 300 });
    expect(result).toMatchObject({ unreachable: 'timeout' });
    expect(result.ms).toBeGreaterThanOrEqual(290);
    expect(result.ms).toBeLessThan(2_000);
    expect(isServing(result)).toBe(false);
  });

  it('reports a closed port as refused, and a bad URL as unreachable, without throwing', async () => {
    expect(await probeStatus(`${await closedPort()}/status`)).toMatchObject({ unreachable: 'refused' });
    expect(await probeStatus('not a url')).toMatchObject({ unreachable: 'network' });
  });

  describe('over TLS from an internal CA, by address', () => {
    const authority = () =>
      generate([{ name: 'commonName', value: 'Acme Internal Root CA' }], {
        keyType: 'ec',
        algorithm: 'sha256',
        extensions: [
          { name: 'basicConstraints', cA: true, critical: true },
          { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
        ],
      });
    /** The appliance's certificate names its host name, not the address the probe uses. */
    const start = async (ca: GenerateResult) => {
      const certificate = await generate([{ name: 'commonName', value: 'ghes.internal' }], {
        keyType: 'ec',
        algorithm: 'sha256',
        ca: { key: ca.private, cert: ca.cert },
        extensions: [
          { name: 'basicConstraints', cA: false },
          { name: 'extKeyUsage', serverAuth: true },
          { name: 'subjectAltName', altNames: [{ type: 2, value: 'ghes.internal' }] },
        ],
      });
      const server = createHttpsServer({ key: certificate.private, cert: certificate.cert }, (_req, res) =>
        res.writeHead(200).end('ok'),
      );
      return `https://127.0.0.1:${await listen(server as unknown as Server)}/status`;
    };

    it('trusts the certificate with the CA and the name it carries', async () => {
      const ca = await authority();
      const url = await start(ca);
      expect(await probeStatus(url, { ca: ca.cert, serverName: 'ghes.internal' })).toMatchObject({
        status: 200,
      });
    });

    it('refuses it without the CA, with another CA, and with the CA but the wrong name', async () => {
      const ca = await authority();
      const url = await start(ca);
      expect(await probeStatus(url, { serverName: 'ghes.internal' })).toMatchObject({ unreachable: 'tls' });
      expect(
        await probeStatus(url, { ca: (await authority()).cert, serverName: 'ghes.internal' }),
      ).toMatchObject({
        unreachable: 'tls',
      });
      expect(await probeStatus(url, { ca: ca.cert })).toMatchObject({ unreachable: 'tls' });
      expect(await probeStatus(url, { ca: ca.cert, serverName: 'other.internal' })).toMatchObject({
        unreachable: 'tls',
      });
    });
  });
});

describe('Manage API client', () => {
  const manageApi = (timeoutMs = 2_000) => createManageApi({ password: async () => 'p@ss:word', timeoutMs });

  it('GETs the path with basic auth api_key:<password> and returns the JSON', async () => {
    const base = await httpServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(vector('manage-api-maintenance.json')),
    );
    const answer = await manageApi().get(
      { url: `${base}/`, passwordSecretArn: SECRET },
      '/manage/v1/maintenance',
    );
    expect(answer).toEqual(JSON.parse(vector('manage-api-maintenance.json')));
    expect(seen.at(-1)).toEqual({
      url: '/manage/v1/maintenance',
      authorization: `Basic ${Buffer.from('api_key:p@ss:word').toString('base64')}`,
    });
  });

  it('names the secret, never the password, when the password is refused', async () => {
    const base = await httpServer((_req, res) => res.writeHead(401).end('{"message":"Unauthorized"}'));
    const error = await manageApi()
      .get({ url: base, passwordSecretArn: SECRET }, '/manage/v1/replication/status')
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(ManageApiError);
    expect(error).toMatchObject({ reason: 'unauthorized', status: 401 });
    expect((error as Error).message).toContain(SECRET);
    expect((error as Error).message).not.toContain('p@ss');
  });

  it('reports a 503 as an http failure with its status', async () => {
    const base = await httpServer((_req, res) => res.writeHead(503).end('busy'));
    await expect(
      manageApi().get({ url: base, passwordSecretArn: SECRET }, '/manage/v1/maintenance'),
    ).rejects.toMatchObject({ name: 'ManageApiError', reason: 'http', status: 503 });
  });

  it('gives up at its timeout on an API that never answers', async () => {
    const base = await silentServer();
    const started = Date.now();
    await expect(
      manageApi(300).get({ url: base, passwordSecretArn: SECRET }, '/manage/v1/maintenance'),
    ).rejects.toMatchObject({ reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('reports a 200 that is not JSON as invalid-json', async () => {
    const base = await httpServer((_req, res) => res.writeHead(200).end('<html>Management Console</html>'));
    await expect(
      manageApi().get({ url: base, passwordSecretArn: SECRET }, '/manage/v1/maintenance'),
    ).rejects.toMatchObject({ reason: 'invalid-json' });
  });

  it('reports a closed port as refused', async () => {
    await expect(
      manageApi().get({ url: await closedPort(), passwordSecretArn: SECRET }, '/manage/v1/maintenance'),
    ).rejects.toMatchObject({ reason: 'refused' });
  });
});

describe('Manage API passwords from Secrets Manager', () => {
  it('reads each secret once within the cache window, again after it, and does not cache a failure', async () => {
    let clock = 0;
    const answers = [Promise.reject(new Error('throttled')), Promise.resolve({ SecretString: 'one' })];
    answers[0]!.catch(() => undefined);
    const calls: unknown[] = [];
    const password = createManagePasswords(
      async <T>(operation: string, input: object) => {
        calls.push([operation, input]);
        return ((await answers.shift()) ?? { SecretString: 'two' }) as T;
      },
      { cacheMs: 1_000, now: () => clock },
    );
    await expect(password(SECRET)).rejects.toThrow('throttled');
    expect(await password(SECRET)).toBe('one');
    clock = 999;
    expect(await password(SECRET)).toBe('one');
    clock = 1_000;
    expect(await password(SECRET)).toBe('two');
    expect(calls).toEqual(Array(3).fill(['GetSecretValue', { SecretId: SECRET }]));
  });

  it('refuses a blank password with a ConfigError naming the secret', async () => {
    const password = createManagePasswords(async <T>() => ({ SecretString: '  ' }) as T);
    const error = await password(SECRET).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(`Manage API password ${SECRET}: is blank`);
  });
});
