import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { POOL_TAG_KEY } from '../../shared/maintenance/maintenance-plan.ts';
import { PARAMETER_PREFIX_TAG } from '../../shared/providers/ec2-wake-provider.ts';
import { INSTANCE_ARN_TAG } from '../../shared/providers/runner-credentials-store.ts';
import { readGuide, readTemplate } from './deploy-guide.ts';
import { cfnLint, hasCfnLint } from './packaged-template.ts';

/**
 * The capacity templates an operator deploys beside the stack (infra/templates/, docs/deploy.md step
 * 9) must fit what the dispatcher and the runners do: the tags it wakes and starts by, the user data
 * the instances boot with, and, in another account, the same permissions it has at home.
 */

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
}

const TEMPLATES = 'infra/templates';
const ec2 = readTemplate(`${TEMPLATES}/ec2-runner-instances.yml`);
const codebuild = readTemplate(`${TEMPLATES}/codebuild-runner-project.yml`);
const crossAccount = readTemplate(`${TEMPLATES}/cross-account-capacity.yml`);
const home = readTemplate('infra/resources.yml');

const actions = (statement: Statement) => [statement.Action].flat().sort();
const statementsOf = (role: {
  Properties?: { Policies?: { PolicyDocument: { Statement: Statement[] } }[] };
}) => (role.Properties?.Policies ?? []).flatMap((policy) => policy.PolicyDocument.Statement);
/** Statements about runner capacity: EC2, CodeBuild and Parameter Store. */
const capacityStatements = (statements: Statement[]) =>
  statements
    .filter((s) => actions(s).every((a) => /^(ec2|codebuild|ssm):/.test(a)))
    .map((s) => ({ effect: s.Effect, actions: actions(s), conditionKeys: conditionKeys(s) }))
    .sort((a, b) => a.actions.join().localeCompare(b.actions.join()));
const conditionKeys = (statement: Statement) =>
  Object.values(statement.Condition ?? {})
    .flatMap((test) => Object.keys(test))
    .sort();

describe('infra/templates', () => {
  // cfn-lint takes several seconds a file on a busy machine.
  it.skipIf(!hasCfnLint)(
    'are cfn-lint clean, every file: no error and no warning',
    { timeout: 180_000 },
    () => {
      const files = readdirSync(TEMPLATES).filter((file) => /\.ya?ml$/.test(file));
      expect(files.length).toBeGreaterThanOrEqual(3);
      for (const file of files) {
        const { errors, ownWarnings } = cfnLint(`${TEMPLATES}/${file}`);
        expect([...errors, ...ownWarnings], file).toEqual([]);
      }
    },
  );
});

describe('ec2-runner-instances.yml', () => {
  const launchTemplate = ec2.Resources.LaunchTemplate!.Properties.LaunchTemplateData;

  it('boots the instances with infra/ec2-runner-user-data.yaml, unchanged', () => {
    expect(launchTemplate.UserData['Fn::Base64']).toBe(
      readFileSync('infra/ec2-runner-user-data.yaml', 'utf8'),
    );
  });

  it('requires IMDSv2 with tags in the metadata, and stops (never terminates) on power-off', () => {
    expect(launchTemplate.MetadataOptions).toMatchObject({
      HttpTokens: 'required',
      InstanceMetadataTags: 'enabled',
    });
    expect(launchTemplate.InstanceInitiatedShutdownBehavior).toBe('stop');
    expect(launchTemplate.IamInstanceProfile).toEqual({ Name: 'RunnerInstanceProfileName' });
  });

  it('tags instances with the keys the dispatcher wakes by', () => {
    const instanceTags = launchTemplate.TagSpecifications.find(
      (spec: { ResourceType: string }) => spec.ResourceType === 'instance',
    ).Tags as { Key: string; Value: string }[];
    expect(instanceTags).toEqual([
      { Key: POOL_TAG_KEY, Value: 'PoolTagValue' },
      { Key: PARAMETER_PREFIX_TAG, Value: 'RunnerParameterPrefix' },
    ]);
    // The dispatcher's StartInstances is conditioned on the same two tags.
    const dispatcher = statementsOf(home.Resources.RunnerDispatcherRole!);
    const start = dispatcher.find((s) => actions(s).includes('ec2:StartInstances'))!;
    expect(conditionKeys(start)).toEqual([
      `aws:ResourceTag/${PARAMETER_PREFIX_TAG}`,
      `aws:ResourceTag/${POOL_TAG_KEY}`,
    ]);
  });
});

