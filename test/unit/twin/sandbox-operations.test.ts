import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SendTaskSuccessCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { startTestSandbox, state, waitFor } from '../../support/sandbox-driver.ts';
import { createJsonClient, dynamoDbSpec, type JsonCall } from '../../../shared/aws/json-client.ts';
import { toItem } from '../../../shared/aws/dynamo-item.ts';
import type { TwinLambda } from '../../twin/lambda-host.ts';

/**
 * What the operations half adds to the sandbox, through its routes: `GET /sandbox/state` with
 * executions, locks, appliances, dns and audit; `POST /sandbox/appliances`; the GHES fault targets.
 */
let sandbox: Sandbox;
let dynamo: JsonCall;
beforeAll(async () => {
  sandbox = await startTestSandbox();
  dynamo = createJsonClient(dynamoDbSpec, {
    region: sandbox.config.region,
    endpoint: sandbox.twin.endpoint.url,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});
afterAll(async () => sandbox?.close());
afterEach(async () => void (await fetch(`${sandbox.url}/sandbox/faults`, { method: 'DELETE' })));

const post = async (path: string, body: unknown) => {
  const response = await fetch(`${sandbox.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
};

describe('sandbox state for GHES operations', () => {
  it('starts with the primary serving, the replica in sync, the configured DNS record and no lock', async () => {
    // Act
    const { appliances, dns, locks, audit } = await state(sandbox);

    // Assess
    expect(
      appliances!.map(({ name, role, maintenance, replication }) => ({
        name,
        role,
        maintenance,
        replication,
      })),
    ).toEqual([
      { name: 'ghes-primary', role: 'primary', maintenance: false, replication: null },
      { name: 'ghes-replica', role: 'replica', maintenance: false, replication: 'ok' },
    ]);
    expect(dns).toEqual([{ name: 'ghes.sandbox.internal', type: 'A', values: ['10.0.1.10'], ttl: 60 }]);
    expect(locks).toEqual([]);
    expect(audit).toEqual([]);
  });

  it('shows an unexpired lock row of the operations table as a lock, and neither an expired nor a released one', async () => {
    // Prepare
    const lockRow = (name: string, expiresInMs: number) =>
      toItem({
        pk: `lock#${name}`,
        owner: `failover-20261130T020000-${name}`,
        operation: 'failover',
        requestedBy: 'U0OPS0001',
        acquiredAt: new Date().toISOString(),
        expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
        expiresAtMs: Date.now() + expiresInMs,
      });
    await dynamo('PutItem', { TableName: 'OperationsTable', Item: lockRow('ghes', 3_600_000) });
    await dynamo('PutItem', { TableName: 'OperationsTable', Item: lockRow('backup', -1_000) });
    await dynamo('PutItem', {
      TableName: 'OperationsTable',
      Item: toItem({ pk: 'topology#ghes', primary: 'x' }),
    });

    // Act
    const held = (await state(sandbox)).locks;
    await dynamo('DeleteItem', { TableName: 'OperationsTable', Key: toItem({ pk: 'lock#ghes' }) });
    const released = (await state(sandbox)).locks;

    // Assess
    expect(held).toEqual([
      expect.objectContaining({
        name: 'ghes',
        owner: 'failover-20261130T020000-ghes',
        operation: 'failover',
        expiresAt: expect.any(String),
      }),
    ]);
    expect(released).toEqual([]);
  });

  it('lists audit rows oldest first, as written', async () => {
    // Prepare
    const row = (at: string, what: string) =>
      toItem({ pk: `audit#${at.slice(0, 10)}`, sk: `${at}#${what}`, actor: 'U0OPS0001', action: what });
    await dynamo('PutItem', { TableName: 'AuditTable', Item: row('2026-11-30T02:00:02.000Z', 'approve') });
    await dynamo('PutItem', { TableName: 'AuditTable', Item: row('2026-11-30T02:00:01.000Z', 'request') });

    // Act
    const { audit } = await state(sandbox);

    // Assess
    expect(audit!.map((r: { action: string }) => r.action)).toEqual(['request', 'approve']);
  });

  it('sets a replica’s replication through POST /sandbox/appliances, and refuses what it does not know, changing nothing', async () => {
    // Act
    const set = await post('/sandbox/appliances', { name: 'ghes-replica', replication: 'critical' });
    const unknownNode = await post('/sandbox/appliances', { name: 'ghes-nope', replication: 'ok' });
    const badValue = await post('/sandbox/appliances', { name: 'ghes-replica', replication: 'fine' });
    const onPrimary = await post('/sandbox/appliances', { name: 'ghes-primary', replication: 'ok' });
    const replica = (await state(sandbox)).appliances!.find(
      (a: { name: string }) => a.name === 'ghes-replica',
    );
    await post('/sandbox/appliances', { name: 'ghes-replica', replication: 'ok' });

    // Assess
    expect(set).toMatchObject({
      status: 200,
      body: { appliance: { name: 'ghes-replica', replication: 'critical' } },
    });
    expect(unknownNode).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('ghes-primary, ghes-replica') },
    });
    expect(badValue).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('replication: expected one of') },
    });
    expect(onPrimary.status).toBe(400);
    expect(replica.replication).toBe('critical');
  });

  it('arms the GHES fault targets and refuses unknown ones with 400 naming them', async () => {
    // Act
    const promote = await post('/sandbox/faults', { target: 'ssm:ghe-repl-promote', exitCode: 1 });
    const primaryDown = await post('/sandbox/faults', {
      target: 'appliance:ghes-primary',
      error: 'Unreachable',
    });
    const dns = await post('/sandbox/faults', {
      target: 'route53:ChangeResourceRecordSets',
      error: 'Throttling',
      count: 1,
    });
    const states = await post('/sandbox/faults', {
      target: 'states:SendTaskSuccess',
      error: 'TaskTimedOut',
      count: 1,
    });
    const unknownNode = await post('/sandbox/faults', {
      target: 'appliance:ghes-nope',
      error: 'Unreachable',
    });
    const unknownCommand = await post('/sandbox/faults', { target: 'ssm:ghe-nope', exitCode: 1 });
    const down = (await state(sandbox)).appliances!.find((a: { name: string }) => a.name === 'ghes-primary');

    // Assess
    expect([promote.status, primaryDown.status, dns.status, states.status]).toEqual([201, 201, 201, 201]);
    expect(unknownNode).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('"appliance:ghes-nope"') },
    });
    expect(unknownCommand).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('"ssm:ghe-nope"') },
    });
    expect(down.status).toBe(0); // no answer from an unreachable node
  });

  it('shows an execution with its state machine, Step Functions status, times and current step', async () => {
    // Prepare: the twin's callback fixture, its Lambda a stand-in that keeps the token.
    const tokens: string[] = [];
    const ask: TwinLambda = {
      name: 'sandbox-ask',
      stats: {
        invocations: 0,
        errors: 0,
        timeouts: 0,
        crashes: 0,
        containers: 1,
        coldStartMs: 0,
        billedMs: 0,
      },
      invoke: async <T>(event: unknown) => (tokens.push((event as { taskToken: string }).taskToken), {} as T),
    };
    sandbox.twin.registerLambda(ask);
    const definition = JSON.parse(
      readFileSync(new URL('./fixtures/callback.asl.json', import.meta.url), 'utf8'),
    );
    sandbox.twin.stepFunctions.register('sandbox-callback', definition, { AskFunctionArn: 'sandbox-ask' });
    const sfn = new SFNClient({
      endpoint: sandbox.twin.endpoint.url,
      region: sandbox.config.region,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });

    // Act
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: sandbox.twin.stepFunctions.stateMachineArn('sandbox-callback'),
        name: 'failover-20261130T020000-a1b2c3',
        input: JSON.stringify({
          requestedBy: 'U0OPS0001',
          approvalTimeoutSeconds: 1800,
          heartbeatSeconds: 3600,
          settleSeconds: 1,
        }),
      }),
    );
    await waitFor('the token', async () => tokens.length > 0);
    const waiting = (await state(sandbox)).executions!.find(
      (e: { name: string }) => e.name === 'failover-20261130T020000-a1b2c3',
    );
    await sfn.send(
      new SendTaskSuccessCommand({ taskToken: tokens[0], output: '{"decision":"approve","by":"U0OPS0002"}' }),
    );
    const done = await waitFor('the execution to succeed', async () =>
      (await state(sandbox)).executions!.find(
        (e: { name: string; status: string }) =>
          e.name === 'failover-20261130T020000-a1b2c3' && e.status !== 'RUNNING',
      ),
    );

    // Assess
    expect(waiting).toMatchObject({
      stateMachine: 'sandbox-callback',
      status: 'RUNNING',
      currentStep: 'Ask',
      stoppedAt: null,
    });
    expect(waiting.startedAt).toEqual(expect.any(String));
    expect(done).toMatchObject({ status: 'SUCCEEDED', currentStep: 'Approved' });
    expect(done.stoppedAt >= done.startedAt).toBe(true);
  });
});
