import { WebClient, type KnownBlock } from '@slack/web-api';
import type { BotTokenSource } from './bot-token.ts';
import { classifySlackError, SlackApiError } from './slack-errors.ts';

/** A message as the control plane sends it: `text` is the notification and fallback, `blocks` the layout. */
export interface SlackMessage {
  /** A channel ID, or `#name` for chat.postMessage only (Slack answers with the ID). */
  readonly channel: string;
  readonly text: string;
  readonly blocks?: readonly KnownBlock[];
}

export interface PostedMessage {
  /** Always the channel's ID, which chat.update needs, even when posted by `#name`. */
  readonly channel: string;
  readonly ts: string;
}

/** The Slack Web API calls the control plane makes; shared by deploy notifications and operations. */
export interface SlackClient {
  postMessage(message: SlackMessage & { readonly threadTs?: string }): Promise<PostedMessage>;
  updateMessage(message: SlackMessage & { readonly ts: string }): Promise<PostedMessage>;
}

export interface SlackClientOptions {
  readonly botToken: BotTokenSource;
  /** @default https://slack.com/api/ */
  readonly apiUrl?: string;
  /**
   * A 429 whose `retry-after` is at most this is waited out here; a longer one is thrown as
   * `rate_limited` so the caller's queue retries later instead of holding a Lambda. Slack's
   * chat.update allows about one call per second per channel, so a short wait is the usual case.
   * @default 5
   */
  readonly maxRateLimitWaitSeconds?: number;
  /** Calls per operation, rate-limit waits included. @default 3 */
  readonly maxAttempts?: number;
  /** Per request. @default 5000 */
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** @slack/web-api logs through its own console logger; our callers log the classified error instead. */
const quiet = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  setLevel() {},
  getLevel: () => 'error' as never,
  setName() {},
};

/**
 * A Slack Web API client on @slack/web-api with the retry policy owned here: the library's own
 * default retries ten times over about thirty minutes, far past any Lambda's timeout, so it is
 * turned off (`retries: 0`, `rejectRateLimitedCalls`) and replaced by a bounded loop that honours
 * `retry-after`. Errors come out as `SlackApiError` with a kind the caller can act on.
 *
 * @example
 * const slack = createSlackClient({ botToken: createSecretsManagerBotToken(secrets, arn) });
 * const { channel, ts } = await slack.postMessage({ channel: '#deploys', text: 'deploying' });
 * await slack.updateMessage({ channel, ts, text: 'deployed' });
 */
export const createSlackClient = (options: SlackClientOptions): SlackClient => {
  const maxWait = options.maxRateLimitWaitSeconds ?? 5;
  const maxAttempts = options.maxAttempts ?? 3;
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const apiUrl = options.apiUrl ? options.apiUrl.replace(/\/?$/, '/') : undefined;
  let client: { token: string; web: WebClient } | undefined;

  const webClient = async () => {
    const token = await options.botToken.token();
    if (client?.token !== token) {
      client = {
        token,
        web: new WebClient(token, {
          ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
          retryConfig: { retries: 0 },
          rejectRateLimitedCalls: true,
          timeout: options.timeoutMs ?? 5000,
          logger: quiet,
        }),
      };
    }
    return client.web;
  };

  const call = async <T>(method: string, run: (web: WebClient) => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(await webClient());
      } catch (caught) {
        const error = classifySlackError(method, caught);
        // A rotated or revoked token: read the secret again on the next call.
        if (error.kind === 'auth') options.botToken.forget();
        const wait = error.retryAfterSeconds;
        if (error.kind !== 'rate_limited' || wait === undefined || wait > maxWait || attempt >= maxAttempts)
          throw error;
        await sleep(wait * 1000);
      }
    }
  };

  const posted = (method: string, out: { channel?: string; ts?: string }): PostedMessage => {
    if (!out.channel || !out.ts)
      throw new SlackApiError(
        'rejected',
        'invalid_response',
        method,
        `${method}: answer without channel or ts`,
      );
    return { channel: out.channel, ts: out.ts };
  };

  return {
    postMessage: ({ channel, text, blocks, threadTs }) =>
      call('chat.postMessage', async (web) =>
        posted(
          'chat.postMessage',
          await web.chat.postMessage({
            channel,
            text,
            ...(blocks ? { blocks: [...blocks] } : {}),
            ...(threadTs ? { thread_ts: threadTs } : {}),
            // Links to GHES in the text must not unfurl a preview of every commit.
            unfurl_links: false,
            unfurl_media: false,
          }),
        ),
      ),
    updateMessage: ({ channel, ts, text, blocks }) =>
      call('chat.update', async (web) =>
        posted(
          'chat.update',
          await web.chat.update({ channel, ts, text, ...(blocks ? { blocks: [...blocks] } : {}) }),
        ),
      ),
  };
};