describe('codebuild-runner-project.yml', () => {
  const project = codebuild.Resources.Project!.Properties;

  it('is tagged as a runner project, the one tag the dispatcher may start builds by', () => {
    expect(project.Tags).toContainEqual({ Key: 'ghes-cp:runner-project', Value: 'true' });
    const dispatcher = statementsOf(home.Resources.RunnerDispatcherRole!);
    const start = dispatcher.find((s) => actions(s).includes('codebuild:StartBuild'))!;
    expect(start.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/ghes-cp:runner-project': 'true' } });
  });

  it("gives its role the stack's build policy, runs in the VPC, and has an inline buildspec with phases", () => {
    expect(codebuild.Resources.ServiceRole!.Properties.ManagedPolicyArns).toEqual(['RunnerBuildPolicyArn']);
    expect(project.VpcConfig).toEqual({
      VpcId: 'VpcId',
      Subnets: 'SubnetIds',
      SecurityGroupIds: 'SecurityGroupIds',
    });
    expect(project.Environment.PrivilegedMode).toBe('PrivilegedMode');
    // buildspec-override:true reads the project's own phases (shared/providers/codebuild-provider.ts).
    expect(project.Source).toMatchObject({ Type: 'NO_SOURCE' });
    expect(project.Source.BuildSpec).toMatch(/\bphases\s*:/);
  });
});

describe('cross-account-capacity.yml', () => {
  const role = crossAccount.Resources.CapacityRole!.Properties;

  it('trusts only the dispatcher role it is given', () => {
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Principal: { AWS: 'DispatcherRoleArn' }, Action: 'sts:AssumeRole' },
    ]);
  });

  it("grants exactly the home dispatcher's EC2, CodeBuild and SSM statements", () => {
    expect(capacityStatements(statementsOf(crossAccount.Resources.CapacityRole!))).toEqual(
      capacityStatements(statementsOf(home.Resources.RunnerDispatcherRole!)),
    );
  });

  it("gives that account's runners the home instance role's credentials statement and build policy", () => {
    const credentials = (r: { Properties?: unknown }) =>
      statementsOf(r as never).filter((s) => actions(s).includes('ssm:GetParameter'));
    const theirs = credentials(crossAccount.Resources.RunnerInstanceRole!);
    const ours = credentials(home.Resources.RunnerInstanceRole!);
    expect(theirs.map(actions)).toEqual(ours.map(actions));
    expect(Object.keys(theirs[0]!.Condition!.StringEquals!)).toEqual([`ssm:resourceTag/${INSTANCE_ARN_TAG}`]);
    const policy = (t: typeof home) =>
      (t.Resources.RunnerBuildPolicy!.Properties.PolicyDocument.Statement as Statement[]).map((s) => [
        s.Effect,
        actions(s),
      ]);
    expect(policy(crossAccount)).toEqual(policy(home));
  });

  it('has the outputs the guide tells the operator to use', () => {
    const guide = readGuide();
    for (const output of Object.keys(crossAccount.Outputs!)) expect(guide).toContain(`\`${output}\``);
    expect(Object.keys(crossAccount.Outputs!).sort()).toEqual([
      'CapacityRoleArn',
      'RunnerBuildPolicyArn',
      'RunnerInstanceProfileName',
    ]);
  });
});
