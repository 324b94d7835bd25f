import { createHmac } from 'node:crypto';

/**
 * Requests as Slack sends them to the app: form-encoded, with `X-Slack-Request-Timestamp` and
 * `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">` under the app's signing
 * secret. Written from Slack's documentation, independently of the product's verifier; a unit test
 * checks it reproduces Slack's own worked example (test/vectors/slack/signature.json).
 */
export interface SlackRequest {
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface SigningOptions {
  /** Seconds since the epoch; now unless given (a stale or future one to test the window). */
  readonly timestamp?: number;
}

export const slackSignature = (secret: string, timestamp: number | string, body: string): string =>
  `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;

export const signSlackRequest = (
  secret: string,
  body: string,
  options: SigningOptions = {},
): SlackRequest => {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': slackSignature(secret, timestamp, body),
      'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    },
    body,
  };
};

export interface SlashCommand {
  readonly userId: string;
  readonly channelId: string;
  readonly text?: string;
  /** @default /ghes */
  readonly command?: string;
  readonly userName?: string;
}

/** The form fields Slack sends for a slash command (`token` is Slack's deprecated verification token). */
export const slashCommandBody = (command: SlashCommand): string =>
  new URLSearchParams({
    token: 'gIkuvaNzQIHg97ATvDxqgjtO',
    team_id: 'T0SANDBOX',
    team_domain: 'sandbox',
    channel_id: command.channelId,
    channel_name: 'ops',
    user_id: command.userId,
    user_name: command.userName ?? command.userId.toLowerCase(),
    command: command.command ?? '/ghes',
    text: command.text ?? '',
    api_app_id: 'A0GHESCP01',
    is_enterprise_install: 'false',
    response_url: 'https://hooks.slack.com/commands/T0SANDBOX/1000000000001/sandboxsandboxsandbox',
    trigger_id: '1000000000001.1000000000.sandboxtrigger',
  }).toString();

export const slashCommand = (secret: string, command: SlashCommand, options: SigningOptions = {}) =>
  signSlackRequest(secret, slashCommandBody(command), options);

/** Slack's certificate check of a slash command's URL. */
export const sslCheck = (secret: string, options: SigningOptions = {}) =>
  signSlackRequest(
    secret,
    new URLSearchParams({ ssl_check: '1', token: 'gIkuvaNzQIHg97ATvDxqgjtO' }).toString(),
    options,
  );

export interface ButtonClick {
  readonly userId: string;
  readonly channelId: string;
  /** `approve` or `abort` for ours; anything else to test refusals. */
  readonly actionId: string;
  /** The approval id the button carries. */
  readonly value: string;
  /** Where the app may reply; Slack's hooks.slack.com unless given. */
  readonly responseUrl?: string;
  readonly messageTs?: string;
}

/** Slack's standard `block_actions` payload for a button in a message posted by the app. */
export const blockActionsPayload = (click: ButtonClick) => {
  const messageTs = click.messageTs ?? '1764500000.000100';
  return {
    type: 'block_actions',
    user: {
      id: click.userId,
      username: click.userId.toLowerCase(),
      name: click.userId.toLowerCase(),
      team_id: 'T0SANDBOX',
    },
    api_app_id: 'A0GHESCP01',
    token: 'gIkuvaNzQIHg97ATvDxqgjtO',
    container: { type: 'message', message_ts: messageTs, channel_id: click.channelId, is_ephemeral: false },
    trigger_id: '1000000000002.1000000000.sandboxtrigger',
    team: { id: 'T0SANDBOX', domain: 'sandbox' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: click.channelId, name: 'ops' },
    message: {
      type: 'message',
      subtype: 'bot_message',
      text: 'GHES failover',
      ts: messageTs,
      bot_id: 'B0GHESCP01',
    },
    state: { values: {} },
    response_url:
      click.responseUrl ?? 'https://hooks.slack.com/actions/T0SANDBOX/1000000000002/sandboxsandboxsandbox',
    actions: [
      {
        action_id: click.actionId,
        block_id: 'approval',
        text: { type: 'plain_text', text: click.actionId === 'abort' ? 'Abort' : 'Approve', emoji: true },
        value: click.value,
        style: click.actionId === 'abort' ? 'danger' : 'primary',
        type: 'button',
        action_ts: '1764500001.000200',
      },
    ],
  };
};

/** `payload=<JSON>` as Slack posts an interaction; `payload` may be any text to test malformed ones. */
export const interactionBody = (payload: unknown): string =>
  new URLSearchParams({
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  }).toString();

export const buttonClick = (secret: string, click: ButtonClick, options: SigningOptions = {}) =>
  signSlackRequest(secret, interactionBody(blockActionsPayload(click)), options);

/** POSTs a Slack request to a sandbox route; the body is JSON when there is one. */
export const postSlack = async (
  baseUrl: string,
  path: '/slack/commands' | '/slack/interactions',
  request: SlackRequest,
) => {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
  });
  const text = await response.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : text;
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, body, text };
};
