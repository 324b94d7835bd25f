import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sign } from '@octokit/webhooks-methods';
import { startSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { loadSandboxConfig } from '../sandbox/sandbox-config.ts';
import { postDelivery, signedDelivery, workflowJobPayload } from '../support/github-deliveries.ts';
import { waitFor } from '../support/sandbox-driver.ts';

/** The webhook intake end to end: signed real payloads → sandbox route → handler → twin. */
let sandbox: Sandbox;
let secret: string;
let nextJobId = 1_000;

beforeAll(async () => {
  sandbox = await startSandbox({ config: loadSandboxConfig(undefined, {}) });
  secret = sandbox.config.sandbox.secrets.webhook;
});
afterAll(async () => sandbox?.close());
beforeEach(() => sandbox.twin.faults.clear());

const state = async () =>
  (await fetch(`${sandbox.url}/sandbox/state`)).json() as Promise<Record<string, any>>;
const queuedDelivery = async (jobId = ++nextJobId, options: { deliveryId?: string } = {}) =>
  signedDelivery(workflowJobPayload('queued', { id: jobId, run_id: jobId * 10 }), { secret, ...options });
/** The intake's own AWS calls (each Lambda signs with its own key), its cached secret read aside. */
const intakeCalls = () =>
  sandbox.twin.endpoint.calls
    .filter((c) => c.caller === 'twin-github-webhook' && !c.target.startsWith('secretsmanager:'))
    .map((c) => c.target);
const dispatchQueue = () => sandbox.twin.queues.get('DispatchQueue')!;
const jobRow = async (id: number) => (await state()).jobs.find((j: { id: number }) => j.id === id);

/**
 * A snapshot of everything a delivery can change, to prove a refused one changed nothing. The
 * dispatcher keeps working on earlier jobs meanwhile, so AWS calls count the intake's own (each
 * Lambda signs with its own key, as each has its own role on AWS) and the queue counts what was sent.
 */
const sideEffects = async () => ({
  deliveries: (await sandbox.twin.dynamo.scan('DeliveriesTable')).length,
  jobs: (await sandbox.twin.dynamo.scan('JobsTable')).length,
  events: sandbox.twin.events.archive.length,
  sentToQueue: dispatchQueue().sent,
  awsCalls: intakeCalls().length,
});

describe('POST /github/webhook', () => {
  it('records a queued job and puts it on the bus for the dispatch queue, answering 202', async () => {
    const jobId = ++nextJobId;
    const callsBefore = intakeCalls().length;
    const response = await postDelivery(sandbox.url, await queuedDelivery(jobId));
    // Two AWS calls: claims + ledger change in one transaction, then the event.
    expect(intakeCalls().slice(callsBefore)).toEqual([
      'dynamodb:TransactWriteItems',
      'eventbridge:PutEvents',
    ]);
    expect(response).toMatchObject({ status: 202, body: { outcome: 'accepted', jobId } });
    expect(await jobRow(jobId)).toMatchObject({
      id: jobId,
      runId: jobId * 10,
      runAttempt: 1,
      repository: 'Codertocat/Hello-World',
      labels: ['ubuntu-latest'],
      workflowName: 'CodeQL',
      status: 'queued',
    });
    const event = sandbox.twin.events.archive.at(-1)!;
    expect(event).toMatchObject({
      'detail-type': 'workflow_job.queued',
      // The dispatcher launches a runner; the deploy notifier keeps the runs its rules select.
      matchedRules: ['WorkflowJobsToDispatcher', 'WorkflowJobsToDeployNotifier'],
    });
    expect(event.detail).toMatchObject({ jobId, labels: ['ubuntu-latest'] });
  });

  describe('refuses with 401 and changes nothing', () => {
    it('when the body was signed with another secret', async () => {
      const before = await sideEffects();
      const delivery = await queuedDelivery();
      delivery.headers['x-hub-signature-256'] = await sign('not-the-secret', delivery.body);
      expect((await postDelivery(sandbox.url, delivery)).status).toBe(401);
      expect(await sideEffects()).toEqual(before);
    });

    it('when the signature header is missing or uses sha1', async () => {
      const before = await sideEffects();
      const missing = await queuedDelivery();
      delete missing.headers['x-hub-signature-256'];
      expect(await postDelivery(sandbox.url, missing)).toMatchObject({
        status: 401,
        body: { error: 'missing X-Hub-Signature-256 header' },
      });
      const sha1 = await queuedDelivery();
      sha1.headers['x-hub-signature-256'] = 'sha1=' + 'a'.repeat(40);
      expect((await postDelivery(sandbox.url, sha1)).status).toBe(401);
      expect(await sideEffects()).toEqual(before);
    });

    it('when one byte of a signed body is changed on the way', async () => {
      const before = await sideEffects();
      const delivery = await queuedDelivery();
      const tampered = { ...delivery, body: delivery.body.replace('"ubuntu-latest"', '"ubuntu-lateSt"') };
      expect((await postDelivery(sandbox.url, tampered)).status).toBe(401);
      expect(await sideEffects()).toEqual(before);
    });
  });

  it('answers 400 for missing delivery or event headers and for a signed body that is not JSON', async () => {
    const before = await sideEffects();
    for (const header of ['x-github-delivery', 'x-github-event']) {
      const delivery = await queuedDelivery();
      delete delivery.headers[header];
      expect((await postDelivery(sandbox.url, delivery)).status).toBe(400);
    }
    const broken = await signedDelivery(undefined, { secret, body: '{"action":"queued","workflow_job":' });
    expect(await postDelivery(sandbox.url, broken)).toMatchObject({
      status: 400,
      body: { error: 'body is not valid JSON' },
    });
    expect(await sideEffects()).toEqual(before);
  });

  it('answers 413 for a body larger than API Gateway accepts, before any handler runs', async () => {
    const before = await sideEffects();
    const invocations = (await state()).lambdas['github-webhook'].invocations;
    const delivery = await signedDelivery(undefined, { secret, body: ' '.repeat(26 * 1024 * 1024) });
    const response = await fetch(`${sandbox.url}/github/webhook`, {
      method: 'POST',
      headers: delivery.headers,
      body: delivery.body,
    });
    expect(response.status).toBe(413);
    expect((await state()).lambdas['github-webhook'].invocations).toBe(invocations);
    expect(await sideEffects()).toEqual(before);
  });

  it('answers ping with 200 and other events with 202, recording them as ignored', async () => {
    const before = await sideEffects();
    const ping = await signedDelivery({ zen: 'Design for failure.', hook_id: 1 }, { secret, event: 'ping' });
    expect((await postDelivery(sandbox.url, ping)).status).toBe(200);
    const push = await signedDelivery({ ref: 'refs/heads/main' }, { secret, event: 'push' });
    expect(await postDelivery(sandbox.url, push)).toMatchObject({
      status: 202,
      body: { outcome: 'ignored' },
    });
    const rows = (await state()).deliveries.filter((d: { id: string }) =>
      [ping.headers['x-github-delivery'], push.headers['x-github-delivery']].includes(d.id),
    );
    expect(rows.map((d: { event: string; outcome: string }) => `${d.event}:${d.outcome}`)).toEqual([
      'ping:ignored',
      'push:ignored',
    ]);
    expect(await sideEffects()).toEqual({ ...before, awsCalls: before.awsCalls });
  });

  it('takes a redelivery, or the body replayed under a new delivery id, as a duplicate with no second effect', async () => {
    const jobId = ++nextJobId;
    const delivery = await queuedDelivery(jobId);
    expect((await postDelivery(sandbox.url, delivery)).status).toBe(202);
    const events = sandbox.twin.events.archive.length;
    expect(await postDelivery(sandbox.url, delivery)).toMatchObject({
      status: 200,
      body: { outcome: 'duplicate' },
    });
    const replay = {
      ...delivery,
      headers: { ...delivery.headers, 'x-github-delivery': 'a-new-delivery-id' },
    };
    expect(await postDelivery(sandbox.url, replay)).toMatchObject({
      status: 200,
      body: { outcome: 'duplicate' },
    });
    expect(sandbox.twin.events.archive.length).toBe(events);
    const outcomes = (await state()).deliveries
      .filter((d: { id: string }) =>
        [delivery.headers['x-github-delivery'], 'a-new-delivery-id'].includes(d.id),
      )
      .map((d: { outcome: string }) => d.outcome);
    expect(outcomes).toEqual(['accepted', 'duplicate', 'duplicate']);
  });

  it('moves a job forward only: a late queued after in_progress neither changes the row nor reaches the bus', async () => {
    const jobId = ++nextJobId;
    const started = workflowJobPayload('in_progress', {
      id: jobId,
      run_id: 1,
      runner_name: `ghes-cp-${jobId}`,
    });
    expect((await postDelivery(sandbox.url, await signedDelivery(started, { secret }))).status).toBe(202);
    const events = sandbox.twin.events.archive.length;
    const late = await postDelivery(sandbox.url, await queuedDelivery(jobId));
    expect(late).toMatchObject({ status: 202, body: { outcome: 'accepted', ledger: 'unchanged' } });
    expect(sandbox.twin.events.archive.length).toBe(events);
    expect(await jobRow(jobId)).toMatchObject({ status: 'in_progress', runnerName: `ghes-cp-${jobId}` });
    const done = workflowJobPayload('completed', { id: jobId, run_id: 1, conclusion: 'success' });
    await postDelivery(sandbox.url, await signedDelivery(done, { secret }));
    expect(await jobRow(jobId)).toMatchObject({ status: 'completed', conclusion: 'success' });
  });

  it('accepts org/repo-hook payloads that carry no installation, and the job still gets its runner', async () => {
    const jobId = ++nextJobId;
    const payload = workflowJobPayload('queued', { id: jobId, run_id: 5, labels: ['self-hosted', 'linux'] });
    delete (payload as Record<string, unknown>).installation;
    expect((await postDelivery(sandbox.url, await signedDelivery(payload, { secret }))).status).toBe(202);
    // The dispatcher finds the App's installation by the repository's owner instead.
    const row = await waitFor(`job ${jobId} dispatched`, async () => {
      const found = await jobRow(jobId);
      return found?.resourceId ? found : undefined;
    });
    expect(row).toMatchObject({ pool: 'linux', provider: 'ec2-wake' });
    expect(sandbox.twin.github.calls).toContainEqual(
      expect.objectContaining({ path: '/api/v3/repos/Codertocat/Hello-World/installation', status: 200 }),
    );
    // Its simulated runner then sends in_progress and completed through the intake; the instance
    // stops only after the last of them was answered. Later tests count the intake's side effects.
    await waitFor(`the instance of job ${jobId} to stop after its job`, async () =>
      sandbox.twin.ec2.list().find((i) => i.instanceId === row.resourceId && i.state === 'stopped'),
    );
  });

  it('verifies a body API Gateway passed base64-encoded (a non-text content type)', async () => {
    const jobId = ++nextJobId;
    const delivery = await queuedDelivery(jobId);
    delivery.headers['content-type'] = 'application/octet-stream';
    expect((await postDelivery(sandbox.url, delivery)).status).toBe(202);
  });

  it("answers 500 when the bus is down and handles GitHub's redelivery of it exactly once", async () => {
    const jobId = ++nextJobId;
    const delivery = await queuedDelivery(jobId);
    // More failures than the client's three tries.
    sandbox.twin.faults.arm({ target: 'eventbridge:PutEvents', error: 'InternalException', count: 3 });
    expect((await postDelivery(sandbox.url, delivery)).status).toBe(500);
    const events = sandbox.twin.events.archive.length;
    expect(await postDelivery(sandbox.url, delivery)).toMatchObject({
      status: 202,
      body: { outcome: 'accepted' },
    });
    expect(await postDelivery(sandbox.url, delivery)).toMatchObject({
      status: 200,
      body: { outcome: 'duplicate' },
    });
    const published = sandbox.twin.events.archive
      .slice(events)
      .filter((e) => (e.detail as { jobId: number }).jobId === jobId);
    expect(published).toHaveLength(1);
  });

  it('answers 500 and stores nothing when DynamoDB refuses the claim', async () => {
    const jobId = ++nextJobId;
    sandbox.twin.faults.arm({
      target: 'dynamodb:TransactWriteItems',
      error: 'InternalServerError',
      count: 3,
    });
    expect((await postDelivery(sandbox.url, await queuedDelivery(jobId))).status).toBe(500);
    expect(await jobRow(jobId)).toBeUndefined();
  });

  it('records and publishes the job when the claim committed but its answer was lost', async () => {
    const jobId = ++nextJobId;
    const published = sandbox.twin.events.archive.length;
    // DynamoDB wrote the claim, then the connection dropped: the intake retries the transaction.
    sandbox.twin.faults.arm({
      target: 'dynamodb:TransactWriteItems',
      error: 'InternalServerError',
      count: 1,
      afterEffect: true,
    });
    const response = await postDelivery(sandbox.url, await queuedDelivery(jobId));
    expect(response).toMatchObject({ status: 202, body: { outcome: 'accepted', jobId } });
    expect(await jobRow(jobId)).toMatchObject({ id: jobId });
    expect(sandbox.twin.events.archive.length).toBe(published + 1);
  });

  it('accepts the previous secret during a rotation', async () => {
    const rotating = await startSandbox({ config: loadSandboxConfig(undefined, {}) });
    try {
      const arn = rotating.config.github.webhookSecretArn;
      // The twin's Secrets Manager now holds {"current","previous"}; the handler's cache is cold.
      rotating.twin.secrets.put(arn, JSON.stringify({ current: 'rotated-secret', previous: secret }));
      const jobId = ++nextJobId;
      const withOld = await signedDelivery(workflowJobPayload('queued', { id: jobId }), { secret });
      expect((await postDelivery(rotating.url, withOld)).status).toBe(202);
      const withNew = await signedDelivery(workflowJobPayload('queued', { id: jobId + 1 }), {
        secret: 'rotated-secret',
      });
      expect((await postDelivery(rotating.url, withNew)).status).toBe(202);
    } finally {
      await rotating.close();
    }
  });
});

/** The body of a signed `workflow_job.queued` whose `workflow_job.<field>` is an array nested `depth` deep. */
const nestedBody = (jobId: number, field: string, depth: number) =>
  JSON.stringify(workflowJobPayload('queued', { id: jobId, run_id: jobId * 10, [field]: '@deep@' })).replace(
    '"@deep@"',
    '['.repeat(depth) + ']'.repeat(depth),
  );

/** The keys of the bus event the dispatcher consumes, and nothing else (no job name, no timestamps). */
const DETAIL_KEYS = [
  'action',
  'completedAt',
  'conclusion',
  'createdAt',
  'deliveryId',
  'headBranch',
  'headSha',
  'installationId',
  'jobId',
  'jobName',
  'labels',
  'owner',
  'repository',
  'runAttempt',
  'runId',
  'runnerName',
  'sender',
  'startedAt',
  'workflowName',
];

describe('POST /github/webhook with hostile or unusual input', () => {
  it('answers 400 naming the label and stores nothing when three 100 KB labels would overflow the bus event', async () => {
    const before = await sideEffects();
    const jobId = ++nextJobId;
    const labels = ['a', 'b', 'c'].map((c) => c.repeat(100 * 1024));
    const delivery = await signedDelivery(workflowJobPayload('queued', { id: jobId, run_id: 1, labels }), {
      secret,
    });
    expect(await postDelivery(sandbox.url, delivery)).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('workflow_job.labels[0]') },
    });
    expect(await sideEffects()).toEqual(before);
    const after = await state();
    expect(after.jobs.filter((j: { id: number }) => j.id === jobId)).toEqual([]);
    expect(
      after.deliveries.filter((d: { id: string }) => d.id === delivery.headers['x-github-delivery']),
    ).toEqual([]);
  });

  it('publishes only what the dispatcher and the deploy notifier read', async () => {
    const jobId = ++nextJobId;
    expect((await postDelivery(sandbox.url, await queuedDelivery(jobId))).status).toBe(202);
    const event = sandbox.twin.events.archive.findLast(
      (e) => (e.detail as { jobId: number }).jobId === jobId,
    )!;
    expect(Object.keys(event.detail as object).sort()).toEqual(DETAIL_KEYS);
  });

  it('accepts a hook that sends application/x-www-form-urlencoded (payload=…), signed over the encoded body', async () => {
    const jobId = ++nextJobId;
    const payload = workflowJobPayload('queued', {
      id: jobId,
      run_id: jobId * 10,
      workflow_name: 'CI & deploy + more',
    });
    const delivery = await signedDelivery(payload, { secret, form: true });
    expect(await postDelivery(sandbox.url, delivery)).toMatchObject({
      status: 202,
      body: { outcome: 'accepted', jobId },
    });
    expect(await jobRow(jobId)).toMatchObject({
      id: jobId,
      runId: jobId * 10,
      workflowName: 'CI & deploy + more',
    });
    // The GHES twin learnt the job too, so the dispatcher's "is it still queued?" finds it.
    expect(sandbox.twin.github.jobs()).toContainEqual(
      expect.objectContaining({ id: jobId, workflowName: 'CI & deploy + more' }),
    );
  });

  it('answers 400 naming the field and stores nothing for a signed form body without payload', async () => {
    const before = await sideEffects();
    const delivery = await signedDelivery(undefined, {
      secret,
      body: 'hook_id=1&zen=Keep+it+logically+awesome',
    });
    delivery.headers['content-type'] = 'application/x-www-form-urlencoded';
    expect(await postDelivery(sandbox.url, delivery)).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('payload') },
    });
    expect(await sideEffects()).toEqual(before);
  });

  it('survives a workflow_job nested 200,000 levels deep in a field it does not read, storing only the job', async () => {
    const jobId = ++nextJobId;
    const delivery = await signedDelivery(undefined, { secret, body: nestedBody(jobId, 'steps', 200_000) });
    expect(await postDelivery(sandbox.url, delivery)).toMatchObject({
      status: 202,
      body: { outcome: 'accepted', jobId },
    });
    const row = (await sandbox.twin.dynamo.scan('JobsTable')).find((r) => r.jobId === jobId)!;
    expect(row).not.toHaveProperty('steps');
    expect(JSON.stringify(row).length).toBeLessThan(2_000);
    const event = sandbox.twin.events.archive.findLast(
      (e) => (e.detail as { jobId: number }).jobId === jobId,
    )!;
    expect(Object.keys(event.detail as object).sort()).toEqual(DETAIL_KEYS);
    // The sandbox keeps serving: the next delivery and the state route answer as usual.
    expect((await postDelivery(sandbox.url, await queuedDelivery())).status).toBe(202);
    expect((await fetch(`${sandbox.url}/sandbox/state`)).status).toBe(200);
  });

  it('answers 400 naming the field, storing nothing, when the deep nesting sits in a field it reads', async () => {
    const before = await sideEffects();
    const delivery = await signedDelivery(undefined, {
      secret,
      body: nestedBody(++nextJobId, 'labels', 200_000),
    });
    expect(await postDelivery(sandbox.url, delivery)).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('workflow_job.labels[0]') },
    });
    expect(await sideEffects()).toEqual(before);
    expect((await postDelivery(sandbox.url, await queuedDelivery())).status).toBe(202);
  });
});

describe('sandbox faults API', () => {
  it('arms a known fault with 201 and refuses an unknown target or error with 400 naming it', async () => {
    const post = (body: unknown) =>
      fetch(`${sandbox.url}/sandbox/faults`, { method: 'POST', body: JSON.stringify(body) }).then(
        async (r) => ({
          status: r.status,
          body: await r.json(),
        }),
      );
    expect(
      (await post({ target: 'dynamodb:PutItem', error: 'ProvisionedThroughputExceededException', count: 1 }))
        .status,
    ).toBe(201);
    expect(await post({ target: 'dynamo:PutItem', error: 'X', count: 1 })).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('"dynamo:PutItem" is not a twin operation') },
    });
    expect(await post({ target: 'dynamodb:PutItem', error: 'NoSuchError', count: 1 })).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('"NoSuchError" is not an error dynamodb:PutItem answers with') },
    });
    expect(
      (await post({ target: 'dynamodb:PutItem', error: 'ThrottlingException', probability: 2 })).status,
    ).toBe(400);
    const cleared = await fetch(`${sandbox.url}/sandbox/faults`, { method: 'DELETE' });
    expect(cleared.status).toBe(200);
    expect((await state()).faults).toEqual([]);
  });
});
