import { describe, expect, it } from 'vitest';
import { createSlackInteractions } from '../../../shared/operations/slack-interaction.ts';
import type { ApprovalRequest } from '../../../shared/operations/approvals.ts';
import {
  blockActionsPayload,
  buttonClick,
  interactionBody,
  signSlackRequest,
  type ButtonClick,
} from '../../support/slack-requests.ts';
import {
  captureLogger,
  fakeApprovals,
  fakeAudit,
  fakeReplies,
  fakeTasks,
  operationsConfig,
  SIGNING_SECRET,
} from './slack-fakes.ts';

const T0 = new Date('2026-11-30T10:20:00Z');
const APPROVAL_ID = '9f1c2b3a4d5e6f708192a3b4c5d6e7f8';
const TOKEN = 'AAAAKgAAAAIAAAAAAAAAAf1y4secret-task-token';
const RESPONSE_URL = 'https://hooks.slack.com/actions/T0SANDBOX/42/response-secret';

const request = (overrides: Partial<ApprovalRequest> = {}): ApprovalRequest & { taskToken: string } => ({
  id: APPROVAL_ID,
  executionName: 'failover-20261130T101500-a1b2c3',
  operation: 'failover',
  requestedBy: 'U0OPS0001',
  channelId: 'C0OPS0001',
  createdAt: '2026-11-30T10:15:05.000Z',
  expiresAt: '2026-11-30T10:45:05.000Z',
  taskToken: TOKEN,
  ...overrides,
});

const setup = (options: { approverMustDiffer?: boolean; now?: () => Date } = {}) => {
  const operations = operationsConfig();
  if (options.approverMustDiffer === false) operations.slack.approverMustDiffer = false;
  const approvals = fakeApprovals();
  approvals.add(request());
  const tasks = fakeTasks();
  const audit = fakeAudit();
  const replies = fakeReplies();
  const log = captureLogger();
  let now = options.now ?? (() => T0);
  const interactions = createSlackInteractions({
    signingSecret: { current: async () => SIGNING_SECRET },
    operations,
    approvals: approvals.approvals,
    tasks: tasks.tasks,
    audit: audit.audit,
    replies: replies.replies,
    logger: log.logger,
    now: () => now(),
  });
  const send = (signed: { headers: Record<string, string>; body: string }) =>
    interactions.receive({ headers: signed.headers, body: Buffer.from(signed.body) });
  const timestamp = () => ({ timestamp: Math.floor(now().getTime() / 1000) });
  const click = (c: Partial<ButtonClick> = {}) =>
    send(
      buttonClick(
        SIGNING_SECRET,
        {
          userId: 'U0OPS0002',
          channelId: 'C0OPS0001',
          actionId: 'approve',
          value: APPROVAL_ID,
          responseUrl: RESPONSE_URL,
          ...c,
        },
        timestamp(),
      ),
    );
  const raw = (body: string) => send(signSlackRequest(SIGNING_SECRET, body, timestamp()));
  return {
    approvals,
    tasks,
    audit,
    replies,
    log,
    click,
    raw,
    send,
    setNow: (next: Date) => (now = () => next),
  };
};

const textOf = (answer: { status: number; body?: Record<string, unknown> }) => {
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ response_type: 'ephemeral' });
  return String(answer.body!.text);
};

