import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';
import type { FaultTargetDefinition, InjectedError } from './faults.ts';

/**
 * The twin's GitHub hook and its delivery log, as GHES keeps one per hook: every webhook the twin
 * sends (a queued job it created, a runner's in_progress / completed, a redelivery) is one attempt
 * with its own id, logged whether it reached the intake or not. GitHub never retries a failed
 * delivery by itself; `redeliver` is the `POST …/deliveries/{id}/attempts` a client asks for.
 */
export interface HookDelivery {
  /** Increases with every attempt, redeliveries included. */
  readonly id: number;
  /** `X-GitHub-Delivery`: a redelivery keeps the guid of the delivery it repeats. */
  readonly guid: string;
  readonly delivered_at: string;
  readonly redelivery: boolean;
  /** Seconds, as GitHub reports it. */
  readonly duration: number;
  readonly status: string;
  /** 0 when there was no HTTP answer. */
  readonly status_code: number;
  readonly event: string;
  readonly action: string | null;
  readonly installation_id: number | null;
  readonly repository_id: number | null;
  readonly throttled_at: null;
}

/** What a delivery is about; the log keeps it to answer the org hook and to redeliver. */
export interface HookMessage {
  readonly event: string;
  readonly action: string | null;
  /** Lowercase login of the repository's owner: an org hook sees only its own org's deliveries. */
  readonly owner: string;
  readonly installationId: number | null;
  readonly repositoryId: number | null;
  readonly body: string;
}

export interface HookDeliveryDetail extends HookDelivery {
  readonly request: { headers: Record<string, string>; payload: unknown };
  readonly response: { headers: Record<string, string>; payload: string | null };
}

/** What the hook's URL answered; a thrown transport error means no answer (connection refused). */
export interface HookResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

export type HookTransport = (headers: Record<string, string>, body: string) => Promise<number | HookResponse>;

export interface HookLog {
  /** Sends one delivery now (in order with the caller's other awaits) and logs it; never throws. */
  deliver(message: HookMessage): Promise<HookDelivery>;
  /** Sends the logged delivery `id` again, same body and guid; undefined when the id is unknown. */
  redeliver(id: number): Promise<HookDelivery> | undefined;
  /** Newest first; only `owner`'s deliveries when given (an org hook's view). */
  page(options: { owner?: string; perPage: number; before?: number }): {
    items: HookDelivery[];
    more: boolean;
  };
  get(id: number, owner?: string): HookDeliveryDetail | undefined;
  /** The last `limit` deliveries, oldest first (for the sandbox's state). */
  recent(limit: number): HookDelivery[];
  /** Every delivery ever logged, including those the cap dropped. */
  readonly total: number;
}

/** `github:DeliverWebhook` faults: what GHES's hook log shows for a delivery that failed on the way. */
export const DELIVER_WEBHOOK_FAULT: FaultTargetDefinition = {
  errors: { FailedToConnect: 0, BadGateway: 502, Timeout: 0 },
  defaultError: 'FailedToConnect',
  filters: { action: ['queued', 'waiting', 'in_progress', 'completed'] },
};

/** The hook ids the twin's deliveries come from (GHES puts the hook in every delivery's headers). */
const APP_HOOK_ID = 1;

type Entry = HookDelivery & {
  readonly owner: string;
  readonly message: HookMessage;
  readonly requestHeaders: Record<string, string>;
  readonly responseHeaders: Record<string, string>;
  readonly responseBody: string | null;
};

const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const statusText = (code: number) => (code >= 200 && code < 300 ? 'OK' : `Invalid HTTP Response: ${code}`);

