import type { Logger } from '@aws-lambda-powertools/logger';

/**
 * Replies to a button click. Slack ignores the body of the HTTP answer to a `block_actions` request
 * (unlike a slash command's), so the clicker only sees a reply posted to the payload's
 * `response_url`: `response_type: ephemeral` shows it to them alone, `replace_original: false`
 * leaves the progress message with its buttons as it is.
 *
 * Only URLs on an allowed origin are posted to: `https://hooks.slack.com` on AWS, or the origin of
 * the configured Slack API (`slack.apiUrl`) when one is set, so the sandbox never reaches the real
 * Slack. The URL is a credential of sorts (anyone holding it may post into the conversation for 30
 * minutes), so it is never logged; only its origin is.
 */
export type ReplyOutcome = 'posted' | 'skipped' | 'failed';

export interface ClickReplies {
  reply(responseUrl: string | undefined, text: string): Promise<ReplyOutcome>;
}

export const SLACK_RESPONSE_ORIGIN = 'https://hooks.slack.com';

export const responseOriginsFor = (slackApiUrl: string | undefined): readonly string[] =>
  slackApiUrl ? [new URL(slackApiUrl).origin] : [SLACK_RESPONSE_ORIGIN];

export const createResponseUrlReplies = (options: {
  readonly allowedOrigins: readonly string[];
  /** Slack's 3 s cover the whole click; the reply gets what is left after the decision. @default 1500 */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  readonly logger: Pick<Logger, 'warn'>;
}): ClickReplies => {
  const send = options.fetch ?? fetch;
  return {
    async reply(responseUrl, text) {
      if (!responseUrl) return 'skipped';
      let origin: string;
      try {
        origin = new URL(responseUrl).origin;
      } catch {
        options.logger.warn('response_url is not a URL: reply not posted');
        return 'skipped';
      }
      if (!options.allowedOrigins.includes(origin)) {
        options.logger.warn('response_url on an origin not allowed: reply not posted', { origin });
        return 'skipped';
      }
      try {
        const response = await send(responseUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }),
          signal: AbortSignal.timeout(options.timeoutMs ?? 1500),
        });
        if (response.ok) return 'posted';
        options.logger.warn('response_url refused the reply', { origin, status: response.status });
      } catch (error) {
        options.logger.warn('response_url did not take the reply', { origin, error: (error as Error).name });
      }
      return 'failed';
    },
  };
};
