import {
  DeleteParameterCommand,
  InternalServerError,
  ParameterAlreadyExists,
  ParameterLimitExceeded,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunnerCredentials } from '../../../shared/github/github-app.ts';
import { createSsmCredentialsStore } from '../../../shared/providers/runner-credentials-store.ts';

const jit: RunnerCredentials = {
  kind: 'jit',
  runnerName: 'ghes-cp-11-1-abc123',
  encodedJitConfig: 'eyJqaXQiOiJzZWNyZXQtMTEifQ==',
};
const registration: RunnerCredentials = {
  kind: 'registration',
  runnerName: 'ghes-cp-12-2-def456',
  url: 'https://ghes.example.com/acme',
  token: 'AABBCCREGISTRATIONTOKEN',
  labels: ['self-hosted', 'linux'],
};

describe('runner credentials in Parameter Store', () => {
  const ssm = mockClient(SSMClient);
  beforeEach(() => ssm.reset());

  it.each([jit, registration])(
    'stores $kind credentials as a SecureString that replaces an earlier attempt and reads back as the same credentials',
    async (credentials) => {
      // Prepare
      ssm.on(PutParameterCommand).resolves({ Version: 2 });
      const store = createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' }));

      // Act
      await store.put('/ghes-cp/runners/builds/9f86d081884c7d659a2feaa0c55ad015', credentials);

      // Assess
      expect(ssm).toReceiveCommandTimes(PutParameterCommand, 1);
      expect(ssm).toReceiveCommandWith(PutParameterCommand, {
        Name: '/ghes-cp/runners/builds/9f86d081884c7d659a2feaa0c55ad015',
        Type: 'SecureString',
        Overwrite: true,
      });
      const input = ssm.commandCalls(PutParameterCommand)[0]!.args[0].input;
      expect(JSON.parse(input.Value!)).toEqual(credentials);
    },
  );

  it('creates an instance parameter tagged with the instance ARN, and overwrites a leftover in place without deleting it', async () => {
    // Parameter Store refuses Tags with Overwrite; a leftover from a failed wake exists, tagged for
    // the same instance. Deleting it first would make the wake wait on a delete that may throttle.
    ssm.on(PutParameterCommand).callsFake((input) => {
      if (input.Overwrite && input.Tags) throw new Error('tags and overwrite cannot be used together');
      if (!input.Overwrite) throw new ParameterAlreadyExists({ message: 'exists', $metadata: {} });
      return { Version: 2 };
    });
    const store = createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' }));
    const arn = 'arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc';

    await store.put('/ghes-cp/runners/instances/i-0abc', jit, { readableBy: arn });

    expect(ssm).not.toReceiveCommand(DeleteParameterCommand);
    const puts = ssm.commandCalls(PutParameterCommand).map((c) => c.args[0].input);
    expect(puts).toHaveLength(2);
    expect(puts[0]).toMatchObject({
      Type: 'SecureString',
      Tags: [{ Key: 'ghes-cp:instance-arn', Value: arn }],
    });
    expect(puts[0]!.Overwrite).toBeUndefined();
    expect(puts[1]).toMatchObject({ Type: 'SecureString', Overwrite: true });
    expect(puts[1]!.Tags).toBeUndefined();
    expect(JSON.parse(puts[1]!.Value!)).toEqual(jit);
  });

  it('fails the put when Parameter Store refuses the write, so no launch goes ahead without credentials', async () => {
    // Prepare
    const refused = new ParameterLimitExceeded({ message: 'too many parameters', $metadata: {} });
    ssm.on(PutParameterCommand).rejects(refused);
    const store = createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' }));

    // Act + Assess
    await expect(store.put('/ghes-cp/runners/builds/9f86d081884c7d659a2feaa0c55ad015', jit)).rejects.toBe(
      refused,
    );
  });

  it('deletes the named parameter', async () => {
    // Prepare
    ssm.on(DeleteParameterCommand).resolves({});
    const store = createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' }));

    // Act
    await store.remove('/ghes-cp/runners/instances/i-0abc');

    // Assess
    expect(ssm).toReceiveCommandExactlyOnceWith(DeleteParameterCommand, {
      Name: '/ghes-cp/runners/instances/i-0abc',
    });
  });

  it('treats a parameter that is already gone (the runner deleted it at boot) as removed', async () => {
    // Prepare
    ssm.on(DeleteParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    const store = createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' }));

    // Act + Assess
    await expect(
      store.remove('/ghes-cp/runners/builds/9f86d081884c7d659a2feaa0c55ad015'),
    ).resolves.toBeUndefined();
    expect(ssm).toReceiveCommandTimes(DeleteParameterCommand, 1);
  });

  it.each([
    ['a modelled SSM error', new InternalServerError({ message: 'boom', $metadata: {} })],
    ['an access denial', Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' })],
  ])('rethrows %s from the delete unchanged, so credentials left behind are noticed', async (_, error) => {
    // Prepare
    ssm.on(DeleteParameterCommand).rejects(error);
    const store = createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' }));

    // Act + Assess
    await expect(store.remove('/ghes-cp/runners/builds/9f86d081884c7d659a2feaa0c55ad015')).rejects.toBe(
      error,
    );
  });
  describe('with a customer-managed key (kms.parameters)', () => {
    const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/0b5e6c1d-8a44-4d7e-9a0b-3f1c2d4e5f60';
    const instanceArn = 'arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc';

    it("encrypts a build's credentials with that key", async () => {
      // Prepare
      ssm.on(PutParameterCommand).resolves({ Version: 1 });
      const store = createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' }), { keyId: keyArn });

      // Act
      await store.put('/ghes-cp/runners/builds/9f86d081884c7d659a2feaa0c55ad015', jit);

      // Assess
      expect(ssm).toReceiveCommandExactlyOnceWith(PutParameterCommand, {
        Name: '/ghes-cp/runners/builds/9f86d081884c7d659a2feaa0c55ad015',
        Type: 'SecureString',
        KeyId: keyArn,
      });
    });

    it("keeps the key on the overwrite of an instance's leftover, which would otherwise fall back to aws/ssm", async () => {
      // Prepare: the tagged create finds a leftover, so the value is written again with Overwrite.
      ssm.on(PutParameterCommand).callsFake((input) => {
        if (!input.Overwrite) throw new ParameterAlreadyExists({ message: 'exists', $metadata: {} });
        return { Version: 2 };
      });
      const store = createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' }), { keyId: keyArn });

      // Act
      await store.put('/ghes-cp/runners/instances/i-0abc', jit, { readableBy: instanceArn });

      // Assess
      const puts = ssm.commandCalls(PutParameterCommand).map((c) => c.args[0].input);
      expect(puts.map((put) => put.KeyId)).toEqual([keyArn, keyArn]);
    });
  });

  it.each([
    ['a build', undefined],
    ['an instance', { readableBy: 'arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc' }],
  ])(
    "writes %s's credentials with no KeyId when no key is configured (Parameter Store's aws/ssm)",
    async (_, options) => {
      // Prepare
      ssm.on(PutParameterCommand).resolves({ Version: 1 });
      const store = createSsmCredentialsStore(new SSMClient({ region: 'eu-west-1' }));

      // Act
      await store.put('/ghes-cp/runners/instances/i-0abc', jit, options);

      // Assess
      const input = ssm.commandCalls(PutParameterCommand)[0]!.args[0].input;
      expect(input.Type).toBe('SecureString');
      expect('KeyId' in input).toBe(false);
    },
  );
});
