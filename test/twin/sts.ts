import { randomBytes, randomUUID } from 'node:crypto';
import { TwinAwsError, escapeXml, type TwinAwsService } from './aws-endpoint.ts';
import type { TwinClock } from './clock.ts';

/**
 * STS `AssumeRole` for pools whose capacity lives in another account. Each session gets its own
 * access key, and the twin remembers which account a key acts in, so EC2 and Parameter Store
 * answer a caller with that account's resources only — as they would on AWS.
 */
export interface StsTwin extends TwinAwsService {
  /** The account a caller acts in: an assumed-role session's account, else the home account. */
  accountOf(accessKeyId: string): string;
  /** Sessions handed out, newest last. */
  readonly sessions: readonly { accessKeyId: string; roleArn: string; account: string }[];
}

const ROLE_ARN = /^arn:(aws[\w-]*):iam::(\d{12}):role\/([\w+=,.@/-]{1,64})$/;

export const createStsTwin = (options: { clock: TwinClock; homeAccount: string }): StsTwin => {
  const sessions: { accessKeyId: string; roleArn: string; account: string }[] = [];
  const byKey = new Map<string, string>();
  return {
    id: 'sts',
    signingName: 'sts',
    protocol: 'query',
    operations: {
      AssumeRole: { AccessDenied: 403, ExpiredTokenException: 400, RegionDisabledException: 403 },
    },
    sessions,
    accountOf: (accessKeyId) => byKey.get(accessKeyId) ?? options.homeAccount,
    async handle({ operation, input }) {
      if (operation !== 'AssumeRole') throw new Error(`the STS twin does not handle ${operation}`);
      const roleArn = String(input.RoleArn ?? '');
      const sessionName = String(input.RoleSessionName ?? '');
      const match = ROLE_ARN.exec(roleArn);
      if (!match) throw new TwinAwsError('ValidationError', `${roleArn} is not a valid role ARN`);
      if (!/^[\w+=,.@-]{2,64}$/.test(sessionName))
        throw new TwinAwsError('ValidationError', 'RoleSessionName must be 2-64 characters');
      const [, partition, account, roleName] = match as unknown as [string, string, string, string];
      const seconds = Number(input.DurationSeconds ?? 3600);
      const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
      sessions.push({ accessKeyId, roleArn, account });
      byKey.set(accessKeyId, account);
      const expiration = new Date(options.clock.now().getTime() + seconds * 1000).toISOString();
      const roleId = `AROA${randomBytes(8).toString('hex').toUpperCase()}`;
      return (
        `<?xml version="1.0" encoding="UTF-8"?>\n<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` +
        `<AssumeRoleResult><AssumedRoleUser><AssumedRoleId>${roleId}:${escapeXml(sessionName)}</AssumedRoleId>` +
        `<Arn>arn:${partition}:sts::${account}:assumed-role/${escapeXml(roleName.split('/').pop()!)}/${escapeXml(sessionName)}</Arn>` +
        `</AssumedRoleUser><Credentials><AccessKeyId>${accessKeyId}</AccessKeyId>` +
        `<SecretAccessKey>${randomBytes(20).toString('base64')}</SecretAccessKey>` +
        `<SessionToken>${randomBytes(48).toString('base64')}</SessionToken>` +
        `<Expiration>${expiration}</Expiration></Credentials></AssumeRoleResult>` +
        `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`
      );
    },
  };
};
