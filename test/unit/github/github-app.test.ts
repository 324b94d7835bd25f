import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { generate, type GenerateResult } from 'selfsigned';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGithubApp, type GithubAppOptions } from '../../../shared/github/github-app.ts';
import { workflowJobPayload } from '../../support/github-deliveries.ts';
import { createTwinClock } from '../../twin/clock.ts';
import { startGithubTwin } from '../../twin/github-api.ts';

/**
 * The dispatcher's GitHub App client against the loopback GHES twin, which checks App JWTs and
 * installation tokens for real: every call here crosses HTTP, and every token is one GHES would accept.
 */
const APP_ID = 4242;
const INSTALLATION = 77;

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
  vi.useRealTimers();
});

const start = async (ghesVersion?: string) => {
  const clock = createTwinClock(0.001);
  const twin = await startGithubTwin({
    clock,
    appId: APP_ID,
    webhookSecret: 'twin-webhook-secret',
    deliverWebhook: async () => 202,
    runnerGroups: { 2: 'production-deploy' },
    ...(ghesVersion ? { ghesVersion } : {}),
  });
  cleanups.push(
    () => clock.close(),
    () => twin.close(),
  );
  const app = (extra: Partial<GithubAppOptions> = {}) =>
    createGithubApp({ apiUrl: twin.apiUrl, appId: APP_ID, privateKey: twin.privateKeyPem, ...extra });
  const callsTo = (method: string, path: RegExp) =>
    twin.calls.filter((c) => c.method === method && path.test(c.path));
  return { twin, app, callsTo };
};

/** A `workflow_job` delivery as GHES sends it: from an App (with `installation`) or a hook (without). */
const jobDelivery = (job: {
  id: number;
  repository?: string;
  labels?: string[];
  action?: 'queued' | 'in_progress' | 'completed';
  installationId?: number | null;
  ownerType?: 'Organization' | 'User';
}) => {
  const { id, repository = 'acme/app', labels = ['self-hosted', 'linux'], action = 'queued' } = job;
  const [owner, name] = repository.split('/');
  const installationId = job.installationId === undefined ? INSTALLATION : job.installationId;
  return workflowJobPayload(
    action,
    { id, run_id: id * 10, run_attempt: 1, labels, status: action, runner_id: null, runner_name: null },
    {
      repository: {
        id: 1,
        name,
        full_name: repository,
        owner: { login: owner, type: job.ownerType ?? 'Organization' },
      },
      installation: installationId === null ? undefined : { id: installationId },
    },
  );
};

