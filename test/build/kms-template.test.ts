import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { attachedStatementsOf, roleAllows, type CallRequest, type Statement } from './iam-policy.ts';
import { cfnLint, hasCfnLint, packageWithConfig, type PackagedTemplate } from './packaged-template.ts';

/**
 * `kms:` in the deployment config, as packaged: every table, queue, topic, log group and bucket under
 * the key the config names for it, each role able to use exactly the keys it needs, the way it uses
 * them, and a template cfn-lint finds nothing in.
 */
const AT = { partition: 'aws', region: 'eu-west-1', account: '111122223333' };
const key = (n: number) => `arn:aws:kms:eu-west-1:111122223333:key/${n}0000000-2222-4333-8444-555555555555`;
const EXAMPLE = readFileSync('config/deploy.example.yaml', 'utf8');
const withKms = (kms: string) => `${EXAMPLE}\nkms:\n${kms}`;

/** The example config's secrets, as Secrets Manager names them (the ARN plus `-` and six characters). */
const WEBHOOK_SECRET = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ghes-cp/webhook-secret-AbC123';
const SLACK_TOKEN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ghes-cp/slack-bot-token-XyZ789';

/** The framework's own bucket for deployment artefacts: not one of the stack's data stores. */
const FRAMEWORK_BUCKET = 'ServerlessDeploymentBucket';

const resourcesOf = (template: PackagedTemplate, type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

const expectEncryption = (
  template: PackagedTemplate,
  keys: { tables: string; queues: string; topic: string; logs: string; bucket: string },
) => {
  const tables = resourcesOf(template, 'AWS::DynamoDB::Table');
  expect(tables.length).toBeGreaterThanOrEqual(6);
  for (const [id, table] of tables)
    expect(table.Properties!.SSESpecification, id).toEqual({
      SSEEnabled: true,
      SSEType: 'KMS',
      KMSMasterKeyId: keys.tables,
    });
  const queues = resourcesOf(template, 'AWS::SQS::Queue');
  expect(queues.length).toBeGreaterThanOrEqual(4);
  for (const [id, queue] of queues) {
    expect(queue.Properties!.KmsMasterKeyId, id).toBe(keys.queues);
    // One kind of encryption per queue: SQS refuses SSE-SQS together with a KMS key.
    expect(queue.Properties!.SqsManagedSseEnabled, id).toBeUndefined();
    expect(queue.Properties!.KmsDataKeyReusePeriodSeconds, id).toBeGreaterThanOrEqual(300);
  }
  const topics = resourcesOf(template, 'AWS::SNS::Topic');
  expect(topics.length).toBeGreaterThanOrEqual(1);
  for (const [id, topic] of topics) expect(topic.Properties!.KmsMasterKeyId, id).toBe(keys.topic);
  const functions = resourcesOf(template, 'AWS::Lambda::Function');
  const logGroups = resourcesOf(template, 'AWS::Logs::LogGroup');
  expect(logGroups.length).toBeGreaterThanOrEqual(functions.length);
  for (const [id, group] of logGroups) expect(group.Properties!.KmsKeyId, id).toBe(keys.logs);
  const buckets = resourcesOf(template, 'AWS::S3::Bucket').filter(([id]) => id !== FRAMEWORK_BUCKET);
  expect(buckets.length).toBeGreaterThanOrEqual(1);
  for (const [id, bucket] of buckets)
    expect(bucket.Properties!.BucketEncryption, id).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keys.bucket },
          BucketKeyEnabled: true,
        },
      ],
    });
};

/** A KMS call made through a service, as IAM sees it. */
const kmsCall = (
  action: string,
  keyArn: string,
  service: string | undefined,
  context: Record<string, string> = {},
): CallRequest => ({
  action,
  resource: keyArn,
  context: { ...(service ? { 'kms:ViaService': `${service}.eu-west-1.amazonaws.com` } : {}), ...context },
});
const parameter = (stage: string, path: string) => ({
  'kms:EncryptionContext:PARAMETER_ARN': `arn:aws:ssm:eu-west-1:111122223333:parameter/ghes-control-plane/${stage}/runners/${path}`,
});
const secret = (arn: string) => ({ 'kms:EncryptionContext:SecretARN': arn });