describe('Approve and Abort clicks', () => {
  it('delivers a second person’s approval to the waiting execution and tells them', async () => {
    const s = setup();
    const text = textOf(await s.click());
    expect(text).toBe(
      'You approved `failover-20261130T101500-a1b2c3`: it continues; the message above shows each step.',
    );
    expect(s.tasks.sent).toEqual([{ taskToken: TOKEN, output: { decision: 'approve', by: 'U0OPS0002' } }]);
    // Slack shows a click's reply only through response_url.
    expect(s.replies.posted).toEqual([{ responseUrl: RESPONSE_URL, text }]);
    expect(s.audit.rows.map((r) => [r.actor, r.action, r.result, r.executionName])).toEqual([
      ['U0OPS0002', 'approve', 'received', 'failover-20261130T101500-a1b2c3'],
      ['U0OPS0002', 'approve', 'approved', 'failover-20261130T101500-a1b2c3'],
    ]);
  });

  it('refuses the requester’s own approval, deciding nothing, but lets them abort', async () => {
    const s = setup();
    const refused = textOf(await s.click({ userId: 'U0OPS0001' }));
    expect(refused).toBe(
      'Refused: you asked for this failover, so someone else must approve it (operations.slack.approverMustDiffer). You may still abort it.',
    );
    expect(s.approvals.decideCalls).toEqual([]);
    expect(s.tasks.sent).toEqual([]);
    expect(s.audit.rows).toMatchObject([
      { actor: 'U0OPS0001', action: 'refuse', result: 'refused: self-approval' },
    ]);

    expect(textOf(await s.click({ userId: 'U0OPS0001', actionId: 'abort' }))).toMatch(/^You aborted/);
    expect(s.tasks.sent).toEqual([{ taskToken: TOKEN, output: { decision: 'abort', by: 'U0OPS0001' } }]);
  });

  it('lets the requester approve when approverMustDiffer is off', async () => {
    const s = setup({ approverMustDiffer: false });
    expect(textOf(await s.click({ userId: 'U0OPS0001' }))).toMatch(/^You approved/);
  });

  it('lets the first decision win; a later click learns who decided what, and when', async () => {
    const s = setup();
    await s.click({ userId: 'U0OPS0002', actionId: 'abort' });
    s.setNow(new Date(T0.getTime() + 30_000));
    const later = textOf(await s.click({ userId: 'U0OPS0002', actionId: 'approve' }));
    expect(later).toBe(
      `Already decided by <@U0OPS0002> (abort) at ${T0.toISOString()}; your click changed nothing.`,
    );
    expect(s.tasks.sent).toHaveLength(1);
    expect(s.audit.rows.at(-1)).toMatchObject({
      action: 'refuse',
      result: 'refused: already decided by U0OPS0002 (abort)',
    });
  });

  it('says the approval expired when Step Functions no longer takes the token', async () => {
    const s = setup();
    s.tasks.answerWith('expired');
    expect(textOf(await s.click())).toBe(
      'This approval expired: `failover-20261130T101500-a1b2c3` no longer waits for it (timed out or ended). Your click changed nothing.',
    );
    expect(s.audit.rows.at(-1)).toMatchObject({ result: 'expired: the execution no longer waits' });
  });

  it('says the approval expired without deciding when its time is past', async () => {
    const s = setup({ now: () => new Date('2026-11-30T10:45:05.000Z') });
    expect(textOf(await s.click())).toMatch(/^This approval expired at 2026-11-30T10:45:05.000Z/);
    expect(s.approvals.decideCalls).toEqual([]);
  });

  it('says when a decision was recorded but could not be delivered, and what happens next', async () => {
    const s = setup();
    s.tasks.answerWith(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    const text = textOf(await s.click());
    expect(text).toMatch(
      /^Your approve was recorded but Step Functions did not take it \(ThrottlingException\)/,
    );
    expect(text).toContain('aborts at 2026-11-30T10:45:05.000Z, changing nothing');
    expect(s.audit.rows.at(-1)).toMatchObject({ result: 'decided, not delivered: ThrottlingException' });
  });

  it('answers an unknown approval id without deciding anything', async () => {
    const s = setup();
    expect(textOf(await s.click({ value: 'ffffffffffffffffffffffffffffffff' }))).toBe(
      'This approval is unknown or has expired; your click changed nothing.',
    );
    expect(s.tasks.sent).toEqual([]);
  });
});

describe('who may click', () => {
  it('refuses a workspace member with no rights; nothing is decided', async () => {
    const s = setup();
    expect(textOf(await s.click({ userId: 'U0DEV0001' }))).toMatch(
      /^Refused: you are not authorized to run GHES operations \(Slack user U0DEV0001/,
    );
    expect(s.approvals.decideCalls).toEqual([]);
    expect(s.audit.rows).toMatchObject([
      {
        actor: 'U0DEV0001',
        operation: 'approval',
        result: `refused: user not authorized (approval ${APPROVAL_ID})`,
      },
    ]);
  });

  it('refuses a click from a channel not in the config', async () => {
    const s = setup();
    expect(textOf(await s.click({ channelId: 'C0RANDOM1' }))).toMatch(/this channel \(C0RANDOM1\)/);
    expect(s.approvals.decideCalls).toEqual([]);
  });

  it('decides nothing when the click cannot be written to the audit log first', async () => {
    const s = setup();
    s.audit.failWhen((entry) => entry.result === 'received');
    expect(textOf(await s.click())).toMatch(/^Nothing was done: the audit log could not be written/);
    expect(s.approvals.decideCalls).toEqual([]);
    expect(s.tasks.sent).toEqual([]);
  });
});

describe('requests that are not a click of ours', () => {
  const good = blockActionsPayload({
    userId: 'U0OPS0002',
    channelId: 'C0OPS0001',
    actionId: 'approve',
    value: APPROVAL_ID,
  });

  it.each([
    ['no payload field', 'token=x', 'payload: missing'],
    ['a payload that is not JSON', interactionBody('{"type":'), 'payload: not valid JSON'],
    [
      'another interaction type',
      interactionBody({ ...good, type: 'view_submission' }),
      'payload: type "view_submission" is not block_actions',
    ],
    [
      'an action of another button',
      interactionBody({ ...good, actions: [{ ...good.actions[0], action_id: 'promote' }] }),
      'payload: actions[0].action_id: expected approve or abort',
    ],
    [
      'no approval id',
      interactionBody({ ...good, actions: [{ ...good.actions[0], value: '' }] }),
      'payload: actions[0].value: expected an approval id',
    ],
    ['no user', interactionBody({ ...good, user: {} }), 'payload: user.id: expected a Slack user ID'],
    [
      'two actions',
      interactionBody({ ...good, actions: [good.actions[0], good.actions[0]] }),
      'payload: actions: expected exactly one action',
    ],
  ])('answers 400 for %s, deciding nothing', async (_label, body, error) => {
    const s = setup();
    expect(await s.raw(body)).toEqual({ status: 400, body: { error: expect.stringContaining(error) } });
    expect(s.approvals.decideCalls).toEqual([]);
    expect(s.audit.rows).toEqual([]);
  });

  it('checks the signature before reading the payload: an unsigned malformed one is a 401', async () => {
    const s = setup();
    const signed = signSlackRequest('another-secret', interactionBody('{"type":'));
    expect((await s.send(signed)).status).toBe(401);
  });

  it('never logs the task token, the response_url or the signing secret', async () => {
    const s = setup();
    await s.click();
    await s.click({ userId: 'U0OPS0001' });
    s.tasks.answerWith(new Error('boom'));
    await s.click({ actionId: 'abort' });
    const logged = s.log.text();
    expect(logged).toContain('failover-20261130T101500-a1b2c3');
    for (const secret of [TOKEN, 'response-secret', SIGNING_SECRET]) expect(logged).not.toContain(secret);
  });
});
