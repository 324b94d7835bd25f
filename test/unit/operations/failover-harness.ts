import { readFileSync } from 'node:fs';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { JsonCall } from '../../../shared/aws/json-client.ts';
import type { OperationsConfig } from '../../../shared/config/operations-config.ts';
import { operationsSchema } from '../../../shared/config/operations-config.ts';
import type { SlackClient } from '../../../shared/slack/slack-client.ts';
import type { AuditEntry } from '../../../shared/operations/audit-log.ts';
import type { Alert } from '../../../shared/alerts/alert-sink.ts';
import {
  PromoteNotStartedError,
  type ApplianceOperations,
  type ReplicationState,
} from '../../../shared/operations/appliance-port.ts';
import { createDynamoApprovals } from '../../../shared/operations/approvals.ts';
import { createDynamoOperationLocks } from '../../../shared/operations/operation-lock.ts';
import { createDynamoProgressStore } from '../../../shared/operations/progress-store.ts';
import { createFailoverProgress } from '../../../shared/operations/failover-progress.ts';
import { createDynamoTopology } from '../../../shared/operations/topology.ts';
import { createControlTasks } from '../../../shared/operations/failover-control-tasks.ts';
import { createApplianceTasks } from '../../../shared/operations/failover-appliance-tasks.ts';
import { createPromoteTasks } from '../../../shared/operations/failover-promote-tasks.ts';
import { createDnsTasks } from '../../../shared/operations/failover-dns-tasks.ts';
import { routeFailoverTasks } from '../../../shared/operations/failover-task-router.ts';
import type { DnsRecords } from '../../../shared/operations/route53-records.ts';

/**
 * The failover ASL on aws-local-stepfunctions with the real task code (the routers the handlers
 * export) over the twin's DynamoDB, and fakes for what helpers B and D provide: appliances that keep
 * state (roles, maintenance, connections draining, replication health, promote), a Route53 zone, a
 * Slack sink. The approval state is driven here the way the twin will drive it: the control task
 * stores the token, the test clicks (Approvals.decide, as the Slack interaction does), and the
 * decision resumes the wait; no decision within the input's timeout fails it with States.Timeout.
 */
export const operations: OperationsConfig = operationsSchema.parse({
  appliances: [
    {
      name: 'ghes-primary',
      instanceId: 'i-0a1b2c3d4e5f60001',
      initialRole: 'primary',
      statusUrl: 'https://10.0.1.10/status',
      dnsValue: '10.0.1.10',
    },
    {
      name: 'ghes-replica',
      instanceId: 'i-0a1b2c3d4e5f60002',
      initialRole: 'replica',
      statusUrl: 'https://10.0.2.10/status',
      dnsValue: '10.0.2.10',
    },
  ],
  dns: { hostedZoneId: 'Z0SANDBOX0001', recordName: 'ghes.sandbox.internal', type: 'A', ttl: 60 },
  slack: {
    signingSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ghes-cp/slack-signing-secret',
    channelIds: ['C0OPS0001'],
    userIds: ['U0OPS0001', 'U0OPS0002'],
  },
  failover: {
    approvalTimeoutMinutes: 30,
    drainTimeoutSeconds: 60,
    replicationTimeoutSeconds: 60,
    promoteTimeoutMinutes: 5,
    verifyAttempts: 3,
  },
});

export class ApplianceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApplianceCommandError';
  }
}

/** Two appliances with the state the failover reads and changes. */
export class FakeAppliances implements ApplianceOperations {
  role: Record<string, 'primary' | 'replica'> = { 'ghes-primary': 'primary', 'ghes-replica': 'replica' };
  maintenance: Record<string, boolean> = { 'ghes-primary': false, 'ghes-replica': false };
  unreachable = new Set<string>();
  connections = 3;
  /** Health answered per ghe-repl-status call; the last one repeats. */
  replication: ReplicationState['health'][] = ['ok'];
  promote: { polls: number; exitCode: number | null; start?: 'ok' | 'not-sent' | 'lost' } = {
    polls: 2,
    exitCode: 0,
  };
  promotesSent: string[] = [];
  maintenanceCalls: [string, boolean][] = [];
  #promotePolls = 0;