/** The roles that use a key in the example config: every other role must get no KMS action. */
const NEEDS_KMS = new Set([
  'GithubWebhookRole',
  'RunnerDispatcherRole',
  'PoolMaintenanceRole',
  'RunnerInstanceRole',
  'DeployNotifierRole',
  'GhesFailoverControlRole',
  'GhesFailoverApplianceRole',
  'GhesFailoverPromoteRole',
  'GhesFailoverDnsRole',
  'SlackCommandRole',
  'SlackInteractionRole',
]);
const rolesOf = (template: PackagedTemplate) => resourcesOf(template, 'AWS::IAM::Role').map(([id]) => id);
const allows = (template: PackagedTemplate, role: string, call: CallRequest) =>
  roleAllows(attachedStatementsOf(template.Resources, role), call, AT);
const managedPolicyAllows = (template: PackagedTemplate, policy: string, call: CallRequest) =>
  roleAllows(
    (template.Resources[policy]!.Properties!.PolicyDocument as { Statement: Statement[] }).Statement,
    call,
    AT,
  );
const kmsActionsOf = (template: PackagedTemplate, role: string) =>
  attachedStatementsOf(template.Resources, role)
    .flatMap((statement) => [statement.Action].flat())
    .filter((action) => action.startsWith('kms:'));

const variablesOf = (template: PackagedTemplate, fn: string) =>
  (template.Resources[fn]!.Properties!.Environment as { Variables: Record<string, unknown> }).Variables;

