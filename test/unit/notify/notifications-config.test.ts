import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../../shared/config/deployment-config.ts';
import { CONFIG_BASE, problemsOf } from '../../support/deployment-config-text.ts';

const base = `${CONFIG_BASE}pools:
  - { name: deploy, provider: codebuild, labels: [deploy], maxConcurrent: 1, codebuild: { project: p } }
`;
const slack = `slack: { botTokenSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:slack-bot' }\n`;

describe('notifications config', () => {
  it('accepts a rule with a workflow regex, globs, pools, a channel and a group to mention', () => {
    const config = parseDeploymentConfig(
      `${base}${slack}notifications:
  - name: deploys
    workflow: -deploy$
    repositories: [acme/*]
    branches: [main, release/**]
    pools: [deploy]
    channel: '#deploys'
    mentionOnFailure: <!subteam^S0123ABCD>
`,
      'deploy.yaml',
    );
    expect(config.notifications[0]).toMatchObject({
      name: 'deploys',
      channel: '#deploys',
      pools: ['deploy'],
    });
  });

  it('names the key path of every broken rule at once', () => {
    const message = problemsOf(`${base}${slack}notifications:
  - name: a
    workflow: '(unclosed'
    pools: [nope]
    channel: '#deploys'
  - name: a
    workflow: x
    channel: '#deploys'
`);
    expect(message).toContain('notifications[0].workflow: not a valid regular expression');
    expect(message).toContain('notifications[0].pools[0]: no pool named "nope"');
    expect(message).toContain('notifications[1].name: "a" is already used by notifications[0]');
  });

  it('refuses a mention that is not a Slack mention, a bad channel, an unknown key and rules without slack', () => {
    const rule = (fields: string) =>
      problemsOf(`${base}${slack}notifications:\n  - { name: a, workflow: x, ${fields} }\n`);
    expect(rule(`channel: deploys`)).toContain(
      'notifications[0].channel: expected a channel ID (C…) or #name',
    );
    expect(rule(`channel: '#d', mentionOnFailure: '@oncall'`)).toContain(
      'notifications[0].mentionOnFailure: expected a Slack mention',
    );
    expect(rule(`channel: '#d', mentionOnFaliure: x`)).toContain(
      'notifications[0]: unknown key "mentionOnFaliure"',
    );
    expect(problemsOf(`${base}notifications:\n  - { name: a, workflow: x, channel: '#d' }\n`)).toContain(
      'slack: required when notifications are configured',
    );
  });
});