export const createHookLog = (options: {
  readonly webhookSecret: string;
  readonly appId: number;
  readonly transport: HookTransport;
  readonly now: () => number;
  readonly faults?: { take(target: string, call: Record<string, string>): InjectedError | undefined };
  /** Attempts kept for the API (GitHub keeps a hook's deliveries for days, not forever). @default 10000 */
  readonly capacity?: number;
}): HookLog => {
  const capacity = options.capacity ?? 10_000;
  const entries: Entry[] = [];
  let nextId = 1;
  let total = 0;

  const attempt = async (message: HookMessage, guid: string, redelivery: boolean): Promise<HookDelivery> => {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/twin',
      'x-github-event': message.event,
      'x-github-delivery': guid,
      'x-github-hook-id': String(APP_HOOK_ID),
      'x-github-hook-installation-target-type': 'integration',
      'x-github-hook-installation-target-id': String(options.appId),
      'x-hub-signature-256': await sign(options.webhookSecret, message.body),
    };
    const id = nextId++;
    const started = performance.now();
    const deliveredAt = options.now();
    const injected = options.faults?.take('github:DeliverWebhook', { action: message.action ?? '' });
    let statusCode = 0;
    let status = 'failed to connect to host';
    let response: HookResponse | undefined;
    // A timeout reaches the intake and only the answer is lost; the other faults never reach it.
    if (!injected || injected.afterEffect || injected.code === 'Timeout') {
      try {
        const answered = await options.transport(headers, message.body);
        response = typeof answered === 'number' ? { status: answered } : answered;
        statusCode = response.status;
        status = statusText(statusCode);
      } catch {
        // No answer at all: GitHub logs status 0 and this text.
      }
    }
    if (injected) {
      response = undefined;
      statusCode = injected.httpStatus;
      status =
        injected.code === 'Timeout'
          ? 'timed out'
          : statusCode
            ? statusText(statusCode)
            : 'failed to connect to host';
    }
    const entry: Entry = {
      id,
      guid,
      delivered_at: isoSeconds(deliveredAt),
      redelivery,
      duration: Math.round(performance.now() - started) / 1000,
      status,
      status_code: statusCode,
      event: message.event,
      action: message.action,
      installation_id: message.installationId,
      repository_id: message.repositoryId,
      throttled_at: null,
      owner: message.owner,
      message,
      requestHeaders: { ...headers, 'x-hub-signature-256': '[redacted]' },
      responseHeaders: response?.headers ?? {},
      responseBody: response?.body ?? null,
    };
    // Attempts are logged by id: one that started earlier but answered later still sorts first.
    const at = entries.findIndex((e) => e.id > id);
    entries.splice(at === -1 ? entries.length : at, 0, entry);
    total++;
    if (entries.length > capacity) entries.splice(0, entries.length - capacity);
    return view(entry);
  };

  const view = ({
    owner: _o,
    message: _m,
    requestHeaders: _q,
    responseHeaders: _r,
    responseBody: _b,
    ...item
  }: Entry) => ({
    ...item,
  });
  const find = (id: number, owner?: string) =>
    entries.find((e) => e.id === id && (owner === undefined || e.owner === owner));

  return {
    deliver: (message) => attempt(message, randomUUID(), false),
    redeliver(id) {
      const entry = find(id);
      return entry ? attempt(entry.message, entry.guid, true) : undefined;
    },
    page({ owner, perPage, before }) {
      const matching = entries.filter(
        (e) => (owner === undefined || e.owner === owner) && (before === undefined || e.id < before),
      );
      const items = matching.slice(-perPage).reverse();
      return { items: items.map(view), more: matching.length > perPage };
    },
    get(id, owner) {
      const entry = find(id, owner);
      if (!entry) return undefined;
      let payload: unknown = entry.message.body;
      try {
        payload = JSON.parse(entry.message.body);
      } catch {
        // a body that is not JSON is shown as sent
      }
      return {
        ...view(entry),
        request: { headers: entry.requestHeaders, payload },
        response: { headers: entry.responseHeaders, payload: entry.responseBody },
      };
    },
    recent: (limit) => entries.slice(-limit).map(view),
    get total() {
      return total;
    },
  };
};
