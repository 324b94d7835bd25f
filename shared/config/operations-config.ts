import * as z from 'zod/mini';
import { nonEmpty, secretArn } from './schema-primitives.ts';

/**
 * The GHES operations half: which appliances exist, the DNS record users reach GHES by, who may run
 * operations from Slack, and the failover's bounds. Slack identifies people and channels by ID, never
 * by name: a display name can be changed by its owner, an ID cannot.
 */
const httpsUrl = z
  .string()
  .check(z.regex(/^https?:\/\/[^/\s]+(\/\S*)?$/, 'expected an http(s) URL such as https://10.0.1.10/status'));

const applianceSchema = z.strictObject({
  /** Our name for the node, used in Slack, locks and the audit log: `ghes-primary`. */
  name: z.string().check(z.regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'expected lowercase letters, digits and -')),
  /** The EC2 instance SSM Run Command reaches it by. */
  instanceId: z.string().check(z.regex(/^(i|mi)-[0-9a-f]{8,17}$/, 'expected an instance ID (i-…)')),
  /** Its role when the stack is first deployed; afterwards the topology record says which is primary. */
  initialRole: z.enum(['primary', 'replica']),
  /** This node's own `/status` (200 only on the active primary), by its address, not the shared name. */
  statusUrl: httpsUrl,
  /** What the DNS record holds when this node is primary: an IPv4 address (A) or a host name (CNAME). */
  dnsValue: nonEmpty,
  /** The Management Console API on port 8443; when given, replication and maintenance are read there. */
  manageApi: z.optional(
    z.strictObject({
      url: httpsUrl,
      /** Secret holding the Management Console password (the `api_key` user's), as a plain string. */
      passwordSecretArn: secretArn,
    }),
  ),
});

const dnsSchema = z.strictObject({
  hostedZoneId: z.string().check(z.regex(/^Z[A-Z0-9]{1,32}$/, 'expected a Route53 hosted zone ID (Z…)')),
  /** The name users and runners reach GHES by, e.g. `ghes.example.internal`. */
  recordName: z
    .string()
    .check(z.regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$/i, 'expected a DNS name')),
  type: z._default(z.enum(['A', 'CNAME']), 'A'),
  /** Seconds; short, so clients follow a failover quickly. @default 60 */
  ttl: z._default(z.number().check(z.int(), z.minimum(5), z.maximum(86_400)), 60),
});

const slackId = (prefix: string, what: string) =>
  z.string().check(z.regex(new RegExp(`^[${prefix}][A-Z0-9]{2,}$`), `expected a Slack ${what} ID`));

const operationsSlackSchema = z.strictObject({
  /** Secret holding the Slack app's signing secret, as a plain string. */
  signingSecretArn: secretArn,
  /** Channels operations may be asked from (`C…`, or `G…` for a private channel). */
  channelIds: z
    .array(slackId('CG', 'channel (C…)'))
    .check(z.minLength(1, 'expected at least one channel ID')),
  /** People who may ask for and approve operations (`U…` or `W…`). */
  userIds: z.array(slackId('UW', 'user (U…)')).check(z.minLength(1, 'expected at least one user ID')),
  /** The approver must be someone other than the requester. @default true */
  approverMustDiffer: z._default(z.boolean(), true),
});

const seconds = (fallback: number) => z._default(z.number().check(z.int(), z.positive()), fallback);

const failoverSchema = z.strictObject({
  /** Unanswered approval → aborted, nothing changed. @default 30 */
  approvalTimeoutMinutes: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(1440)), 30),
  /** How long to wait for the primary's active connections to drain to 0. @default 300 */
  drainTimeoutSeconds: seconds(300),
  /** How long to wait for every replication channel to be OK before giving up. @default 600 */
  replicationTimeoutSeconds: seconds(600),
  /** `ghe-repl-promote` takes 10–20 minutes on 3.x. @default 45 */
  promoteTimeoutMinutes: z._default(z.number().check(z.int(), z.minimum(5), z.maximum(180)), 45),
  /** Tries of the new primary's `/status` after the DNS switch. @default 10 */
  verifyAttempts: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(100)), 10),
});

export const operationsSchema = z.strictObject({
  appliances: z.array(applianceSchema).check(z.minLength(2, 'expected a primary and a replica')),
  dns: dnsSchema,
  slack: operationsSlackSchema,
  failover: z._default(failoverSchema, {
    approvalTimeoutMinutes: 30,
    drainTimeoutSeconds: 300,
    replicationTimeoutSeconds: 600,
    promoteTimeoutMinutes: 45,
    verifyAttempts: 10,
  }),
});

export type OperationsConfig = z.infer<typeof operationsSchema>;
export type ApplianceConfig = OperationsConfig['appliances'][number];

/** Checks across the section: one primary, one replica, unique names and instances, a bot to post as. */
export const crossCheckOperations = (
  operations: OperationsConfig | undefined,
  hasSlackApp: boolean,
  at = 'operations',
): string[] => {
  if (!operations) return [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  operations.appliances.forEach((appliance, i) => {
    for (const key of ['name', 'instanceId'] as const) {
      const id = `${key}:${appliance[key]}`;
      if (seen.has(id))
        problems.push(
          `${at}.appliances[${i}].${key}: "${appliance[key]}" is already used by ${at}.appliances[${seen.get(id)}]`,
        );
      else seen.set(id, i);
    }
    if (operations.dns.type === 'A' && !/^\d{1,3}(\.\d{1,3}){3}$/.test(appliance.dnsValue))
      problems.push(`${at}.appliances[${i}].dnsValue: expected an IPv4 address for an A record`);
  });
  for (const role of ['primary', 'replica'] as const) {
    const count = operations.appliances.filter((a) => a.initialRole === role).length;
    if (count !== 1)
      problems.push(`${at}.appliances: expected exactly one with initialRole ${role}, found ${count}`);
  }
  if (!hasSlackApp) problems.push(`slack: required when operations are configured (slack.botTokenSecretArn)`);
  return problems;
};
