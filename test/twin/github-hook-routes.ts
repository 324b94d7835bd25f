import type { RouteTable, Answer } from './github-api.ts';
import type { HookLog } from './github-hook-log.ts';

/**
 * The hook deliveries REST API over the twin's hook log: the App's hook (`/app/hook/…`, App JWT)
 * sees every delivery, an org hook (`/orgs/{org}/hooks/{hook_id}/…`, installation token) only its
 * org's. Lists are newest first and paged with an opaque cursor in a `Link: …; rel="next"` header.
 * https://docs.github.com/enterprise-server@3.14/rest/apps/webhooks
 */
const DOCS = 'https://docs.github.com/enterprise-server/rest';
const notFound: Answer = [404, { message: 'Not Found', documentation_url: DOCS }];
const invalid = (message: string): Answer => [422, { message, documentation_url: DOCS }];

/** The cursor names the oldest id the previous page showed; clients only pass it back. */
const cursorOf = (before: number) => Buffer.from(`before:${before}`).toString('base64url');
const beforeOf = (cursor: string) => {
  const match = /^before:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
};

export const registerHookDeliveryRoutes = (
  route: RouteTable,
  log: HookLog,
  options: {
    readonly apiUrl: () => string;
    /** The org hook's id (every org has this one hook in the twin); another id is 404. */
    readonly orgHookId: number;
  },
) => {
  const list = (path: string, query: URLSearchParams, owner?: string): Answer => {
    const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 30) || 30));
    const cursor = query.get('cursor');
    const before = cursor === null || cursor === '' ? undefined : beforeOf(cursor);
    if (cursor && before === undefined) return invalid('Invalid cursor');
    const { items, more } = log.page({
      perPage,
      ...(owner === undefined ? {} : { owner }),
      ...(before === undefined ? {} : { before }),
    });
    const last = items.at(-1);
    const next = new URLSearchParams({
      per_page: String(perPage),
      ...(last ? { cursor: cursorOf(last.id) } : {}),
    });
    return [200, items, more && last ? { link: `<${options.apiUrl()}${path}?${next}>; rel="next"` } : {}];
  };
  const one = (id: string, owner?: string): Answer => {
    const detail = /^\d+$/.test(id) ? log.get(Number(id), owner) : undefined;
    return detail ? [200, detail] : notFound;
  };
  const redeliver = (id: string, owner?: string): Answer => {
    if (!/^\d+$/.test(id) || !log.get(Number(id), owner)) return notFound;
    void log.redeliver(Number(id)); // GitHub answers before it sends
    return [202, {}];
  };
  const orgHook = (params: Record<string, string>) =>
    Number(params.hook_id) === options.orgHookId ? (params.org ?? '').toLowerCase() : undefined;

  route('GET /app/hook/deliveries', 'jwt', (_p, _s, _b, query) => list('/app/hook/deliveries', query));
  route('GET /app/hook/deliveries/{delivery_id}', 'jwt', (p) => one(p.delivery_id ?? ''));
  route('POST /app/hook/deliveries/{delivery_id}/attempts', 'jwt', (p) => redeliver(p.delivery_id ?? ''));
  route('GET /orgs/{org}/hooks/{hook_id}/deliveries', 'token', (p, _s, _b, query) => {
    const owner = orgHook(p);
    return owner === undefined
      ? notFound
      : list(`/orgs/${p.org}/hooks/${p.hook_id}/deliveries`, query, owner);
  });
  route('GET /orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}', 'token', (p) => {
    const owner = orgHook(p);
    return owner === undefined ? notFound : one(p.delivery_id ?? '', owner);
  });
  route('POST /orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}/attempts', 'token', (p) => {
    const owner = orgHook(p);
    return owner === undefined ? notFound : redeliver(p.delivery_id ?? '', owner);
  });
};