const waitFor = async (what: string, check: () => boolean, timeoutMs = 3_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('runner credentials on GHES 3.10+ (JIT)', () => {
  it('requests a JIT config for the runner name and job labels; a runner started with it takes the job', async () => {
    // Prepare
    const { twin, app, callsTo } = await start();
    const labels = ['self-hosted', 'linux', 'gpu'];
    twin.observeWebhook('workflow_job', jobDelivery({ id: 501, labels }));

    // Act
    const credentials = await app().runnerCredentials({
      owner: 'acme',
      repository: 'acme/app',
      installationId: INSTALLATION,
      runnerName: 'ghes-cp-501-1-a1b2c3',
      labels,
    });

    // Assess
    expect(credentials).toMatchObject({ kind: 'jit', runnerName: 'ghes-cp-501-1-a1b2c3' });
    if (credentials.kind !== 'jit') throw new Error('expected JIT credentials');
    const config = JSON.parse(Buffer.from(credentials.encodedJitConfig, 'base64').toString('utf8'));
    expect(config).toMatchObject({ name: 'ghes-cp-501-1-a1b2c3', labels, owner: 'acme' });
    expect(twin.runners()).toEqual([
      expect.objectContaining({
        name: 'ghes-cp-501-1-a1b2c3',
        owner: 'acme',
        repo: null,
        labels,
        state: 'offline',
      }),
    ]);
    expect(callsTo('POST', /\/actions\/runners\//)).toEqual([
      { method: 'POST', path: '/api/v3/orgs/acme/actions/runners/generate-jitconfig', status: 201 },
    ]);

    twin.startRunner({ encodedJitConfig: credentials.encodedJitConfig, resourceId: 'i-0abc' });
    await waitFor('the runner to take the job', () => twin.jobs()[0]?.status === 'in_progress');
    expect(twin.jobs()[0]).toMatchObject({ id: 501, runnerName: 'ghes-cp-501-1-a1b2c3' });
  });

  it('registers the runner on the repository when runnerScope is repo', async () => {
    // Prepare
    const { twin, app, callsTo } = await start();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 502 }));

    // Act
    const credentials = await app({ runnerScope: 'repo' }).runnerCredentials({
      owner: 'acme',
      repository: 'acme/app',
      installationId: INSTALLATION,
      runnerName: 'ghes-cp-502-1-000001',
      labels: ['self-hosted', 'linux'],
    });

    // Assess
    expect(credentials.kind).toBe('jit');
    expect(twin.runners()).toEqual([
      expect.objectContaining({ name: 'ghes-cp-502-1-000001', owner: 'acme', repo: 'app' }),
    ]);
    expect(callsTo('POST', /\/actions\/runners\//).map((c) => c.path)).toEqual([
      '/api/v3/repos/acme/app/actions/runners/generate-jitconfig',
    ]);
  });

  it('removes a registered JIT runner that nothing was started for, and takes an already removed one calmly', async () => {
    const { twin, app, callsTo } = await start();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 503 }));
    const github = app();
    const where = { owner: 'acme', repository: 'acme/app', installationId: INSTALLATION };
    const credentials = await github.runnerCredentials({
      ...where,
      runnerName: 'ghes-cp-503-1-000001',
      labels: ['self-hosted', 'linux'],
    });
    expect(credentials).toMatchObject({ kind: 'jit', runnerId: twin.runners()[0]!.id });

    await github.removeRunner(where, credentials);
    await github.removeRunner(where, credentials); // a retry after a lost answer

    expect(twin.runners()).toEqual([
      expect.objectContaining({ name: 'ghes-cp-503-1-000001', state: 'deregistered' }),
    ]);
    expect(callsTo('DELETE', /\/actions\/runners\//).map((c) => [c.path, c.status])).toEqual([
      [`/api/v3/orgs/acme/actions/runners/${twin.runners()[0]!.id}`, 204],
      [`/api/v3/orgs/acme/actions/runners/${twin.runners()[0]!.id}`, 404],
    ]);
  });

  it('surfaces a name conflict (409) instead of falling back to a registration token', async () => {
    // Prepare
    const { twin, app, callsTo } = await start();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 503 }));
    const github = app();
    const request = {
      owner: 'acme',
      repository: 'acme/app',
      installationId: INSTALLATION,
      runnerName: 'ghes-cp-503-1-ffffff',
      labels: ['self-hosted', 'linux'],
    };
    await github.runnerCredentials(request);

    // Act
    const second = github.runnerCredentials(request);

    // Assess
    await expect(second).rejects.toMatchObject({ status: 409 });
    expect(callsTo('POST', /registration-token$/)).toEqual([]);
    expect(twin.runners()).toHaveLength(1);
  });
});

describe('runner groups', () => {
  const request = (id: number, runnerGroupId?: number) => ({
    owner: 'acme',
    repository: 'acme/app',
    installationId: INSTALLATION,
    runnerName: `ghes-cp-${id}-1-0a0b0c`,
    labels: ['self-hosted', 'linux'],
    ...(runnerGroupId ? { runnerGroupId } : {}),
  });

  it('registers a JIT runner in the requested group, and in Default when none is asked for', async () => {
    const { twin, app, callsTo } = await start();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 701 }));
    await app().runnerCredentials(request(701, 2));
    await app().runnerCredentials(request(702));
    expect(twin.runners().map((r) => [r.name, r.groupId])).toEqual([
      ['ghes-cp-701-1-0a0b0c', 2],
      ['ghes-cp-702-1-0a0b0c', 1],
    ]);
    // A group GHES does not have is an error, not a runner in some other group, and no reason to
    // fall back to a registration token either: this GHES has JIT.
    await expect(app().runnerCredentials(request(703, 9))).rejects.toMatchObject({ status: 404 });
    expect(callsTo('POST', /registration-token$/)).toEqual([]);
  });

  it('on GHES 3.9 asks for JIT once per container and looks each group name up once', async () => {
    const { twin, app, callsTo } = await start('3.9');
    twin.observeWebhook('workflow_job', jobDelivery({ id: 705 }));
    const github = app();
    for (const id of [705, 706, 707]) await github.runnerCredentials(request(id, 2));
    expect(callsTo('POST', /generate-jitconfig$/)).toHaveLength(1);
    expect(callsTo('POST', /registration-token$/)).toHaveLength(3);
    expect(callsTo('GET', /runner-groups\/2$/)).toHaveLength(1);
  });

  it('on GHES 3.9 names the group for config.sh, and the runner joins it', async () => {
    const { twin, app } = await start('3.9');
    twin.observeWebhook('workflow_job', jobDelivery({ id: 704 }));
    const credentials = await app().runnerCredentials(request(704, 2));
    expect(credentials).toMatchObject({ kind: 'registration', runnerGroup: 'production-deploy' });
    if (credentials.kind !== 'registration') throw new Error('expected a registration token');
    twin.startRunner({
      registrationToken: credentials.token,
      runnerName: credentials.runnerName,
      labels: [...credentials.labels],
      owner: 'acme',
      runnerGroup: credentials.runnerGroup!,
      resourceId: 'i-0704',
    });
    await waitFor('the runner to register', () => twin.runners()[0]?.id !== null);
    expect(twin.runners()[0]).toMatchObject({ groupId: 2 });
  });
});