  #reach(name: string) {
    if (this.unreachable.has(name)) throw new ApplianceError(`${name}: undeliverable (agent offline)`);
  }
  async replicationStatus(a: { name: string }) {
    this.#reach(a.name);
    const health = this.replication.length > 1 ? this.replication.shift()! : this.replication[0]!;
    return {
      health,
      promotable: this.role[a.name] === 'replica',
      summary: health === 'ok' ? 'OK: mysql, redis, git, pages' : 'CRITICAL: mysql replication is behind',
    };
  }
  async maintenanceStatus(a: { name: string }) {
    this.#reach(a.name);
    // Connections drain one per look once maintenance mode stops new ones.
    if (this.maintenance[a.name] && this.connections > 0) this.connections--;
    return { enabled: this.maintenance[a.name]!, activeConnections: this.connections };
  }
  async setMaintenance(a: { name: string }, on: boolean) {
    this.#reach(a.name);
    this.maintenanceCalls.push([a.name, on]);
    this.maintenance[a.name] = on;
  }
  async startPromote(a: { name: string }) {
    if (this.promote.start === 'not-sent') throw new PromoteNotStartedError(`${a.name}: InvalidInstanceId`);
    this.promotesSent.push(a.name);
    if (this.promote.start === 'lost') throw new Error('Task timed out after 30.00 seconds');
    return { commandId: 'cmd-promote-1' };
  }
  async pollPromote(a: { name: string }, commandId: string) {
    if (commandId !== 'cmd-promote-1') throw new Error(`unknown command ${commandId}`);
    if (++this.#promotePolls < this.promote.polls || this.promote.exitCode === null)
      return { state: 'running' as const };
    if (this.promote.exitCode === 0) {
      const old = Object.keys(this.role).find((n) => n !== a.name)!;
      this.role[a.name] = 'primary';
      this.role[old] = 'replica';
      return { state: 'done' as const, exitCode: 0, output: 'Replica has been promoted to primary.' };
    }
    return { state: 'done' as const, exitCode: this.promote.exitCode, output: 'Error: unable to promote' };
  }
  async probeStatus(a: { name: string }) {
    if (this.unreachable.has(a.name)) return { unreachable: 'connect ECONNREFUSED' };
    return { status: this.role[a.name] === 'primary' && !this.maintenance[a.name] ? 200 : 503 };
  }
}

export class FakeZone implements DnsRecords {
  values = ['10.0.1.10'];
  ttl = 300;
  upserts: string[][] = [];
  failUpsert = false;
  #checks = 0;
  async read(_zone: string, name: string, type: 'A' | 'CNAME') {
    return { name: `${name}.`, type, ttl: this.ttl, values: this.values };
  }
  async upsert(_zone: string, record: { values: readonly string[]; ttl: number }) {
    if (this.failUpsert) throw Object.assign(new Error('User is not authorized'), { name: 'AccessDenied' });
    this.upserts.push([...record.values]);
    this.values = [...record.values];
    this.ttl = record.ttl;
    return { changeId: 'C0CHANGE1', status: 'PENDING' as const };
  }
  async changeStatus() {
    return ++this.#checks > 1 ? ('INSYNC' as const) : ('PENDING' as const);
  }
}

export interface SlackCall {
  method: 'chat.postMessage' | 'chat.update';
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
}

export const fakeSlack = () => {
  const calls: SlackCall[] = [];
  let next = 1;
  const client: SlackClient = {
    async postMessage(m) {
      const ts = `1700000000.00000${next++}`;
      calls.push({
        method: 'chat.postMessage',
        channel: m.channel,
        ts,
        text: m.text,
        blocks: m.blocks ? [...m.blocks] : undefined,
      });
      return { channel: m.channel, ts };
    },
    async updateMessage(m) {
      calls.push({
        method: 'chat.update',
        channel: m.channel,
        ts: m.ts,
        text: m.text,
        blocks: m.blocks ? [...m.blocks] : undefined,
      });
      return { channel: m.channel, ts: m.ts };
    },
  };
  return { client, calls };
};

