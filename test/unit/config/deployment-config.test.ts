import { describe, expect, it } from 'vitest';
import { configWarnings, parseDeploymentConfig } from '../../../shared/config/deployment-config.ts';
import { CONFIG_BASE, problemsOf } from '../../support/deployment-config-text.ts';

const base = CONFIG_BASE;
const pool = (extra: string) => `
  - name: linux
    provider: codebuild
    labels: [self-hosted, linux]
    maxConcurrent: 5
    codebuild: { project: runners }
${extra}`;

describe('deployment config', () => {
  it('parses a valid document and fills defaults', () => {
    const config = parseDeploymentConfig(`${base}pools:${pool('')}`, 'deploy.yaml');
    expect(config.pools[0]).toMatchObject({ name: 'linux', priority: 0, idleMinutes: 10 });
  });

  it('names the key path and what was expected', () => {
    const message = problemsOf(`${base}pools:${pool('')}`.replace('maxConcurrent: 5', 'maxConcurrent: five'));
    expect(message).toContain('deploy.yaml: 1 problem');
    expect(message).toContain('pools[0].maxConcurrent: expected a number');
  });

  it('reports every problem at once, including a typo in a key', () => {
    const text = `${base}pools:${pool('    maxConcurent: 3')}`.replace('region: eu-west-1', 'region: Europe');
    const message = problemsOf(text);
    expect(message).toContain('region: expected an AWS region such as eu-west-1');
    expect(message).toContain('pools[0]: unknown key "maxConcurent"');
  });

  it('refuses a fallback that names no pool, or that loops', () => {
    expect(problemsOf(`${base}pools:${pool('    fallback: nowhere')}`)).toContain(
      'pools[0].fallback: no pool named "nowhere"',
    );
    const loop = `${base}pools:${pool('    fallback: b')}
  - name: b
    provider: codebuild
    labels: [x]
    maxConcurrent: 1
    codebuild: { project: p }
    fallback: linux`;
    expect(problemsOf(loop)).toContain('fallbacks loop back');
  });

  it('refuses a workflowName that is not a regular expression', () => {
    expect(problemsOf(`${base}pools:${pool("    workflowName: '^(unclosed'")}`)).toContain(
      'pools[0].workflowName: not a valid regular expression',
    );
  });

  it('says so when the file is not YAML', () => {
    expect(problemsOf('region: [unclosed')).toContain('deploy.yaml: not valid YAML');
  });

  it('reads the JSON the Lambdas get (DEPLOYMENT_CONFIG) as it reads the same YAML', () => {
    const yaml = parseDeploymentConfig(
      `${base}pools:${pool('    fallback: b')}
  - name: b
    provider: codebuild
    labels: [x]
    maxConcurrent: 1
    codebuild: { project: p }`,
      'deploy.yaml',
    );
    const json = parseDeploymentConfig(JSON.stringify(yaml, null, 2), 'DEPLOYMENT_CONFIG');
    expect(json).toEqual(yaml);
  });

  it('reads a YAML flow mapping that is not JSON, and names what is wrong in JSON-looking text', () => {
    const flow = `{ region: eu-west-1, github: { apiUrl: 'https://ghes.example.com/api/v3', appId: 1, privateKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:key', webhookSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:hook' }, pools: [] }`;
    expect(parseDeploymentConfig(flow, 'deploy.yaml').region).toBe('eu-west-1');
    expect(problemsOf('{ "region": [unclosed')).toContain('deploy.yaml: not valid YAML');
    expect(problemsOf('{ "region": "Europe", "pools": [] }')).toContain(
      'region: expected an AWS region such as eu-west-1',
    );
  });

  it('accepts a label scheme with allow-lists and refuses sizes AWS does not have', () => {
    const scheme = (allow: string) =>
      `${base}pools:${pool('')}`.replace(
        'codebuild: { project: runners }',
        `codebuild: { project: runners, labelScheme: ${allow} }`,
      );
    const config = parseDeploymentConfig(
      scheme("{ instanceSizes: [small], images: { 'linux-5.0': { image: 'aws/codebuild/standard:7.0' } } }"),
      'deploy.yaml',
    );
    expect(config.pools[0]!.codebuild!.labelScheme).toEqual({
      instanceSizes: ['small'],
      images: { 'linux-5.0': { image: 'aws/codebuild/standard:7.0' } },
    });
    expect(problemsOf(scheme('{ instanceSizes: [huge] }'))).toContain(
      'pools[0].codebuild.labelScheme.instanceSizes[0]',
    );
  });

  it('refuses provider settings on a pool of the other provider, and a custom EC2 tag key IAM would not honour', () => {
    const ec2 = `${base}pools:${pool('')}`.replace('provider: codebuild', 'provider: ec2-wake');
    expect(problemsOf(ec2)).toContain('pools[0].codebuild: only for provider codebuild');
    const tagKey = `${base}pools:
  - name: linux
    provider: ec2-wake
    labels: [linux]
    maxConcurrent: 1
    ec2: { tagKey: team, tagValue: linux }`;
    expect(problemsOf(tagKey)).toContain('pools[0].ec2: unknown key "tagKey"');
  });

  it('refuses a secret ARN that is not a Secrets Manager secret, naming the key', () => {
    const text = base.replace('secret:hook', 'parameter/hook').replace(':secretsmanager:', ':ssm:');
    expect(problemsOf(`${text}pools: []`)).toMatch(
      /github\.webhookSecretArn: expected a Secrets Manager secret ARN/,
    );
  });

  it('warns about a pool that looks like it deploys but is guarded only by what a workflow author writes', () => {
    const deploy = `${base}pools:
  - name: prd-deploy
    provider: codebuild
    labels: [deploy]
    workflowName: '^deploy$'
    branches: [main]
    maxConcurrent: 1
    codebuild: { project: p }
  - name: prd-guarded
    provider: codebuild
    labels: [deploy]
    runnerGroupId: 2
    maxConcurrent: 1
    codebuild: { project: p }
  - name: linux
    provider: codebuild
    labels: [linux]
    maxConcurrent: 1
    codebuild: { project: p }`;
    const warnings = configWarnings(parseDeploymentConfig(deploy, 'deploy.yaml'));
    expect(warnings).toEqual([
      expect.stringMatching(
        /^pools\[0\] \(prd-deploy\): looks like it deploys \(its name\) but is guarded only by workflowName, branches, which the workflow's author chooses; set runnerGroupId/,
      ),
    ]);
  });
});

describe('deployment config: hook deliveries for the reconciler', () => {
  const withHook = (yaml: string) => `${base}  hookDeliveries: ${yaml}\n`;

  it("reads the App's hook or an organisation hook", () => {
    expect(parseDeploymentConfig(withHook('{ source: app }'), 'deploy.yaml').github.hookDeliveries).toEqual({
      source: 'app',
    });
    expect(
      parseDeploymentConfig(withHook('{ source: org, org: acme, hookId: 12 }'), 'deploy.yaml').github
        .hookDeliveries,
    ).toEqual({ source: 'org', org: 'acme', hookId: 12 });
    expect(parseDeploymentConfig(base, 'deploy.yaml').github.hookDeliveries).toBeUndefined();
  });

  it('names the key path of an org hook without its id, and of an unknown source', () => {
    expect(problemsOf(withHook('{ source: org, org: acme }'))).toContain('github.hookDeliveries.hookId');
    expect(problemsOf(withHook('{ source: repo }'))).toContain(
      'github.hookDeliveries.source: expected source: app, or source: org with org and hookId',
    );
    expect(problemsOf(withHook('{ source: app, hookId: 3 }'))).toContain(
      'github.hookDeliveries: unknown key "hookId"',
    );
  });
});
