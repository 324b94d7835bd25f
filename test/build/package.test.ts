import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  readDispatcherEnv,
  readReconcilerEnv,
  readPoolMaintenanceEnv,
  readDeployNotifierEnv,
  readWebhookIntakeEnv,
  readFailoverTaskEnv,
} from '../../shared/config/runtime-env.ts';
import { roleAllows, type Statement } from './iam-policy.ts';
import { cfnLint, hasCfnLint } from './packaged-template.ts';

const { secretResources } = createRequire(import.meta.url)('../../infra/deployment-config.cjs') as {
  secretResources: (arn: string) => string[];
};

// AWS offers no resource-level permission for these read-only calls (Service Authorization Reference).
const describeOnly = new Set([
  'ec2:DescribeInstances',
  'ssm:DescribeInstanceInformation',
  'ssm:GetCommandInvocation',
]);

/** `osls package` builds the CloudFormation template offline; its IAM must stay least-privilege. */
describe('serverless package', () => {
  /** Packaged into a folder of its own, so other packaging tests running alongside cannot clash. */
  const template = () => {
    const out = mkdtempSync(join(tmpdir(), 'ghes-cp-package-'));
    execFileSync('npx', ['osls', 'package', '--package', out], {
      stdio: 'pipe',
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
    });
    return JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
  };
  let packaged: any;
  const resourcesOf = () =>
    (packaged ??= template()).Resources as Record<string, { Type: string; Properties: any }>;
  const statementsOf = (resource: { Properties: any }) =>
    (resource.Properties.Policies ?? [{ PolicyDocument: resource.Properties.PolicyDocument }]).flatMap(
      (policy: any) => policy.PolicyDocument.Statement,
    );

  it(
    'packages every function with its own role whose statements name their resources',
    { timeout: 240_000 },
    () => {
      const resources = resourcesOf();
      const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
      expect(functions.length).toBeGreaterThan(0);
      for (const [name, fn] of functions) {
        expect(fn.Properties.Runtime, name).toBe('nodejs22.x');
        const roleName = fn.Properties.Role['Fn::GetAtt']?.[0];
        expect(roleName, `${name} must use its own role`).toBeTruthy();
        for (const policy of resources[roleName]!.Properties.Policies) {
          for (const statement of policy.PolicyDocument.Statement) {
            const actions = [statement.Action].flat();
            const label = `${roleName}: ${JSON.stringify(actions)}`;
            if (actions.every((action) => describeOnly.has(action))) {
              // Describe calls cannot be scoped to resources; they must at least be held to a region.
              expect(statement.Condition, label).toBeTruthy();
              continue;
            }
            expect([statement.Resource].flat(), label).not.toContain('*');
          }
        }
      }
      // Stand-alone policies (the cross-account one, the runner builds' one) follow the same rule;
      // a Deny may name '*', since it only takes away.
      const policies = Object.values(resources).filter(
        (r) => r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy',
      );
      for (const policy of policies) {
        for (const statement of policy.Properties.PolicyDocument.Statement) {
          if (statement.Effect === 'Deny') continue;
          expect([statement.Resource].flat()).not.toContain('*');
        }
      }
      // The example config has a cross-account pool: the dispatcher may assume exactly its role.
      expect(
        policies
          .flatMap((p) => p.Properties.PolicyDocument.Statement)
          .filter((st: any) => st.Action === 'sts:AssumeRole'),
      ).toEqual([
        expect.objectContaining({ Resource: ['arn:aws:iam::444455556666:role/ghes-cp-runner-capacity'] }),
      ]);
    },
  );

  it(
    'lets a runner build get and delete its credentials by exact name only, never list or read by path',
    {
      timeout: 240_000,
    },
    () => {
      const policy = resourcesOf().RunnerBuildPolicy!;
      expect(policy.Type).toBe('AWS::IAM::ManagedPolicy');
      const statements = statementsOf(policy);
      const allowed = statements.filter((st: any) => st.Effect === 'Allow');
      expect(allowed.flatMap((st: any) => [st.Action].flat()).sort()).toEqual([
        'ssm:DeleteParameter',
        'ssm:GetParameter',
        'ssm:GetParameters',
      ]);
      const builds = JSON.stringify(allowed.map((st: any) => st.Resource));
      expect(builds).toContain(':parameter/ghes-control-plane/dev/runners/builds/*');
      const denied = statements
        .filter((st: any) => st.Effect === 'Deny')
        .flatMap((st: any) => [st.Action].flat());
      expect(denied).toEqual(
        expect.arrayContaining([
          'ssm:GetParametersByPath',
          'ssm:DescribeParameters',
          'codebuild:BatchGetBuilds',
          'codebuild:ListBuilds',
          'codebuild:ListBuildsForProject',
        ]),
      );
      // The dispatcher writes those names, under its own prefix.
      const dispatcher = statementsOf(resourcesOf().RunnerDispatcherRole!);
      const puts = dispatcher.find((st: any) => [st.Action].flat().includes('ssm:PutParameter'));
      expect(JSON.stringify(puts.Resource)).toContain(':parameter/ghes-control-plane/dev/runners/*');
    },
  );

  it(
    'packages pool maintenance: the pure ASL with the task ARN injected, a schedule per pool, least-privilege IAM',
    { timeout: 240_000 },
    () => {
      const resources = resourcesOf();
      const machine = Object.values(resources).find((r) => r.Type === 'AWS::StepFunctions::StateMachine')!;
      const definition = JSON.stringify(machine.Properties.DefinitionString);
      expect(definition).not.toContain('${PoolMaintenanceFunctionArn}');
      expect(definition).toContain('PoolDashmaintenanceLambdaFunction');
      // The example config maintains `linux` on Sundays: its schedule starts the machine with that pool.
      const rules = Object.values(resources).filter(
        (r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.Targets).includes('pool'),
      );
      expect(
        rules.map((r) => [r.Properties.ScheduleExpression, JSON.parse(r.Properties.Targets[0].Input)]),
      ).toEqual([['cron(0 3 ? * SUN *)', { pool: 'linux' }]]);
      const document = resources.PoolMaintenanceDocument!;
      expect(document.Properties).toMatchObject({ DocumentType: 'Command' });
      const statements = statementsOf(resources.PoolMaintenanceRole!);
      const allowing = (action: string) =>
        statements.filter((st: any) => [st.Action].flat().includes(action));
      // SendCommand: this document, and instances of the maintained pools only.
      expect(allowing('ssm:SendCommand').map((st: any) => JSON.stringify(st.Resource))).toEqual([
        expect.stringContaining(':document/${PoolMaintenanceDocument}'),
        expect.stringContaining(':instance/*'),
      ]);
      expect(allowing('ssm:SendCommand')[1].Condition).toEqual({
        StringEquals: { 'aws:ResourceTag/ghes-cp:pool': ['linux'] },
      });
      for (const action of ['ec2:StartInstances', 'ec2:StopInstances']) {
        const [grant] = allowing(action);
        expect(grant.Condition.StringEquals['aws:ResourceTag/ghes-cp:pool'], action).toEqual(['linux']);
        expect(grant.Condition.StringEquals['aws:ResourceTag/ghes-cp:parameter-prefix'], action).toBe(
          '/ghes-control-plane/dev/runners',
        );
      }
      // The state machine's own role may invoke only its task function.
      const machineRole = resources[machine.Properties.RoleArn['Fn::GetAtt'][0]]!;
      const invokes = statementsOf(machineRole).filter((st: any) =>
        [st.Action].flat().includes('lambda:InvokeFunction'),
      );
      expect(JSON.stringify(invokes.map((st: any) => st.Resource))).toContain(
        'PoolDashmaintenanceLambdaFunction',
      );
      expect(JSON.stringify(invokes.map((st: any) => st.Resource))).not.toContain('"*"');
    },
  );

  it(
    'packages the GHES failover: the pure ASL with its four task functions, each function on a role of its own',
    { timeout: 240_000 },
    () => {
      const resources = resourcesOf();
      const at = { partition: 'aws', region: 'eu-west-1', account: '111122223333' };
      const machine = resources.GhesFailoverStateMachine!;
      expect(machine.Type).toBe('AWS::StepFunctions::StateMachine');
      const definition = JSON.stringify(machine.Properties.DefinitionString);
      expect(definition).not.toMatch(/\$\{GhesFailover\w+FunctionArn\}/);
      const tasks = [
        'GhesDashfailoverDashcontrolLambdaFunction',
        'GhesDashfailoverDashapplianceLambdaFunction',
        'GhesDashfailoverDashpromoteLambdaFunction',
        'GhesDashfailoverDashdnsLambdaFunction',
      ];
      for (const task of tasks) expect(definition).toContain(task);
      // The machine's role may invoke exactly its four task functions.
      const machineStatements = statementsOf(resources[machine.Properties.RoleArn['Fn::GetAtt'][0]]!);
      const invoked = JSON.stringify(machineStatements.map((st: any) => st.Resource));
      expect(machineStatements.flatMap((st: any) => [st.Action].flat())).toEqual(['lambda:InvokeFunction']);
      const named = [...invoked.matchAll(/"(\w+LambdaFunction)"/g)].map((m) => m[1]);
      expect([...new Set(named)].sort()).toEqual([...tasks].sort());
      expect(invoked).not.toContain('"*"');

      const roles = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::Role');
      const granting = (action: string) =>
        roles
          .filter(([, r]) => statementsOf(r).some((st: any) => [st.Action].flat().includes(action)))
          .map(([name]) => name)
          .sort();
      // The irreversible actions each belong to one role.
      expect(granting('route53:ChangeResourceRecordSets')).toEqual(['GhesFailoverDnsRole']);
      expect(granting('states:StartExecution').filter((r) => !r.includes('ScheduleToStepFunctions'))).toEqual(
        ['SlackCommandRole'],
      );
      expect(granting('states:SendTaskSuccess')).toEqual(['SlackInteractionRole']);
      const promoteGrants = roles
        .filter(([, r]) => JSON.stringify(statementsOf(r)).includes('GhesReplPromoteDocument'))
        .map(([name]) => name);
      expect(promoteGrants).toEqual(['GhesFailoverPromoteRole']);
      expect(JSON.stringify(statementsOf(resources.GhesFailoverApplianceRole!))).toContain(
        'GhesReplStatusDocument',
      );

      // SendCommand reaches only instances tagged as GHES appliances.
      for (const role of ['GhesFailoverApplianceRole', 'GhesFailoverPromoteRole']) {
        const onInstances = statementsOf(resources[role]!).filter(
          (st: any) => st.Action === 'ssm:SendCommand' && JSON.stringify(st.Resource).includes(':instance/'),
        ) as Statement[];
        const instance = 'arn:aws:ec2:eu-west-1:111122223333:instance/i-0a1b2c3d4e5f60002';
        const send = (tags: Record<string, string>) =>
          roleAllows(onInstances, { action: 'ssm:SendCommand', resource: instance, resourceTags: tags }, at);
        expect(send({ 'ghes-cp:appliance': 'ghes-replica' }), role).toBe(true);
        expect(send({ 'ghes-cp:pool': 'linux' }), role).toBe(false);
        expect(send({ 'ghes-cp:appliance': 'some-other-box' }), role).toBe(false);
      }

      // Route53: the configured zone, the configured record, UPSERT of an A record, nothing else.
      const dns = statementsOf(resources.GhesFailoverDnsRole!).filter(
        (st: any) => st.Action === 'route53:ChangeResourceRecordSets',
      ) as Statement[];
      const change = (zone: string, names: string[], types = ['A'], actions = ['UPSERT']) =>
        roleAllows(
          dns,
          {
            action: 'route53:ChangeResourceRecordSets',
            resource: `arn:aws:route53:::hostedzone/${zone}`,
            multiContext: {
              'route53:ChangeResourceRecordSetsNormalizedRecordNames': names,
              'route53:ChangeResourceRecordSetsRecordTypes': types,
              'route53:ChangeResourceRecordSetsActions': actions,
            },
          },
          at,
        );
      expect(change('Z0123456789ABCDEFGHIJ', ['ghes.example.internal'])).toBe(true);
      expect(change('Z0123456789ABCDEFGHIJ', ['ghes.example.internal', 'mail.example.internal'])).toBe(false);
      expect(change('Z0123456789ABCDEFGHIJ', ['ghes.example.internal'], ['A'], ['DELETE'])).toBe(false);
      expect(change('Z0123456789ABCDEFGHIJ', ['ghes.example.internal'], ['TXT'])).toBe(false);
      expect(change('ZOTHERZONE0001', ['ghes.example.internal'])).toBe(false);

      // The Slack functions: StartExecution and SendTaskSuccess on the failover machine only.
      const onMachine = (role: string, action: string) =>
        statementsOf(resources[role]!)
          .filter((st: any) => st.Action === action)
          .map((st: any) => st.Resource);
      expect(onMachine('SlackCommandRole', 'states:StartExecution')).toEqual([
        { Ref: 'GhesFailoverStateMachine' },
      ]);
      expect(onMachine('SlackInteractionRole', 'states:SendTaskSuccess')).toEqual([
        { Ref: 'GhesFailoverStateMachine' },
      ]);

      // Routes, tables and the SSM output bucket.
      const routes = Object.values(resources)
        .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
        .map((r) => r.Properties.RouteKey)
        .sort();
      expect(routes).toEqual(['POST /github/webhook', 'POST /slack/commands', 'POST /slack/interactions']);
      expect(resources.OperationsTable!.Properties.TimeToLiveSpecification).toEqual({
        AttributeName: 'expiresAtEpoch',
        Enabled: true,
      });
      expect(resources.AuditTable!.Properties.TimeToLiveSpecification).toBeUndefined();
      const bucket = resources.CommandOutputBucket!.Properties;
      expect(bucket.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(
        bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault,
      ).toEqual({
        SSEAlgorithm: 'AES256',
      });
      expect(bucket.LifecycleConfiguration.Rules[0]).toMatchObject({
        Status: 'Enabled',
        ExpirationInDays: 30,
      });
      for (const stem of ['repl-status', 'repl-promote', 'maintenance', 'maintenance-status'])
        expect(
          Object.values(resources).some(
            (r) =>
              r.Type === 'AWS::SSM::Document' && r.Properties.Name === `ghes-control-plane-dev-ghes-${stem}`,
          ),
          stem,
        ).toBe(true);
    },
  );

  // cfn-lint is a Python tool, not an npm package: where it is installed, the template must pass it.
  it.skipIf(!hasCfnLint)(
    'passes cfn-lint with no error and no warning of ours (only serverless’s own DependsOn remain)',
    { timeout: 240_000 },
    () => {
      expect(cfnLint((packaged ??= template()))).toEqual({ errors: [], ownWarnings: [] });
    },
  );

  it('without network: runs no function in a VPC and serves the webhook on the HTTP API', () => {
    const resources = resourcesOf();
    const inVpc = Object.entries(resources).filter(
      ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.VpcConfig,
    );
    expect(inVpc).toEqual([]);
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::EC2::VPCEndpoint')).toEqual([]);
    expect(resources.VpcNetworkInterfacePolicy).toBeUndefined();
    expect(packaged.Outputs.WebhookUrl.Value).toEqual({
      'Fn::Join': [
        '',
        [
          'https://',
          { Ref: 'HttpApi' },
          '.execute-api.',
          { Ref: 'AWS::Region' },
          '.',
          { Ref: 'AWS::URLSuffix' },
          '/github/webhook',
        ],
      ],
    });
  });

  it(
    'grants partial secret ARNs with the random suffix AWS appends, so the grant matches the secret',
    {
      timeout: 240_000,
    },
    () => {
      const secretGrants = (role: string) =>
        statementsOf(resourcesOf()[role]!)
          .filter((st: any) => st.Action === 'secretsmanager:GetSecretValue')
          .flatMap((st: any) => [st.Resource].flat());
      // config/deploy.example.yaml names both secrets without the suffix. `webhook-secret` ends in a
      // dash and six letters, like a suffix, so it is granted both ways.
      const arn = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ghes-cp';
      expect(secretGrants('GithubWebhookRole')).toEqual([
        `${arn}/webhook-secret`,
        `${arn}/webhook-secret-??????`,
      ]);
      expect(secretGrants('RunnerDispatcherRole')).toEqual([`${arn}/github-app-key-??????`]);
    },
  );

  it('lets the runner instances take Run Command without reading any parameter beyond their own', () => {
    const role = resourcesOf().RunnerInstanceRole!;
    // The managed AmazonSSMManagedInstanceCore would allow ssm:GetParameter(s) on every parameter.
    expect(role.Properties.ManagedPolicyArns ?? []).toEqual([]);
    const statements = statementsOf(role);
    const actionsOn = (resource: string) =>
      statements
        .filter((st: any) => [st.Resource].flat().includes(resource))
        .flatMap((st: any) => [st.Action].flat());
    expect(actionsOn('*')).toEqual(
      expect.arrayContaining(['ssm:UpdateInstanceInformation', 'ec2messages:GetMessages']),
    );
    expect(actionsOn('*').filter((action: string) => /^ssm:(Get|Delete|Describe)Param/.test(action))).toEqual(
      [],
    );
  });
});

const slackIngressKeys = ['SLACK_SIGNING_SECRET_ARN', 'OPERATIONS_TABLE', 'AUDIT_TABLE', 'DEPLOYMENT_CONFIG'];
const requireKeys = (env: Record<string, string>, keys: string[]) => {
  const missing = keys.filter((key) => !env[key]);
  if (missing.length) throw new Error(`missing ${missing.join(', ')}`);
};

describe('function environments', () => {
  /** What each function reads at cold start; a variable missing in the template fails it on AWS. */
  const readers: Record<string, (env: Record<string, string>) => unknown> = {
    GithubDashwebhookLambdaFunction: readWebhookIntakeEnv,
    RunnerDashdispatcherLambdaFunction: readDispatcherEnv,
    RunnerDashreconcilerLambdaFunction: (env) => [readDispatcherEnv(env), readReconcilerEnv(env)],
    PoolDashmaintenanceLambdaFunction: readPoolMaintenanceEnv,
    DeployDashnotifierLambdaFunction: readDeployNotifierEnv,
    GhesDashfailoverDashcontrolLambdaFunction: (env) => readFailoverTaskEnv('control', env),
    GhesDashfailoverDashapplianceLambdaFunction: (env) => readFailoverTaskEnv('appliance', env),
    GhesDashfailoverDashpromoteLambdaFunction: (env) => readFailoverTaskEnv('promote', env),
    GhesDashfailoverDashdnsLambdaFunction: (env) => readFailoverTaskEnv('dns', env),
    // helper C's readSlackCommandEnv / readSlackInteractionEnv belong here once merged.
    SlackDashcommandLambdaFunction: (env) =>
      requireKeys(env, [...slackIngressKeys, 'FAILOVER_STATE_MACHINE_ARN']),
    SlackDashinteractionLambdaFunction: (env) => requireKeys(env, slackIngressKeys),
  };
  // Lambda sets these itself.
  const lambdaSets = {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'lambda',
    AWS_SECRET_ACCESS_KEY: 'lambda',
  };

  it('gives every function each variable its cold start requires', { timeout: 240_000 }, () => {
    const out = mkdtempSync(join(tmpdir(), 'ghes-cp-env-'));
    execFileSync('npx', ['osls', 'package', '--package', out], {
      stdio: 'pipe',
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
    });
    const resources = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8'))
      .Resources as Record<string, { Type: string; Properties: any }>;
    const functions = Object.keys(resources).filter((k) => resources[k]!.Type === 'AWS::Lambda::Function');
    expect(functions.sort()).toEqual(Object.keys(readers).sort());
    for (const name of functions) {
      const variables = resources[name]!.Properties.Environment.Variables as Record<string, unknown>;
      // An intrinsic (Ref, GetAtt, Sub) resolves to a string at deploy time.
      const env = Object.fromEntries(
        Object.entries(variables).map(([key, value]) => [
          key,
          typeof value === 'string' ? value : 'resolved',
        ]),
      );
      expect(() => readers[name]!({ ...lambdaSets, ...env }), name).not.toThrow();
    }
  });
});

describe('secret ARNs in IAM', () => {
  const partial = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ghes-cp/app-key';
  it('grants a partial ARN only with the six-character suffix', () => {
    expect(secretResources(partial)).toEqual([`${partial}-??????`]);
  });
  it('grants a full ARN as it is, and as a partial one in case its name only looks suffixed', () => {
    const full = `${partial}-AbC123`;
    expect(secretResources(full)).toEqual([full, `${full}-??????`]);
  });
});
