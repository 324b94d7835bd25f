import type { AcquireLock, LockHolder, OperationLocks } from '../../../shared/operations/operation-lock.ts';
import type {
  ApprovalDecision,
  ApprovalRequest,
  Approvals,
  DecideOutcome,
} from '../../../shared/operations/approvals.ts';
import type { AuditEntry, AuditLog } from '../../../shared/operations/audit-log.ts';
import type {
  ExecutionPresence,
  OperationExecutions,
  TaskAnswer,
  TaskTokens,
} from '../../../shared/operations/slack-executions.ts';
import type { ClickReplies } from '../../../shared/operations/slack-response-url.ts';
import type { TopologyRecord } from '../../../shared/operations/slack-status.ts';
import { loadSandboxConfig } from '../../sandbox/sandbox-config.ts';

/**
 * Small in-memory stand-ins for the stores and services the Slack flows call. The real lock and
 * approval stores land with the failover state machine; these keep only the behaviour the
 * contract promises (expiry in the lock's condition, first decision wins).
 */
export const operationsConfig = () => loadSandboxConfig(undefined, {}).operations!;
export const SIGNING_SECRET = 'unit-signing-secret';

export const fakeLocks = () => {
  const held = new Map<string, LockHolder>();
  const calls: string[] = [];
  const locks: OperationLocks = {
    async acquire(request: AcquireLock) {
      calls.push(`acquire ${request.owner}`);
      const holder = held.get(request.name);
      if (holder && holder.owner !== request.owner && Date.parse(holder.expiresAt) > request.now.getTime())
        return { acquired: false, holder };
      held.set(request.name, {
        name: request.name,
        owner: request.owner,
        operation: request.operation,
        requestedBy: request.requestedBy,
        acquiredAt: request.now.toISOString(),
        expiresAt: new Date(request.now.getTime() + request.ttlSeconds * 1000).toISOString(),
      });
      return { acquired: true };
    },
    async release(name, owner) {
      calls.push(`release ${owner}`);
      if (held.get(name)?.owner !== owner) return false;
      held.delete(name);
      return true;
    },
    async holder(name, now) {
      const holder = held.get(name);
      return holder && Date.parse(holder.expiresAt) > now.getTime() ? holder : null;
    },
  };
  return { locks, held, calls };
};

export const fakeExecutions = () => {
  const started: { name: string; input: Record<string, unknown> }[] = [];
  const presence = new Map<string, ExecutionPresence>();
  let failWith: Error | undefined;
  let startsDespiteFailure = false;
  const executions: OperationExecutions = {
    arnOf: (name) => `arn:aws:states:eu-west-1:111122223333:execution:ghes-failover:${name}`,
    async start(name, input) {
      if (failWith && startsDespiteFailure) presence.set(name, 'running');
      if (failWith) throw failWith;
      started.push({ name, input: input as Record<string, unknown> });
      presence.set(name, 'running');
      return { executionArn: `arn:aws:states:eu-west-1:111122223333:execution:ghes-failover:${name}` };
    },
    async presence(name) {
      return presence.get(name) ?? 'missing';
    },
  };
  return {
    executions,
    started,
    presence,
    /** With `startedAnyway`, the execution starts but the answer is lost (a timeout). */
    failNextWith(error: Error, options: { startedAnyway?: boolean } = {}) {
      failWith = error;
      startsDespiteFailure = options.startedAnyway ?? false;
    },
  };
};

export const fakeAudit = () => {
  const rows: AuditEntry[] = [];
  let failing: ((entry: AuditEntry) => boolean) | undefined;
  const audit: AuditLog = {
    async record(entry) {
      if (failing?.(entry)) throw new Error('ProvisionedThroughputExceededException');
      rows.push(entry);
    },
  };
  return {
    audit,
    rows,
    failWhen(predicate: (entry: AuditEntry) => boolean) {
      failing = predicate;
    },
  };
};

export const fakeApprovals = () => {
  const requests = new Map<string, ApprovalRequest & { taskToken: string }>();
  const decisions = new Map<string, { decision: ApprovalDecision; by: string; at: string }>();
  const decideCalls: string[] = [];
  const approvals: Approvals = {
    async open() {
      throw new Error('the Slack functions never open approvals');
    },
    async get(id) {
      const found = requests.get(id);
      if (!found) return null;
      const { taskToken: _token, ...request } = found;
      return request;
    },
    async decide(id, decision, by, now): Promise<DecideOutcome> {
      decideCalls.push(`${decision} ${by}`);
      const found = requests.get(id);
      if (!found) return { outcome: 'unknown' };
      const { taskToken, ...request } = found;
      const earlier = decisions.get(id);
      if (earlier)
        return {
          outcome: 'already',
          request,
          decision: earlier.decision,
          decidedBy: earlier.by,
          decidedAt: earlier.at,
        };
      decisions.set(id, { decision, by, at: now.toISOString() });
      return { outcome: 'decided', request, taskToken };
    },
  };
  return {
    approvals,
    decideCalls,
    add(request: ApprovalRequest & { taskToken: string }) {
      requests.set(request.id, request);
    },
  };
};

export const fakeTasks = () => {
  const sent: { taskToken: string; output: object }[] = [];
  let answer: TaskAnswer | Error = 'delivered';
  const tasks: TaskTokens = {
    async succeed(taskToken, output) {
      if (answer instanceof Error) throw answer;
      if (answer === 'delivered') sent.push({ taskToken, output });
      return answer;
    },
  };
  return {
    tasks,
    sent,
    answerWith(next: TaskAnswer | Error) {
      answer = next;
    },
  };
};

export const fakeReplies = () => {
  const posted: { responseUrl: string | undefined; text: string }[] = [];
  const replies: ClickReplies = {
    async reply(responseUrl, text) {
      posted.push({ responseUrl, text });
      return 'posted';
    },
  };
  return { replies, posted };
};

export const fakeTopology = (record: TopologyRecord | null | Error = null) => ({
  async current() {
    if (record instanceof Error) throw record;
    return record;
  },
});

/** Captures every log line, to prove what is never logged. */
export const captureLogger = () => {
  const lines: unknown[][] = [];
  const log =
    (level: string) =>
    (...args: unknown[]) =>
      void lines.push([level, ...args]);
  return {
    logger: { info: log('info'), warn: log('warn'), error: log('error'), appendKeys: log('keys') },
    lines,
    text: () =>
      JSON.stringify(lines, (_key, value: unknown) =>
        value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value,
      ),
  };
};