describe('runner credentials on GHES 3.9 (no JIT endpoint)', () => {
  it.each([
    { scope: 'org' as const, registersAt: 'acme', tokenPath: '/api/v3/orgs/acme' },
    { scope: 'repo' as const, registersAt: 'acme/app', tokenPath: '/api/v3/repos/acme/app' },
  ])(
    'falls back to a registration token a runner can register with ($scope scope)',
    async ({ scope, registersAt, tokenPath }) => {
      // Prepare
      const { twin, app, callsTo } = await start('3.9');
      const labels = ['self-hosted', 'linux'];
      twin.observeWebhook('workflow_job', jobDelivery({ id: 601, labels }));

      // Act
      const credentials = await app({ runnerScope: scope }).runnerCredentials({
        owner: 'acme',
        repository: 'acme/app',
        installationId: INSTALLATION,
        runnerName: 'ghes-cp-601-1-0a0b0c',
        labels,
      });

      // Assess
      expect(credentials).toMatchObject({
        kind: 'registration',
        runnerName: 'ghes-cp-601-1-0a0b0c',
        url: `${new URL(twin.apiUrl).origin}/${registersAt}`,
        labels,
      });
      if (credentials.kind !== 'registration') throw new Error('expected a registration token');
      expect(credentials.token).toMatch(/^[0-9A-F]{20,}$/);
      expect(callsTo('POST', /\/actions\/runners\//)).toEqual([
        { method: 'POST', path: `${tokenPath}/actions/runners/generate-jitconfig`, status: 404 },
        { method: 'POST', path: `${tokenPath}/actions/runners/registration-token`, status: 201 },
      ]);

      // config.sh with that URL and token: the runner registers and takes the job.
      twin.startRunner({
        registrationToken: credentials.token,
        runnerName: credentials.runnerName,
        labels: [...credentials.labels],
        owner: new URL(credentials.url).pathname.slice(1),
        resourceId: 'i-0def',
      });
      await waitFor('the runner to take the job', () => twin.jobs()[0]?.status === 'in_progress');
      expect(twin.runners()).toEqual([
        expect.objectContaining({ name: 'ghes-cp-601-1-0a0b0c', state: 'busy', failure: null }),
      ]);
    },
  );
});

describe('installation tokens', () => {
  it('reuses one installation token for every call to the same installation', async () => {
    // Prepare
    const { twin, app, callsTo } = await start();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 701 }));
    const github = app();

    // Act
    const first = await github.jobStatus('acme/app', 701, INSTALLATION);
    const second = await github.jobStatus('acme/app', 701, INSTALLATION);
    await github.runnerCredentials({
      owner: 'acme',
      repository: 'acme/app',
      installationId: INSTALLATION,
      runnerName: 'ghes-cp-701-1-000000',
      labels: ['self-hosted', 'linux'],
    });

    // Assess
    expect([first, second]).toEqual(['queued', 'queued']);
    expect(callsTo('POST', /^\/api\/v3\/app\/installations\/\d+\/access_tokens$/)).toEqual([
      { method: 'POST', path: `/api/v3/app/installations/${INSTALLATION}/access_tokens`, status: 201 },
    ]);
  });

  it('keeps a token per installation, so one owner never gets the token of another', async () => {
    // Prepare
    const { twin, app, callsTo } = await start();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 702, repository: 'acme/app' }));
    twin.observeWebhook(
      'workflow_job',
      jobDelivery({ id: 703, repository: 'globex/api', installationId: 88 }),
    );
    const github = app();

    // Act
    const statuses = [
      await github.jobStatus('acme/app', 702, INSTALLATION),
      await github.jobStatus('globex/api', 703, 88),
      await github.jobStatus('acme/app', 702, INSTALLATION),
    ];

    // Assess
    expect(statuses).toEqual(['queued', 'queued', 'queued']);
    expect(callsTo('POST', /access_tokens$/).map((c) => c.path)).toEqual([
      `/api/v3/app/installations/${INSTALLATION}/access_tokens`,
      '/api/v3/app/installations/88/access_tokens',
    ]);
  });

  it('asks for a new token shortly before the cached one expires', async () => {
    // Prepare: only Date is faked; the twin reads the same clock, so its tokens expire after one hour.
    vi.useFakeTimers({ toFake: ['Date'] });
    const { twin, app, callsTo } = await start();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 704 }));
    const github = app();
    await github.jobStatus('acme/app', 704, INSTALLATION);

    // Act
    vi.setSystemTime(Date.now() + 50 * 60_000);
    const at50Minutes = await github.jobStatus('acme/app', 704, INSTALLATION);
    const tokensAt50Minutes = callsTo('POST', /access_tokens$/).length;
    vi.setSystemTime(Date.now() + 11 * 60_000); // 61 minutes: the first token is dead on GHES
    const at61Minutes = await github.jobStatus('acme/app', 704, INSTALLATION);

    // Assess
    expect([at50Minutes, at61Minutes]).toEqual(['queued', 'queued']);
    expect(tokensAt50Minutes).toBe(1);
    expect(callsTo('POST', /access_tokens$/)).toHaveLength(2);
    expect(twin.calls.filter((c) => c.status === 401)).toEqual([]);
  });
});

