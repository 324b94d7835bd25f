import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { loadTwinLambda } from '../twin/lambda-host.ts';
import { AUDIT_TABLE, OPERATIONS_TABLE } from '../twin/twin.ts';
import { startTestSandbox, state } from '../support/sandbox-driver.ts';
import {
  blockActionsPayload,
  buttonClick,
  interactionBody,
  postSlack,
  signSlackRequest,
  slashCommand,
  sslCheck,
} from '../support/slack-requests.ts';

/**
 * The Slack routes end to end: requests signed as Slack signs them → sandbox route → the real
 * handlers → the twin. What needs the failover state machine and the lock/approval stores (a
 * started failover, approval clicks) is covered by unit tests with fakes until those land.
 */
let sandbox: Sandbox;
let secret: string;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  secret = sandbox.config.sandbox.secrets.slackSigning;
});
afterAll(async () => sandbox?.close());

const audit = () => sandbox.twin.dynamo.scan(AUDIT_TABLE);
/** Everything a Slack request could have changed. */
const sideEffects = async () => ({
  audit: (await audit()).length,
  operations: (await sandbox.twin.dynamo.scan(OPERATIONS_TABLE)).length,
  executions: (await state(sandbox)).executions!.length,
});
const command = (userId: string, channelId: string, text: string) =>
  postSlack(sandbox.url, '/slack/commands', slashCommand(secret, { userId, channelId, text }));

describe('POST /slack/commands', () => {
  it('answers 401 and stores nothing when the signature is wrong, stale or from the future', async () => {
    const before = await sideEffects();
    const now = Math.floor(Date.now() / 1000);
    const asOps = { userId: 'U0OPS0001', channelId: 'C0OPS0001', text: 'failover' };
    for (const request of [
      slashCommand('not-the-signing-secret', asOps),
      slashCommand(secret, asOps, { timestamp: now - 6 * 60 }),
      slashCommand(secret, asOps, { timestamp: now + 6 * 60 }),
    ]) {
      const answer = await postSlack(sandbox.url, '/slack/commands', request);
      expect(answer.status).toBe(401);
      expect(answer.body.error).toMatch(/X-Slack-(Signature|Request-Timestamp)/);
    }
    const unsigned = slashCommand(secret, asOps);
    delete unsigned.headers['x-slack-signature'];
    expect(await postSlack(sandbox.url, '/slack/commands', unsigned)).toMatchObject({
      status: 401,
      body: { error: 'missing X-Slack-Signature header' },
    });
    expect(await sideEffects()).toEqual(before);
  });

  it("answers Slack's signed ssl_check with a bare 200", async () => {
    const answer = await postSlack(sandbox.url, '/slack/commands', sslCheck(secret));
    expect(answer).toMatchObject({ status: 200, text: '' });
  });

  it('answers /ghes help with the commands, shown to the asker only', async () => {
    const answer = await command('U0OPS0002', 'C0OPS0001', 'help');
    expect(answer.status).toBe(200);
    expect(answer.body.response_type).toBe('ephemeral');
    expect(answer.body.text).toContain('`/ghes failover --dry-run`');
  });

  it('refuses U0DEV0001, a workspace member with no rights: 200 ephemeral naming why, nothing started, audited', async () => {
    const before = await sideEffects();
    const answer = await command('U0DEV0001', 'C0OPS0001', 'failover');
    expect(answer).toMatchObject({
      status: 200,
      body: {
        response_type: 'ephemeral',
        text: 'Refused: you are not authorized to run GHES operations (Slack user U0DEV0001 is not in operations.slack.userIds). Nothing was started.',
      },
    });
    const after = await sideEffects();
    expect(after.executions).toBe(before.executions);
    expect(after.operations).toBe(before.operations); // no lock taken
    expect((await state(sandbox)).locks).toEqual([]);
    expect(await audit()).toContainEqual(
      expect.objectContaining({
        pk: expect.stringMatching(/^audit#\d{4}-\d{2}-\d{2}$/),
        actor: 'U0DEV0001',
        action: 'refuse',
        operation: 'failover',
        result: 'refused: user not authorized',
        channelId: 'C0OPS0001',
      }),
    );
  });

  it('refuses an authorized user asking from another channel, naming the allowed one', async () => {
    const before = await sideEffects();
    const answer = await command('U0OPS0001', 'C0RANDOM1', 'failover --dry-run');
    expect(answer.status).toBe(200);
    expect(answer.body.text).toMatch(/^Refused: GHES operations are run only from <#C0OPS0001>/);
    expect((await sideEffects()).executions).toBe(before.executions);
    expect(await audit()).toContainEqual(
      expect.objectContaining({
        actor: 'U0OPS0001',
        operation: 'failover --dry-run',
        result: 'refused: channel not allowed',
      }),
    );
  });
});

describe('POST /slack/interactions', () => {
  const good = blockActionsPayload({
    userId: 'U0OPS0002',
    channelId: 'C0OPS0001',
    actionId: 'approve',
    value: '9f1c2b3a4d5e6f708192a3b4c5d6e7f8',
  });

  it('answers 400 for a signed payload that is not a click of ours, storing nothing', async () => {
    const before = await sideEffects();
    for (const [body, error] of [
      [interactionBody('{"type":'), 'payload: not valid JSON'],
      ['payload=', 'payload: missing'],
      [interactionBody({ ...good, actions: [{ ...good.actions[0], action_id: 'promote' }] }), 'action_id'],
    ] as const) {
      const answer = await postSlack(sandbox.url, '/slack/interactions', signSlackRequest(secret, body));
      expect(answer.status).toBe(400);
      expect(answer.body.error).toContain(error);
    }
    expect(await sideEffects()).toEqual(before);
  });

  it('answers 401 before reading the payload when the signature is wrong', async () => {
    const answer = await postSlack(
      sandbox.url,
      '/slack/interactions',
      signSlackRequest('not-the-signing-secret', interactionBody('{"type":')),
    );
    expect(answer.status).toBe(401);
  });

  it('refuses a click by U0DEV0001 without deciding anything, and audits it', async () => {
    const answer = await postSlack(
      sandbox.url,
      '/slack/interactions',
      buttonClick(secret, {
        userId: 'U0DEV0001',
        channelId: 'C0OPS0001',
        actionId: 'approve',
        value: good.actions[0]!.value,
      }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.text).toMatch(/^Refused: you are not authorized to run GHES operations/);
    expect(await audit()).toContainEqual(
      expect.objectContaining({
        actor: 'U0DEV0001',
        operation: 'approval',
        result: expect.stringMatching(/^refused: user not authorized/),
      }),
    );
  });
});

describe('the Slack functions without a signing secret', () => {
  it.each(['slack-command', 'slack-interaction'])(
    '%s refuses to start, naming the variable',
    async (name) => {
      const { SLACK_SIGNING_SECRET_ARN: _gone, ...env } = sandbox.twin.lambdaEnv;
      await expect(
        loadTwinLambda({
          name,
          modulePath: fileURLToPath(new URL(`../../functions/${name}/handler.ts`, import.meta.url)),
          env: { ...env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
          timeoutMs: 3000,
        }),
      ).rejects.toThrow('missing environment variable: SLACK_SIGNING_SECRET_ARN');
    },
  );
});