const definition = (): StateMachineDefinition => {
  const text = readFileSync(
    new URL('../../../state-machines/ghes-failover.asl.json', import.meta.url),
    'utf8',
  );
  const asl = JSON.parse(
    text.replace(
      /\$\{GhesFailover(\w+)FunctionArn\}/g,
      (_, fn: string) => `ghes-failover-${fn.toLowerCase()}`,
    ),
  ) as { States: Record<string, Record<string, unknown>> };
  // aws-local-stepfunctions reads TimeoutSecondsPath from the state's effective input (its
  // Parameters), where AWS reads the state input; the approval's timeout is enforced here instead.
  delete asl.States.RequestApproval!.TimeoutSecondsPath;
  return asl as unknown as StateMachineDefinition;
};

export interface Harness {
  appliances: FakeAppliances;
  zone: FakeZone;
  slack: ReturnType<typeof fakeSlack>;
  audit: AuditEntry[];
  alerts: Alert[];
  locks: ReturnType<typeof createDynamoOperationLocks>;
  approvals: ReturnType<typeof createDynamoApprovals>;
  topology: ReturnType<typeof createDynamoTopology>;
  /** What happens when the buttons appear: click one as a user, or nothing (the wait times out). */
  onApproval: (approvalId: string) => Promise<{ decision: 'approve' | 'abort'; by: string } | null>;
  /** Runs one execution as the Slack command starts it (lock taken first, as that owner). */
  run(
    input?: Partial<Record<string, unknown>>,
  ): Promise<{ status: 'SUCCEEDED' | 'FAILED'; error?: string; output?: unknown; states: string[] }>;
}