describe('customer-managed keys in the packaged template', () => {
  describe('one key for everything (kms.keyArn)', () => {
    const KEY = key(1);
    const OTHER = key(9);
    const stage = 'kmsone';
    let packaged: PackagedTemplate;
    // One `osls package` for the whole block (~10 s alone, over a minute on a busy machine).
    beforeAll(() => {
      packaged = packageWithConfig(stage, withKms(`  keyArn: ${KEY}\n`));
    }, 240_000);
    const template = () => packaged;

    it('puts every table, queue, topic, log group and the output bucket under the key', () => {
      expectEncryption(template(), { tables: KEY, queues: KEY, topic: KEY, logs: KEY, bucket: KEY });
    });

    it('hands the key to the functions that write runner parameters, and to no other', () => {
      const writers = [
        'RunnerDashdispatcherLambdaFunction',
        'RunnerDashreconcilerLambdaFunction',
        'PoolDashmaintenanceLambdaFunction',
      ];
      for (const [id] of resourcesOf(template(), 'AWS::Lambda::Function'))
        expect(variablesOf(template(), id).RUNNER_PARAMETER_KEY_ARN, id).toBe(
          writers.includes(id) ? KEY : undefined,
        );
    });

    it('lets the dispatcher encrypt runner parameters with the key, through Parameter Store, under its prefix only', () => {
      const t = template();
      const role = 'RunnerDispatcherRole';
      expect(allows(t, role, kmsCall('kms:Encrypt', KEY, 'ssm', parameter(stage, 'builds/9f86d081')))).toBe(
        true,
      );
      expect(allows(t, role, kmsCall('kms:Encrypt', KEY, 'ssm', parameter(stage, 'instances/i-0abc')))).toBe(
        true,
      );
      expect(allows(t, role, kmsCall('kms:Encrypt', OTHER, 'ssm', parameter(stage, 'builds/9f86d081')))).toBe(
        false,
      );
      expect(
        allows(t, role, kmsCall('kms:Encrypt', KEY, undefined, parameter(stage, 'builds/9f86d081'))),
      ).toBe(false);
      expect(allows(t, role, kmsCall('kms:Encrypt', KEY, 'ssm', parameter('prod', 'builds/9f86d081')))).toBe(
        false,
      );
      // Writing is all it does with parameters: reading them back is the runners' business.
      expect(allows(t, role, kmsCall('kms:Decrypt', KEY, 'ssm', parameter(stage, 'builds/9f86d081')))).toBe(
        false,
      );
    });

    it("lets a runner decrypt only its own kind of parameter: an instance its instance's, a build its build's", () => {
      const t = template();
      const instance = parameter(stage, 'instances/i-0abc');
      const build = parameter(stage, 'builds/9f86d081');
      expect(allows(t, 'RunnerInstanceRole', kmsCall('kms:Decrypt', KEY, 'ssm', instance))).toBe(true);
      expect(allows(t, 'RunnerInstanceRole', kmsCall('kms:Decrypt', KEY, 'ssm', build))).toBe(false);
      expect(managedPolicyAllows(t, 'RunnerBuildKmsPolicy', kmsCall('kms:Decrypt', KEY, 'ssm', build))).toBe(
        true,
      );
      expect(
        managedPolicyAllows(t, 'RunnerBuildKmsPolicy', kmsCall('kms:Decrypt', KEY, 'ssm', instance)),
      ).toBe(false);
      expect(
        managedPolicyAllows(t, 'RunnerBuildKmsPolicy', kmsCall('kms:Decrypt', KEY, undefined, build)),
      ).toBe(false);
      // The operator attaches it to their CodeBuild projects' roles from this output (docs/deploy.md).
      expect(
        (t as unknown as { Outputs: Record<string, { Value: unknown }> }).Outputs.RunnerBuildKmsPolicyArn
          ?.Value,
      ).toEqual({
        Ref: 'RunnerBuildKmsPolicy',
      });
    });

    it('lets the webhook decrypt its own secret, through Secrets Manager only', () => {
      const t = template();
      const role = 'GithubWebhookRole';
      expect(allows(t, role, kmsCall('kms:Decrypt', KEY, 'secretsmanager', secret(WEBHOOK_SECRET)))).toBe(
        true,
      );
      expect(allows(t, role, kmsCall('kms:Decrypt', KEY, undefined, secret(WEBHOOK_SECRET)))).toBe(false);
      expect(allows(t, role, kmsCall('kms:Decrypt', KEY, 'secretsmanager', secret(SLACK_TOKEN)))).toBe(false);
      expect(allows(t, role, kmsCall('kms:Decrypt', KEY, 'sqs'))).toBe(false);
      expect(allows(t, role, kmsCall('kms:Decrypt', OTHER, 'secretsmanager', secret(WEBHOOK_SECRET)))).toBe(
        false,
      );
    });

    it('lets the queue consumers and the output readers decrypt through their service, and no one else', () => {
      const t = template();
      for (const role of ['RunnerDispatcherRole', 'DeployNotifierRole'])
        expect(allows(t, role, kmsCall('kms:Decrypt', KEY, 'sqs')), role).toBe(true);
      for (const role of ['GhesFailoverApplianceRole', 'GhesFailoverPromoteRole'])
        expect(allows(t, role, kmsCall('kms:Decrypt', KEY, 's3')), role).toBe(true);
      for (const role of ['GithubWebhookRole', 'GhesFailoverDnsRole', 'SlackCommandRole']) {
        expect(allows(t, role, kmsCall('kms:Decrypt', KEY, 'sqs')), role).toBe(false);
        expect(allows(t, role, kmsCall('kms:Decrypt', KEY, 's3')), role).toBe(false);
      }
    });

    it('gives roles that touch no encrypted data no KMS permission at all', () => {
      const t = template();
      // The state machines' roles invoke functions, the schedule's role starts an execution: none
      // of them reads or writes anything under a key.
      const untouched = rolesOf(t).filter((role) => !NEEDS_KMS.has(role));
      expect(untouched.length).toBeGreaterThanOrEqual(3);
      for (const role of untouched) expect(kmsActionsOf(t, role), role).toEqual([]);
    });

    it("creates each function after its role's KMS policy, so no first call runs without the key", () => {
      const t = template();
      for (const [id, fn] of resourcesOf(t, 'AWS::Lambda::Function')) {
        const role = (fn.Properties!.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
        const policies = resourcesOf(t, 'AWS::IAM::Policy')
          .filter(([, p]) => (p.Properties!.Roles as { Ref: string }[]).some((r) => r.Ref === role))
          .map(([policy]) => policy)
          .filter((policy) => policy.endsWith('KmsPolicy'));
        expect(policies.length, id).toBe(NEEDS_KMS.has(role) ? 1 : 0);
        expect((t.Resources[id] as { DependsOn?: string[] }).DependsOn ?? [], id).toEqual(
          expect.arrayContaining(policies),
        );
      }
    });

    it.skipIf(!hasCfnLint)(
      'passes cfn-lint with no error and no warning of ours',
      { timeout: 120_000 },
      () => {
        const { errors, ownWarnings } = cfnLint(template());
        expect(errors).toEqual([]);
        expect(ownWarnings).toEqual([]);
      },
    );
  });

  describe('a key per resource (keyArn for the rest)', () => {
    const [DEFAULT, TABLES, QUEUES, LOGS, PARAMETERS, BUCKET, SECRETS_A, SECRETS_B] = [
      1, 2, 3, 4, 5, 6, 7, 8,
    ].map(key);
    const stage = 'kmseach';
    let packaged: PackagedTemplate;
    beforeAll(() => {
      packaged = packageWithConfig(
        stage,
        withKms(
          [
            `  keyArn: ${DEFAULT!}`,
            `  tables: ${TABLES!}`,
            `  queues: ${QUEUES!}`,
            `  logs: ${LOGS!}`,
            `  parameters: ${PARAMETERS!}`,
            `  bucket: ${BUCKET!}`,
            `  secrets: [${SECRETS_A!}, ${SECRETS_B!}]`,
            '',
          ].join('\n'),
        ),
      );
    }, 240_000);
    const template = () => packaged;

    it('puts each kind of resource under its own key, and the topic under keyArn', () => {
      expectEncryption(template(), {
        tables: TABLES!,
        queues: QUEUES!,
        topic: DEFAULT!,
        logs: LOGS!,
        bucket: BUCKET!,
      });
      expect(variablesOf(template(), 'RunnerDashdispatcherLambdaFunction').RUNNER_PARAMETER_KEY_ARN).toBe(
        PARAMETERS,
      );
    });

    it('grants each use on its own key only', () => {
      const t = template();
      const build = parameter(stage, 'builds/9f86d081');
      expect(allows(t, 'RunnerDispatcherRole', kmsCall('kms:Encrypt', PARAMETERS!, 'ssm', build))).toBe(true);
      for (const other of [DEFAULT!, TABLES!, QUEUES!])
        expect(allows(t, 'RunnerDispatcherRole', kmsCall('kms:Encrypt', other, 'ssm', build)), other).toBe(
          false,
        );
      expect(allows(t, 'RunnerDispatcherRole', kmsCall('kms:Decrypt', QUEUES!, 'sqs'))).toBe(true);
      expect(allows(t, 'RunnerDispatcherRole', kmsCall('kms:Decrypt', DEFAULT!, 'sqs'))).toBe(false);
      expect(allows(t, 'GhesFailoverApplianceRole', kmsCall('kms:Decrypt', BUCKET!, 's3'))).toBe(true);
      expect(allows(t, 'GhesFailoverApplianceRole', kmsCall('kms:Decrypt', DEFAULT!, 's3'))).toBe(false);
      for (const secretsKey of [SECRETS_A!, SECRETS_B!])
        expect(
          allows(
            t,
            'GithubWebhookRole',
            kmsCall('kms:Decrypt', secretsKey, 'secretsmanager', secret(WEBHOOK_SECRET)),
          ),
        ).toBe(true);
      // Listing the secrets' keys replaces the keyArn default for them.
      expect(
        allows(
          t,
          'GithubWebhookRole',
          kmsCall('kms:Decrypt', DEFAULT!, 'secretsmanager', secret(WEBHOOK_SECRET)),
        ),
      ).toBe(false);
    });

    it('names the table, log and topic keys in no IAM statement: their services use them under the key policy', () => {
      const statements = JSON.stringify(
        Object.values(template().Resources).filter((r) =>
          /^AWS::IAM::(Role|Policy|ManagedPolicy)$/.test(r.Type),
        ),
      );
      for (const serviceKey of [TABLES!, LOGS!]) expect(statements).not.toContain(serviceKey);
    });

    it.skipIf(!hasCfnLint)(
      'passes cfn-lint with no error and no warning of ours',
      { timeout: 120_000 },
      () => {
        const { errors, ownWarnings } = cfnLint(template());
        expect(errors).toEqual([]);
        expect(ownWarnings).toEqual([]);
      },
    );
  });

  it('adds nothing to the template without kms: (AWS-managed keys, as before)', async () => {
    const previous = process.env.GHES_CP_CONFIG;
    process.env.GHES_CP_CONFIG = 'config/deploy.example.yaml';
    try {
      const kms = createRequire(import.meta.url)('../../infra/kms.cjs') as {
        resources: (options: { resolveVariable: (name: string) => Promise<string> }) => Promise<object>;
        parametersKeyArn: () => string | null;
      };
      const resolveVariable = () => Promise.reject(new Error('not needed without kms:'));
      expect(await kms.resources({ resolveVariable })).toEqual({});
      expect(kms.parametersKeyArn()).toBeNull();
    } finally {
      if (previous === undefined) delete process.env.GHES_CP_CONFIG;
      else process.env.GHES_CP_CONFIG = previous;
    }
  });

  it.skipIf(!hasCfnLint)(
    'ships a key template (infra/templates/kms-key.yml) cfn-lint finds nothing in',
    { timeout: 120_000 },
    () => {
      const { errors, ownWarnings } = cfnLint('infra/templates/kms-key.yml');
      expect(errors).toEqual([]);
      expect(ownWarnings).toEqual([]);
    },
  );
});
