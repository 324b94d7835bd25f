import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import {
  crossCheckNotifications,
  crossCheckPools,
  deploymentConfigSchema,
  parseYamlConfig,
} from '../../shared/config/deployment-config.ts';

/** The sandbox's config: a real deployment config plus a `sandbox:` block describing the twin. */
const sandboxSchema = z.extend(deploymentConfigSchema, {
  sandbox: z.strictObject({
    /** Simulated durations are multiplied by this (env SANDBOX_TIME_SCALE). @default 0.05 */
    timeScale: z._default(z.number().check(z.positive()), 0.05),
    /**
     * The dispatcher's Lambda timeout is scaled with timeScale but never below this, since handler
     * work is not scaled (test/twin/dispatch-timing.ts). @default 3000
     */
    lambdaTimeoutFloorMs: z.optional(z.number().check(z.int(), z.positive())),
    /** Run the EventBridge schedules (the reconciler's minute, at timeScale). @default true */
    schedules: z._default(z.boolean(), true),
    accountId: z._default(z.string().check(z.regex(/^\d{12}$/)), '111122223333'),
    secrets: z.strictObject({
      /** Served by the twin's Secrets Manager as `github.webhookSecretArn` (env WEBHOOK_SECRET). */
      webhook: z.string().check(z.minLength(1)),
      /** Slack signing secret (env SLACK_SIGNING_SECRET). */
      slackSigning: z.string().check(z.minLength(1)),
    }),
    /** GHES version the loopback API pretends to be (< 3.10 has no JIT runner endpoint). @default 3.14 */
    ghesVersion: z._default(z.string().check(z.regex(/^\d+\.\d+$/)), '3.14'),
    /** Organisation runner groups on the loopback GHES beyond Default (1): id → name. */
    runnerGroups: z._default(z.record(z.string().check(z.regex(/^\d+$/)), z.string()), {}),
    /** CodeBuild projects the twin knows; StartBuild on any other fails as AWS does. */
    codebuildProjects: z._default(z.array(z.string().check(z.minLength(1))), []),
    /** Stopped runner instances, tagged `ghes-cp:pool=<pool>`. */
    instances: z._default(
      z.array(
        z.strictObject({
          pool: z.string(),
          az: z.string(),
          instanceType: z.string(),
          count: z._default(z.number().check(z.int(), z.positive()), 1),
          /** Another account's instances are reached through the pool's `roleArn`. */
          account: z.optional(z.string().check(z.regex(/^\d{12}$/))),
        }),
      ),
      [],
    ),
    /** Simulated durations (before timeScale). */
    durations: z._default(
      z.strictObject({
        instanceBootMs: z._default(z.number().check(z.nonnegative()), 20_000),
        buildStartMs: z._default(z.number().check(z.nonnegative()), 30_000),
        runnerBootMs: z._default(z.number().check(z.nonnegative()), 5_000),
        jobMs: z._default(z.number().check(z.nonnegative()), 60_000),
        /** `ghe-repl-promote` on the replica (10–20 min on 3.x; a few minutes here). @default 180000 */
        promoteMs: z._default(z.number().check(z.nonnegative()), 180_000),
        /** Active connections drain to 0 over this once maintenance mode is on. @default 60000 */
        drainMs: z._default(z.number().check(z.nonnegative()), 60_000),
        /** A replica catching up is in sync after this. @default 120000 */
        replicationCatchUpMs: z._default(z.number().check(z.nonnegative()), 120_000),
        /** A Route53 change is PENDING this long, then INSYNC. @default 30000 */
        dnsSyncMs: z._default(z.number().check(z.nonnegative()), 30_000),
      }),
      {
        instanceBootMs: 20_000,
        buildStartMs: 30_000,
        runnerBootMs: 5_000,
        jobMs: 60_000,
        promoteMs: 180_000,
        drainMs: 60_000,
        replicationCatchUpMs: 120_000,
        dnsSyncMs: 30_000,
      },
    ),
    /** The simulated GHES appliances of `operations.appliances` (test/twin/ghes-appliances.ts). */
    ghes: z._default(
      z.strictObject({
        /** Git operations in flight on the primary before maintenance mode. @default 12 */
        activeConnections: z._default(z.number().check(z.int(), z.nonnegative()), 12),
        /** The replica's replication at start. @default ok */
        replication: z._default(z.enum(['ok', 'catching-up', 'critical', 'not-running']), 'ok'),
      }),
      { activeConnections: 12, replication: 'ok' },
    ),
  }),
});

export type SandboxConfig = z.infer<typeof sandboxSchema>;

export const defaultSandboxConfigPath = new URL('./sandbox.config.yaml', import.meta.url);

export const loadSandboxConfig = (
  path: string | URL = defaultSandboxConfigPath,
  env: Readonly<Record<string, string | undefined>> = process.env,
): SandboxConfig => {
  const source = String(path).replace(/^file:\/\//, '');
  const config = parseYamlConfig(readFileSync(path, 'utf8'), sandboxSchema, source, (c) => [
    ...crossCheckPools(c.pools),
    ...crossCheckNotifications(c),
  ]);
  if (env.WEBHOOK_SECRET) config.sandbox.secrets.webhook = env.WEBHOOK_SECRET;
  if (env.SLACK_SIGNING_SECRET) config.sandbox.secrets.slackSigning = env.SLACK_SIGNING_SECRET;
  if (env.SANDBOX_TIME_SCALE) {
    const scale = Number(env.SANDBOX_TIME_SCALE);
    if (!(scale > 0))
      throw new Error(`SANDBOX_TIME_SCALE: expected a positive number, got "${env.SANDBOX_TIME_SCALE}"`);
    config.sandbox.timeScale = scale;
  }
  return config;
};