export const createHarness = (dynamo: JsonCall): Harness => {
  const table = 'OperationsTable';
  const appliances = new FakeAppliances();
  const zone = new FakeZone();
  const slack = fakeSlack();
  const audit: AuditEntry[] = [];
  const alerts: Alert[] = [];
  const locks = createDynamoOperationLocks(dynamo, table);
  const approvals = createDynamoApprovals(dynamo, table);
  const topology = createDynamoTopology(dynamo, table, operations.appliances);
  const progress = createFailoverProgress({
    store: createDynamoProgressStore(dynamo, table),
    slack: slack.client,
    audit: { record: async (e) => void audit.push(e) },
    logger: { warn() {}, error() {} },
  });
  const functions: Record<string, (event: unknown) => Promise<unknown>> = {
    'ghes-failover-control': routeFailoverTasks(
      'ghes-failover-control',
      createControlTasks({
        operations,
        locks,
        approvals,
        topology,
        progress,
        slack: slack.client,
        alerts: { raise: async (a) => void alerts.push(a) },
      }),
    ),
    'ghes-failover-appliance': routeFailoverTasks(
      'ghes-failover-appliance',
      createApplianceTasks({ operations, appliances, topology, dns: zone, progress }),
    ),
    'ghes-failover-promote': routeFailoverTasks(
      'ghes-failover-promote',
      createPromoteTasks({ operations, appliances, progress }),
    ),
    'ghes-failover-dns': routeFailoverTasks(
      'ghes-failover-dns',
      createDnsTasks({ operations, dns: zone, progress }),
    ),
  };
  const machine = new StateMachine(definition(), { validationOptions: { checkArn: false } });
  let runs = 0;

  const harness: Harness = {
    appliances,
    zone,
    slack,
    audit,
    alerts,
    locks,
    approvals,
    topology,
    onApproval: async () => null,
    async run(overrides = {}) {
      const execution = `failover-20261130T0200${String(runs++).padStart(2, '0')}-a1b2c3`;
      const input = {
        operation: 'failover',
        dryRun: false,
        requestedBy: 'U0OPS0001',
        channelId: 'C0OPS0001',
        lockOwner: execution,
        approvalTimeoutSeconds: 1800,
        ...overrides,
      };
      // The Slack command takes the lock before it starts the execution.
      await locks.acquire({
        name: 'ghes',
        owner: String(input.lockOwner),
        operation: 'failover',
        requestedBy: 'U0OPS0001',
        ttlSeconds: 3600,
        now: new Date(),
      });
      const token = `task-token-${execution}-secret`;
      const handlers: Record<string, (input: never) => Promise<unknown>> = {};
      const states = (
        machine as unknown as { definition: { States: Record<string, { Type: string; Resource?: string }> } }
      ).definition.States;
      for (const [name, state] of Object.entries(states)) {
        if (state.Type !== 'Task') continue;
        const invoke = async ({ FunctionName, Payload }: { FunctionName: string; Payload: unknown }) =>
          functions[FunctionName]!(structuredClone(Payload));
        handlers[name] =
          state.Resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken'
            ? async (params: { FunctionName: string; Payload: unknown }) => {
                const { approvalId } = (await invoke(params)) as { approvalId: string };
                const timeoutMs = Number(input.approvalTimeoutSeconds) * 10; // scaled, as the twin does
                const decided = await Promise.race([
                  harness.onApproval(approvalId).then(async (click) => {
                    if (!click) return new Promise<never>(() => {});
                    // What the Slack interaction does: the first decision wins and yields the token.
                    const outcome = await approvals.decide(approvalId, click.decision, click.by, new Date());
                    if (outcome.outcome !== 'decided' || outcome.taskToken !== token)
                      throw new Error(`click not decided: ${outcome.outcome}`);
                    return click;
                  }),
                  new Promise<never>((_, reject) =>
                    setTimeout(
                      () =>
                        reject(Object.assign(new Error('approval timed out'), { name: 'States.Timeout' })),
                      timeoutMs,
                    ),
                  ),
                ]);
                return decided;
              }
            : async (params: { FunctionName: string; Payload: unknown }) => ({
                StatusCode: 200,
                Payload: (await invoke(params)) ?? null,
              });
      }
      const waits = Object.fromEntries(
        Object.entries(states)
          .filter(([, s]) => s.Type === 'Wait')
          .map(([n]) => [n, 0]),
      );
      const retries = Object.fromEntries(Object.keys(states).map((n) => [n, 0]));
      const visited: string[] = [];
      const execution$ = machine.run(input as never, {
        overrides: {
          taskResourceLocalHandlers: handlers as never,
          waitTimeOverrides: waits,
          retryIntervalOverrides: retries,
        },
        context: {
          Execution: {
            Id: `arn:aws:states:eu-west-1:111122223333:execution:ghes-failover:${execution}`,
            Name: execution,
            Input: input as never,
            StartTime: new Date().toISOString(),
          },
          Task: { Token: token },
        } as never,
      });
      const events = (async () => {
        for await (const event of execution$.eventLogs)
          if (event.type === 'StateEntered') visited.push(event.state.name);
      })();
      try {
        const output = await execution$.result;
        await events;
        return { status: 'SUCCEEDED', output, states: visited };
      } catch (error) {
        await events.catch(() => {});
        const cause = (error as { cause?: { name?: string } }).cause;
        return { status: 'FAILED', error: cause?.name ?? (error as Error).name, states: visited };
      }
    },
  };
  return harness;
};

/** The approve/abort buttons of the last message that showed them. */
export const buttonsShown = (calls: SlackCall[]) =>
  calls.flatMap((c) =>
    ((c.blocks ?? []) as { type: string; elements?: { action_id?: string; value?: string }[] }[])
      .filter((b) => b.type === 'actions')
      .flatMap((b) => b.elements ?? []),
  );

/** The step lines of the last version of the progress message. */
export const lastMessage = (calls: SlackCall[]) => {
  const last = calls.filter((c) => c.ts === calls[0]?.ts).pop()!;
  return ((last.blocks ?? []) as { text?: { text: string } }[]).map((b) => b.text?.text ?? '').join('\n');
};