describe('hooks without an installation id', () => {
  it('finds the installation of an organisation by owner, once', async () => {
    // Prepare
    const { twin, app, callsTo } = await start();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 801, installationId: null }));
    const github = app();

    // Act
    const status = await github.jobStatus('acme/app', 801, null);
    const credentials = await github.runnerCredentials({
      owner: 'acme',
      repository: 'acme/app',
      installationId: null,
      runnerName: 'ghes-cp-801-1-000000',
      labels: ['self-hosted', 'linux'],
    });

    // Assess
    expect(status).toBe('queued');
    expect(credentials.kind).toBe('jit');
    expect(callsTo('GET', /\/installation$/)).toEqual([
      { method: 'GET', path: '/api/v3/orgs/acme/installation', status: 200 },
    ]);
    expect(callsTo('POST', /access_tokens$/)).toEqual([
      expect.objectContaining({ path: expect.stringMatching(/^\/api\/v3\/app\/installations\/\d+\//) }),
    ]);
  });

  it('falls back to the repository installation when the owner is a user', async () => {
    // Prepare
    const { twin, app, callsTo } = await start();
    twin.observeWebhook(
      'workflow_job',
      jobDelivery({ id: 802, repository: 'octocat/dotfiles', installationId: null, ownerType: 'User' }),
    );

    // Act
    const status = await app().jobStatus('octocat/dotfiles', 802, null);

    // Assess
    expect(status).toBe('queued');
    expect(callsTo('GET', /\/installation$/)).toEqual([
      { method: 'GET', path: '/api/v3/orgs/octocat/installation', status: 404 },
      { method: 'GET', path: '/api/v3/repos/octocat/dotfiles/installation', status: 200 },
    ]);
  });

  it('fails for an owner the App is not installed on', async () => {
    // Prepare
    const { app, callsTo } = await start();

    // Act
    const status = app().jobStatus('ghost/repo', 803, null);

    // Assess
    await expect(status).rejects.toMatchObject({ status: 404 });
    expect(callsTo('GET', /\/installation$/).map((c) => c.status)).toEqual([404, 404]);
  });
});

describe('job status', () => {
  it('follows the job from queued to in_progress to completed', async () => {
    // Prepare
    const { twin, app } = await start();
    const github = app();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 901 }));

    // Act
    const queued = await github.jobStatus('acme/app', 901, INSTALLATION);
    twin.observeWebhook('workflow_job', jobDelivery({ id: 901, action: 'in_progress' }));
    const inProgress = await github.jobStatus('acme/app', 901, INSTALLATION);
    twin.observeWebhook('workflow_job', jobDelivery({ id: 901, action: 'completed' }));
    const completed = await github.jobStatus('acme/app', 901, INSTALLATION);

    // Assess
    expect([queued, inProgress, completed]).toEqual(['queued', 'in_progress', 'completed']);
  });

  it("answers 'missing' for a job GitHub does not know, or that belongs to another repository", async () => {
    // Prepare
    const { twin, app } = await start();
    const github = app();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 902, repository: 'acme/app' }));

    // Act
    const unknown = await github.jobStatus('acme/app', 999_999, INSTALLATION);
    const elsewhere = await github.jobStatus('acme/other', 902, INSTALLATION);

    // Assess
    expect([unknown, elsewhere]).toEqual(['missing', 'missing']);
  });

  it("throws on other errors rather than calling the job 'missing'", async () => {
    // Prepare: an installation of acme asking about a globex repository
    const { twin, app } = await start();
    twin.observeWebhook('workflow_job', jobDelivery({ id: 903, repository: 'acme/app' }));
    twin.observeWebhook(
      'workflow_job',
      jobDelivery({ id: 904, repository: 'globex/api', installationId: 88 }),
    );

    // Act
    const status = app().jobStatus('globex/api', 904, INSTALLATION);

    // Assess
    await expect(status).rejects.toMatchObject({ status: 403 });
  });
});

