import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackClient } from '../../../shared/slack/slack-client.ts';
import { FaultInjector } from '../../../test/twin/faults.ts';
import { startSlackTwin, type SlackTwin } from '../../../test/twin/slack.ts';

let slack: SlackTwin;
const faults = new FaultInjector(() => ({ targets: slack.faultTargets }));
beforeAll(async () => {
  slack = await startSlackTwin({ botToken: 'xoxb-good', channels: { '#deploys': 'C0DEPLOYS' }, faults });
});
afterAll(async () => slack?.close());

const clientWith = (token: string, sleeps: number[] = []) => {
  let reads = 0;
  const client = createSlackClient({
    apiUrl: slack.apiUrl,
    botToken: { token: async () => (reads++, token), forget: () => undefined },
    sleep: async (ms) => void sleeps.push(ms),
  });
  return { client, reads: () => reads };
};

describe('the Slack Web API client', () => {
  it('posts by #name, gets the channel ID back, and updates the message in place', async () => {
    const { client } = clientWith('xoxb-good');
    const posted = await client.postMessage({ channel: '#deploys', text: 'deploying' });
    expect(posted.channel).toBe('C0DEPLOYS');
    await client.updateMessage({ ...posted, text: 'deployed' });
    expect(slack.calls.at(-1)).toMatchObject({
      method: 'chat.update',
      channel: 'C0DEPLOYS',
      ts: posted.ts,
      text: 'deployed',
    });
  });

  it('waits out a 429 for its retry-after and tries again, within the bound', async () => {
    const sleeps: number[] = [];
    const { client } = clientWith('xoxb-good', sleeps);
    faults.arm({ target: 'slack:chat.postMessage', error: 'ratelimited', count: 1 });
    await expect(client.postMessage({ channel: '#deploys', text: 'x' })).resolves.toMatchObject({
      channel: 'C0DEPLOYS',
    });
    expect(sleeps).toEqual([1000]);
  });

  it('gives up after maxAttempts and says when to retry', async () => {
    const { client } = clientWith('xoxb-good');
    faults.arm({ target: 'slack:chat.postMessage', error: 'ratelimited', count: 3 });
    await expect(client.postMessage({ channel: '#deploys', text: 'x' })).rejects.toMatchObject({
      kind: 'rate_limited',
      retryAfterSeconds: 1,
      retryable: true,
    });
  });

  it('classifies a missing channel and a bad token, and never puts the token in the error', async () => {
    const { client } = clientWith('xoxb-good');
    await expect(client.postMessage({ channel: '#nowhere', text: 'x' })).rejects.toMatchObject({
      kind: 'channel',
      code: 'channel_not_found',
      retryable: false,
    });
    const bad = clientWith('xoxb-secret-value').client;
    const error = await bad.postMessage({ channel: '#deploys', text: 'x' }).catch((e: Error) => e);
    expect(error).toMatchObject({ kind: 'auth', code: 'invalid_auth' });
    expect(
      JSON.stringify({ message: (error as Error).message, stack: (error as Error).stack }),
    ).not.toContain('xoxb-secret-value');
  });
});
