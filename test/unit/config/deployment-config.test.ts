import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../../shared/config/deployment-config.ts';
import { ConfigError } from '../../../shared/http/errors.ts';

const base = `
region: eu-west-1
github:
  apiUrl: https://ghes.example.com/api/v3
  appId: 1
  privateKeySecretArn: arn:aws:secretsmanager:eu-west-1:111122223333:secret:key
  webhookSecretArn: arn:aws:secretsmanager:eu-west-1:111122223333:secret:hook
`;
const pool = (extra: string) => `
  - name: linux
    provider: codebuild
    labels: [self-hosted, linux]
    maxConcurrent: 5
    codebuild: { project: runners }
${extra}`;

const problemsOf = (text: string): string => {
  try {
    parseDeploymentConfig(text, 'deploy.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected the config to be refused');
};

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
});