describe('GHES behind an internal CA', () => {
  const authority = (name: string) =>
    generate([{ name: 'commonName', value: name }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      ],
    });
  const serverCertificate = (ca: GenerateResult, altName: { ip: string } | { dns: string }) =>
    generate([{ name: 'commonName', value: 'ghes.internal' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: ['ip' in altName ? { type: 7, ip: altName.ip } : { type: 2, value: altName.dns }],
        },
      ],
    });

  /** TLS in front of the twin, as a GHES appliance with a certificate from the internal CA. */
  const startHttpsGhes = async (certificate: GenerateResult) => {
    const setup = await start();
    const upstream = new URL(setup.twin.apiUrl).origin;
    const server = createHttpsServer({ key: certificate.private, cert: certificate.cert }, (req, res) => {
      const forward = httpRequest(
        new URL(req.url ?? '/', upstream),
        { method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => res.writeHead(502).end());
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const { port } = server.address() as AddressInfo;
    setup.twin.observeWebhook('workflow_job', jobDelivery({ id: 1001 }));
    const apiUrl = `https://127.0.0.1:${port}/api/v3`;
    return { ...setup, httpsApp: (extra: Partial<GithubAppOptions> = {}) => setup.app({ apiUrl, ...extra }) };
  };

  /** Node's TLS error code behind the octokit RequestError ← fetch TypeError ← socket error chain. */
  const tlsErrorOf = async (call: Promise<unknown>) => {
    const error = await call.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    let cause: unknown = error;
    while (cause instanceof Error && !('code' in cause && typeof cause.code === 'string'))
      cause = cause.cause;
    return (cause as { code?: string } | undefined)?.code;
  };

  it('trusts the GHES certificate when its CA is configured', async () => {
    // Prepare
    const ca = await authority('Acme Internal Root CA');
    const { httpsApp } = await startHttpsGhes(await serverCertificate(ca, { ip: '127.0.0.1' }));

    // Act
    const status = await httpsApp({ caBundle: ca.cert }).jobStatus('acme/app', 1001, INSTALLATION);

    // Assess
    expect(status).toBe('queued');
  });

  it('refuses the certificate without the CA, and with a different CA, before any request reaches GHES', async () => {
    // Prepare
    const ca = await authority('Acme Internal Root CA');
    const otherCa = await authority('Some Other CA');
    const { twin, httpsApp } = await startHttpsGhes(await serverCertificate(ca, { ip: '127.0.0.1' }));

    // Act
    const withoutCa = await tlsErrorOf(httpsApp().jobStatus('acme/app', 1001, INSTALLATION));
    const withOtherCa = await tlsErrorOf(
      httpsApp({ caBundle: otherCa.cert }).jobStatus('acme/app', 1001, INSTALLATION),
    );

    // Assess
    expect(withoutCa).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(withOtherCa).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(twin.calls).toEqual([]);
  });

  it('still checks that the certificate names the host', async () => {
    // Prepare
    const ca = await authority('Acme Internal Root CA');
    const { twin, httpsApp } = await startHttpsGhes(await serverCertificate(ca, { dns: 'other.internal' }));

    // Act
    const code = await tlsErrorOf(httpsApp({ caBundle: ca.cert }).jobStatus('acme/app', 1001, INSTALLATION));

    // Assess
    expect(code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(twin.calls).toEqual([]);
  });

  it('trusts the CA bundle in addition to the default CAs, not instead of them', async () => {
    // Prepare: a CA the process trusts by default (as NODE_EXTRA_CA_CERTS would add) signs GHES.
    const defaults = tls.getCACertificates('default');
    const systemCa = await authority('Default-Trusted CA');
    tls.setDefaultCACertificates([...defaults, systemCa.cert]);
    cleanups.push(() => tls.setDefaultCACertificates(defaults));
    const internalCa = await authority('Acme Internal Root CA');
    const { httpsApp } = await startHttpsGhes(await serverCertificate(systemCa, { ip: '127.0.0.1' }));

    // Act
    const status = await httpsApp({ caBundle: internalCa.cert }).jobStatus('acme/app', 1001, INSTALLATION);

    // Assess
    expect(status).toBe('queued');
  });
});
