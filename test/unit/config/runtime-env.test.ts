import { describe, expect, it } from 'vitest';
import { readDispatcherEnv, readWebhookIntakeEnv } from '../../../shared/config/runtime-env.ts';

/** The dispatcher's environment as serverless.yml sets it (values for a test, not a deployment). */
const dispatcherEnv = (extra: Record<string, string> = {}) => ({
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  JOBS_TABLE: 'JobsTable',
  LEASES_TABLE: 'LeasesTable',
  EVENT_BUS_NAME: 'ghes-control-plane',
  DEPLOYMENT_CONFIG: '{}',
  RUNNER_PARAMETER_PREFIX: '/ghes-cp/runners',
  RUNNER_INSTANCE_ARN_PREFIX: 'arn:aws:ec2:eu-west-1:111122223333:instance/',
  ...extra,
});

describe("the dispatcher's environment", () => {
  it('takes the dispatch lease when it outlives the function timeout', () => {
    // Act
    const env = readDispatcherEnv(
      dispatcherEnv({ DISPATCH_LEASE_SECONDS: '120', DISPATCHER_TIMEOUT_SECONDS: '30' }),
    );

    // Assess
    expect(env.dispatchLeaseSeconds).toBe(120);
  });

  it('takes fractional seconds (the twin scales the lease to 1.9 s)', () => {
    // Act
    const env = readDispatcherEnv(
      dispatcherEnv({ DISPATCH_LEASE_SECONDS: '1.9', DISPATCHER_TIMEOUT_SECONDS: '1' }),
    );

    // Assess
    expect(env.dispatchLeaseSeconds).toBe(1.9);
  });

  it.each([
    ['30', '30'],
    ['20', '30'],
  ])('refuses a lease of %s s against a %s s timeout, naming both variables', (lease, timeout) => {
    // Act + Assess
    expect(() =>
      readDispatcherEnv(
        dispatcherEnv({ DISPATCH_LEASE_SECONDS: lease, DISPATCHER_TIMEOUT_SECONDS: timeout }),
      ),
    ).toThrow(
      `DISPATCH_LEASE_SECONDS: ${lease} must exceed the function timeout DISPATCHER_TIMEOUT_SECONDS (${timeout})`,
    );
  });

  it('refuses the default lease (120 s) under a longer function timeout', () => {
    // Act + Assess
    expect(() => readDispatcherEnv(dispatcherEnv({ DISPATCHER_TIMEOUT_SECONDS: '900' }))).toThrow(
      /DISPATCH_LEASE_SECONDS: 120 must exceed .*DISPATCHER_TIMEOUT_SECONDS \(900\)/,
    );
  });

  it('names DISPATCHER_TIMEOUT_SECONDS when it is not a positive number', () => {
    // Act + Assess
    expect(() => readDispatcherEnv(dispatcherEnv({ DISPATCHER_TIMEOUT_SECONDS: 'thirty' }))).toThrow(
      'DISPATCHER_TIMEOUT_SECONDS: expected a positive number, got "thirty"',
    );
  });
});

describe("the webhook's environment", () => {
  const webhookEnv = (extra: Record<string, string> = {}) => ({
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'key',
    AWS_SECRET_ACCESS_KEY: 'secret',
    DELIVERIES_TABLE: 'deliveries',
    JOBS_TABLE: 'jobs',
    EVENT_BUS_NAME: 'bus',
    WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:hook',
    ...extra,
  });

  it('reads the allow-list (ingress.allowedSourceCidrs) when serverless.yml sets it', () => {
    const env = readWebhookIntakeEnv(
      webhookEnv({ WEBHOOK_ALLOWED_SOURCE_CIDRS: '10.0.0.0/8,2001:db8::/32' }),
    );
    expect(env.allowedSourceCidrs).toEqual(['10.0.0.0/8', '2001:db8::/32']);
  });

  it('has no allow-list when the variable is absent or blank: any sender, the signature decides', () => {
    expect(readWebhookIntakeEnv(webhookEnv()).allowedSourceCidrs).toBeUndefined();
    expect(
      readWebhookIntakeEnv(webhookEnv({ WEBHOOK_ALLOWED_SOURCE_CIDRS: ' ' })).allowedSourceCidrs,
    ).toBeUndefined();
  });
});

describe("the runner parameters' key (RUNNER_PARAMETER_KEY_ARN)", () => {
  const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/0b5e6c1d-8a44-4d7e-9a0b-3f1c2d4e5f60';

  it('takes the key ARN serverless.yml sets from kms.parameters or kms.keyArn', () => {
    expect(readDispatcherEnv(dispatcherEnv({ RUNNER_PARAMETER_KEY_ARN: keyArn })).runnerParameterKeyArn).toBe(
      keyArn,
    );
  });

  it('has no key when the variable is unset, so parameters keep aws/ssm', () => {
    expect(readDispatcherEnv(dispatcherEnv()).runnerParameterKeyArn).toBeUndefined();
  });

  it('refuses an alias, naming the variable', () => {
    expect(() =>
      readDispatcherEnv(dispatcherEnv({ RUNNER_PARAMETER_KEY_ARN: 'alias/ghes-control-plane' })),
    ).toThrow(/RUNNER_PARAMETER_KEY_ARN: expected a KMS key ARN/);
  });
});
