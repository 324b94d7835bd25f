import { isConditionFailure, type JsonCall } from '../aws/json-client.ts';
import { fromItem, toAttribute, type Item } from '../aws/dynamo-item.ts';
import { JOB_STATUS_RANK, type RunJob, type RunState } from './run-state.ts';

/**
 * Per-run state of deploy notifications in DynamoDB, one item per run attempt and rule
 * (`run#<owner/repo>#<runId>#<attempt>#<rule>`), in its own table with a TTL: the dispatcher's
 * tables are keyed per job and per pool, and a table of its own lets this role touch nothing else.
 *
 * Each job is a top-level attribute `job_<id>`, so one conditional write moves one job forward
 * without reading the others (a map attribute would need the map to exist first). Events arrive out
 * of order and from several Lambdas at once; three rules keep the message right:
 * - `mergeJob` applies a job event only if it moves that job forward, and bumps `version`;
 * - one worker at a time renders (`acquireRender`: a lock with owner + expiry in the condition; the
 *   TTL attribute is not a lock expiry), from the state it read under the lock;
 * - after recording what it rendered (`renderedVersion`) and letting go, it reads again: a worker
 *   whose merge landed while the lock was held gave up rendering, so its change is caught here.
 */
export interface RunKey {
  readonly repository: string;
  readonly runId: number;
  readonly runAttempt: number;
  readonly rule: string;
}

/** The run-level fields a job event brings; the first non-null value of each is kept. */
export interface RunFields {
  readonly workflow: string;
  readonly channel: string;
  readonly branch: string | null;
  readonly headSha: string | null;
  readonly sender: string | null;
}

export interface RunMessageStore {
  /** `changed: false` when the job is already at or past this status. */
  mergeJob(key: RunKey, run: RunFields, job: RunJob, now: Date): Promise<{ changed: boolean }>;
  /** The state, locked for `owner` until `until`; undefined while another worker holds the lock. */
  acquireRender(key: RunKey, owner: string, now: Date, until: Date): Promise<RunState | undefined>;
  /** Records what `owner` rendered and releases its lock; false if the lock was no longer its own. */
  recordRendered(
    key: RunKey,
    owner: string,
    version: number,
    message: { channel: string; ts: string },
  ): Promise<boolean>;
  release(key: RunKey, owner: string): Promise<void>;
  read(key: RunKey): Promise<RunState | undefined>;
}

/**
 * A run may last 35 days (GitHub's limit, waiting on approvals included) and GitHub redelivers for
 * 3 more: the item outlives its last job event by 45 days, as the job ledger's rows do.
 */
export const RUN_RETENTION_SECONDS = 45 * 24 * 3600;

export const runItemKey = (key: RunKey): string =>
  `run#${key.repository}#${key.runId}#${key.runAttempt}#${key.rule}`;

const JOB_PREFIX = 'job_';

const toState = (item: Item): RunState => {
  const row = fromItem(item) as Record<string, unknown>;
  const jobs = Object.entries(row)
    .filter(([name]) => name.startsWith(JOB_PREFIX))
    .map(([, value]) => value as RunJob);
  return {
    rule: String(row.rule),
    workflow: String(row.workflow),
    repository: String(row.repository),
    runId: Number(row.runId),
    runAttempt: Number(row.runAttempt),
    branch: (row.branch as string | undefined) ?? null,
    headSha: (row.headSha as string | undefined) ?? null,
    sender: (row.sender as string | undefined) ?? null,
    jobs,
    version: Number(row.version ?? 0),
    renderedVersion: Number(row.renderedVersion ?? 0),
    message:
      typeof row.ts === 'string' && typeof row.messageChannel === 'string'
        ? { channel: row.messageChannel, ts: row.ts }
        : null,
  };
};

export const createDynamoRunMessageStore = (dynamo: JsonCall, tableName: string): RunMessageStore => {
  const keyOf = (key: RunKey) => ({ pk: { S: runItemKey(key) } });

  return {
    async mergeJob(key, run, job, now) {
      // Every attribute by alias: `rule`, `version` and others are DynamoDB reserved words.
      const names: Record<string, string> = {
        '#job': `${JOB_PREFIX}${job.jobId}`,
        '#rank': 'rank',
        '#version': 'version',
        '#expiresAt': 'expiresAt',
      };
      const values: Record<string, unknown> = {
        ':job': toAttribute({ ...job, rank: JOB_STATUS_RANK[job.status] }),
        ':rank': toAttribute(JOB_STATUS_RANK[job.status]),
        ':zero': toAttribute(0),
        ':one': toAttribute(1),
        ':expiresAt': toAttribute(Math.floor(now.getTime() / 1000) + RUN_RETENTION_SECONDS),
      };
      const sets = [
        '#job = :job',
        '#version = if_not_exists(#version, :zero) + :one',
        '#expiresAt = :expiresAt',
      ];
      const keep = (field: string, value: string | number | null) => {
        if (value === null) return;
        values[`:${field}`] = toAttribute(value);
        names[`#${field}`] = field;
        sets.push(`#${field} = if_not_exists(#${field}, :${field})`);
      };
      keep('rule', key.rule);
      keep('repository', key.repository);
      keep('runId', key.runId);
      keep('runAttempt', key.runAttempt);
      keep('workflow', run.workflow);
      keep('channel', run.channel);
      keep('branch', run.branch);
      keep('headSha', run.headSha);
      keep('sender', run.sender);
      try {
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: keyOf(key),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_not_exists(#job) OR #job.#rank < :rank',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        });
        return { changed: true };
      } catch (error) {
        if (isConditionFailure(error)) return { changed: false };
        throw error;
      }
    },

    async acquireRender(key, owner, now, until) {
      try {
        const out = await dynamo<{ Attributes?: Item }>('UpdateItem', {
          TableName: tableName,
          Key: keyOf(key),
          UpdateExpression: 'SET renderOwner = :owner, renderUntil = :until',
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(renderUntil) OR renderUntil < :now)',
          ExpressionAttributeValues: {
            ':owner': { S: owner },
            ':until': { N: String(until.getTime()) },
            ':now': { N: String(now.getTime()) },
          },
          ReturnValues: 'ALL_NEW',
        });
        return out.Attributes ? toState(out.Attributes) : undefined;
      } catch (error) {
        if (isConditionFailure(error)) return undefined;
        throw error;
      }
    },

    async recordRendered(key, owner, version, message) {
      try {
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: keyOf(key),
          UpdateExpression: 'SET #rendered = :version, #ts = :ts, #channel = :channel REMOVE #owner, #until',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: {
            '#rendered': 'renderedVersion',
            '#ts': 'ts',
            '#channel': 'messageChannel',
            '#owner': 'renderOwner',
            '#until': 'renderUntil',
          },
          ExpressionAttributeValues: {
            ':version': { N: String(version) },
            ':ts': { S: message.ts },
            ':channel': { S: message.channel },
            ':owner': { S: owner },
          },
        });
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    async release(key, owner) {
      try {
        await dynamo('UpdateItem', {
          TableName: tableName,
          Key: keyOf(key),
          UpdateExpression: 'REMOVE renderOwner, renderUntil',
          ConditionExpression: 'renderOwner = :owner',
          ExpressionAttributeValues: { ':owner': { S: owner } },
        });
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    },

    async read(key) {
      const out = await dynamo<{ Item?: Item }>('GetItem', {
        TableName: tableName,
        Key: keyOf(key),
        ConsistentRead: true,
      });
      return out.Item ? toState(out.Item) : undefined;
    },
  };
};
