import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../../shared/config/deployment-config.ts';
import { eventBridgeCronProblem } from '../../../shared/maintenance/eventbridge-cron.ts';
import { commandParameters, chunk } from '../../../shared/maintenance/maintenance-plan.ts';
import { CONFIG_BASE } from '../../support/deployment-config-text.ts';

const config = (maintenance: string, extra = '') => `${CONFIG_BASE}pools:
  - name: linux
    provider: ec2-wake
    labels: [self-hosted, linux]
    maxConcurrent: 4
${extra}    maintenance:
${maintenance}`;
const sha = 'a'.repeat(64);
const problemsOf = (text: string) => {
  try {
    parseDeploymentConfig(text, 'deploy.yaml');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the config to be refused');
};

describe('maintenance config', () => {
  it('fills batchSize 2 and a 60-minute budget', () => {
    const pool = parseDeploymentConfig(
      config('      schedule: cron(0 3 ? * SUN *)\n      tasks: [disk-reclaim]\n'),
      'deploy.yaml',
    ).pools[0]!;
    expect(pool.maintenance).toEqual({
      schedule: 'cron(0 3 ? * SUN *)',
      tasks: ['disk-reclaim'],
      batchSize: 2,
      budgetMinutes: 60,
    });
  });

  it.each([
    ['cron(0 3 * * SUN *)', 'exactly one of day-of-month and day-of-week must be "?"'],
    ['rate(7 days)', 'expected cron(minutes hours day-of-month month day-of-week year)'],
    ['cron(0 25 ? * SUN *)', 'hours: "25" is not within 0-23'],
    ['cron(0 3 ? * SUN)', 'expected 6 fields in cron(…), got 5'],
  ])('refuses schedule %s naming the key path', (schedule, why) => {
    expect(problemsOf(config(`      schedule: ${schedule}\n      tasks: [os-update]\n`))).toContain(
      `pools[0].maintenance.schedule: ${why}`,
    );
  });

  it.each([
    'cron(0 3 ? * SUN *)',
    'cron(30 2 1 * ? *)',
    'cron(0/15 1-4 ? * MON-FRI *)',
    'cron(0 3 ? * 6#3 *)',
    'cron(0 3 L * ? 2027)',
  ])('accepts EventBridge cron %s', (expression) =>
    expect(eventBridgeCronProblem(expression)).toBeUndefined(),
  );

  it('requires a runner version and checksum for runner-update, in their strict forms', () => {
    const message = problemsOf(
      config(
        '      schedule: cron(0 3 ? * SUN *)\n      tasks: [runner-update]\n      runnerVersion: 2.321.0; rm -rf /\n',
      ),
    );
    expect(message).toContain(
      'pools[0].maintenance.runnerVersion: expected an Actions runner version such as 2.321.0',
    );
    expect(
      problemsOf(
        config(
          '      schedule: cron(0 3 ? * SUN *)\n      tasks: [runner-update]\n      runnerVersion: 2.321.0\n',
        ),
      ),
    ).toContain('pools[0].maintenance.runnerSha256: required for runner-update');
  });

  it('refuses unknown tasks, repeated tasks and a batch too large', () => {
    const message = problemsOf(
      config(
        '      schedule: cron(0 3 ? * SUN *)\n      tasks: [disk-reclaim, reboot]\n      batchSize: 50\n',
      ),
    );
    expect(message).toContain(
      'pools[0].maintenance.tasks[1]: expected one of "disk-reclaim", "runner-update", "os-update"',
    );
    expect(message).toContain('pools[0].maintenance.batchSize');
  });

  it('refuses maintenance on a pool in another account', () => {
    expect(
      problemsOf(
        config(
          '      schedule: cron(0 3 ? * SUN *)\n      tasks: [os-update]\n',
          '    roleArn: arn:aws:iam::444455556666:role/x\n',
        ),
      ),
    ).toContain('pools[0].maintenance: not supported for a pool with roleArn');
  });

  it('gives the document only values its allowedPatterns accept', async () => {
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const document = parse(readFileSync('infra/ssm-pool-maintenance.yaml', 'utf8')) as {
      parameters: Record<string, { allowedPattern: string }>;
    };
    const parameters = commandParameters(
      {
        schedule: 'x',
        batchSize: 2,
        budgetMinutes: 60,
        tasks: ['disk-reclaim', 'runner-update', 'os-update'],
        runnerVersion: '2.321.0',
        runnerSha256: sha,
      },
      1800,
    );
    for (const [key, [value]] of Object.entries(parameters))
      expect(new RegExp(document.parameters[key]!.allowedPattern).test(value), key).toBe(true);
    // …and refuses anything a shell would read as more than a value.
    for (const [key, bad] of [
      ['tasks', 'os-update;reboot'],
      ['runnerVersion', '2.1.1 $(id)'],
      ['runnerSha256', `${sha}'`],
    ])
      expect(new RegExp(document.parameters[key!]!.allowedPattern).test(bad!), key).toBe(false);
  });

  it('splits instances into batches of batchSize', () => {
    expect(chunk(['a', 'b', 'c', 'd', 'e'], 2)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });
});
