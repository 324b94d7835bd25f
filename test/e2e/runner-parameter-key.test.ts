import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { completedJob, newJobId, sendJob, startTestSandbox } from '../support/sandbox-driver.ts';

const PARAMETERS_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/5d0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
const OTHER_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a';

/**
 * `kms.parameters` end to end: a signed webhook → dispatcher → the runner's credentials land in the
 * twin's Parameter Store encrypted with the configured key, for the CodeBuild path and the EC2 wake
 * path alike; a pool in another account writes there without our key.
 */
describe('runner credentials with a customer-managed key', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startTestSandbox((config) => {
      // The parameters' own key wins over the default one (kms.parameters ?? kms.keyArn).
      config.kms = { keyArn: OTHER_KEY, parameters: PARAMETERS_KEY };
    });
  });
  afterAll(async () => sandbox?.close());

  it('stores the JIT config of a CodeBuild runner under the parameters key', async () => {
    const jobId = newJobId();
    const before = sandbox.twin.ssm.writes().length;

    await sendJob(sandbox, {
      jobId,
      labels: ['self-hosted', 'linux', 'deploy'],
      workflowName: 'action-app-stg-deploy',
    });
    const job = await completedJob(sandbox, jobId);

    expect(job).toMatchObject({ provider: 'codebuild', conclusion: 'success' });
    const writes = sandbox.twin.ssm
      .writes()
      .slice(before)
      // A build's parameter has a random name under …/builds/; this sandbox runs one job at a time.
      .filter((write) => write.name.includes('/runners/builds/'));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.map((write) => write.keyId)).toEqual(writes.map(() => PARAMETERS_KEY));
  });

  it("stores a woken instance's JIT config under the parameters key", async () => {
    const jobId = newJobId();
    const before = sandbox.twin.ssm.writes().length;

    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'x64'] });
    const job = await completedJob(sandbox, jobId);

    expect(job).toMatchObject({ pool: 'linux', provider: 'ec2-wake', conclusion: 'success' });
    const writes = sandbox.twin.ssm.writes().slice(before);
    const forInstance = writes.filter((write) => write.name.endsWith(`/instances/${job.resourceId}`));
    expect(forInstance.length).toBeGreaterThan(0);
    expect(forInstance.map(({ keyId, type }) => ({ keyId, type }))).toEqual(
      forInstance.map(() => ({ keyId: PARAMETERS_KEY, type: 'SecureString' })),
    );
  });

  it("writes a cross-account pool's credentials in that account with its own default key, not ours", async () => {
    const jobId = newJobId();
    const before = sandbox.twin.ssm.writes().length;

    await sendJob(sandbox, { jobId, labels: ['self-hosted', 'linux', 'arm64'] });
    const job = await completedJob(sandbox, jobId);

    expect(job).toMatchObject({ pool: 'linux-arm64', conclusion: 'success' });
    const writes = sandbox.twin.ssm
      .writes()
      .slice(before)
      .filter((write) => write.name.endsWith(`/instances/${job.resourceId}`));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.map(({ account, keyId }) => ({ account, keyId }))).toEqual(
      writes.map(() => ({ account: '444455556666', keyId: 'alias/aws/ssm' })),
    );
  });
});
