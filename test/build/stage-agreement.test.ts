import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createAwsClients } from '../../shared/aws/clients.ts';
import type { Leases } from '../../shared/dispatch/leases.ts';
import { createEc2WakeProvider } from '../../shared/providers/ec2-wake-provider.ts';
import { createSsmCredentialsStore } from '../../shared/providers/runner-credentials-store.ts';
import { faultTargetsOf, startTwinAwsEndpoint } from '../twin/aws-endpoint.ts';
import { createTwinClock } from '../twin/clock.ts';
import { createEc2Twin } from '../twin/ec2.ts';
import { FaultInjector } from '../twin/faults.ts';
import { createSsmParametersTwin } from '../twin/ssm-parameters.ts';
import { roleAllows, statementsOf, type Deployment } from './iam-policy.ts';
import { packageForStage, type PackagedTemplate } from './packaged-template.ts';
import { runBootScript } from './runner-boot-harness.ts';

/**
 * An ec2-wake runner works only when four things name the same Parameter Store prefix: where the
 * dispatcher writes (RUNNER_PARAMETER_PREFIX and its ssm:PutParameter grant), which instances it
 * may wake (its DescribeInstances filter and the StartInstances tag condition), where the instance
 * role may read, and where the user data looks (the instance's ghes-cp:parameter-prefix tag). Each
 * stage is packaged as it would be deployed and one runner's whole path is walked through it.
 * Neither stage is `prod`, the stage the user data once hard-coded.
 */
const SERVICE = 'ghes-control-plane';
const STAGES = ['dev', 'staging'] as const;
const at: Deployment = { partition: 'aws', region: 'eu-west-1', account: '111122223333' };
const instanceArn = (instanceId: string) =>
  `arn:${at.partition}:ec2:${at.region}:${at.account}:instance/${instanceId}`;
const parameterArn = (name: string) => `arn:${at.partition}:ssm:${at.region}:${at.account}:parameter${name}`;

const userData = parse(readFileSync('infra/ec2-runner-user-data.yaml', 'utf8')) as {
  write_files: { path: string; content: string }[];
};
const bootScript = userData.write_files.find((f) => f.path.includes('/scripts/per-boot/'))!.content;

/** Packaged once per stage for the whole file: packaging is the slow part (~5 s a stage). */
const templates = new Map<string, PackagedTemplate>();
beforeAll(() => {
  for (const stage of STAGES) templates.set(stage, packageForStage(stage));
}, 120_000);

/** The environment of the function that runs as RunnerDispatcherRole. */
const dispatcherEnv = (template: PackagedTemplate) => {
  const fn = Object.values(template.Resources).find(
    (r) =>
      r.Type === 'AWS::Lambda::Function' &&
      (r.Properties as any).Role?.['Fn::GetAtt']?.[0] === 'RunnerDispatcherRole',
  );
  return (fn!.Properties as any).Environment.Variables as Record<string, unknown>;
};

/** In memory: one dispatcher, one job; the real leases are DynamoDB's business, not this test's. */
const singleJobLeases = (): Leases => {
  const held = new Map<string, string>();
  const unused = () => Promise.reject(new Error('not used by the ec2-wake provider'));
  return {
    claimSlot: unused,
    releaseSlot: unused,
    slotOf: unused,
    slotsInUse: unused,
    heldSlots: unused,
    claimInstance: async (instanceId, jobKey) => !held.has(instanceId) && !!held.set(instanceId, jobKey),
    releaseInstance: async (instanceId) => void held.delete(instanceId),
    instanceOf: async (jobKey) => [...held].find(([, key]) => key === jobKey)?.[0],
  };
};

/** The stage's dispatcher (its real provider) against the EC2 and Parameter Store twins. */
const startDispatcherSide = async (parameterPrefix: string, instances: { id: string; prefix: string }[]) => {
  const clock = createTwinClock(0.001);
  const ec2 = createEc2Twin({
    clock,
    region: at.region,
    homeAccount: at.account,
    instances: instances.map(({ id, prefix }) => ({
      instanceId: id,
      pool: 'linux',
      az: 'eu-west-1a',
      instanceType: 'm7i.large',
      tags: { 'ghes-cp:parameter-prefix': prefix },
    })),
  });
  const ssm = createSsmParametersTwin({ homeAccount: at.account });
  const services = [ec2, ssm];
  const endpoint = await startTwinAwsEndpoint(
    services,
    new FaultInjector(() => ({ targets: faultTargetsOf(services) })),
  );
  const aws = createAwsClients({
    region: at.region,
    endpoint: endpoint.url,
    credentials: { accessKeyId: 'dispatcher', secretAccessKey: 'twin' },
  });
  const provider = createEc2WakeProvider({
    ec2: aws.ec2,
    credentials: createSsmCredentialsStore(aws.ssm),
    leases: singleJobLeases(),
    parameterPrefix,
    instanceArn,
  });
  return {
    ec2,
    ssm,
    provider,
    async close() {
      aws.ec2.destroy();
      aws.ssm.destroy();
      ec2.close();
      clock.close();
      await endpoint.close();
    },
  };
};

it('the user data names no service, stage or prefix: the same file serves every stage', () => {
  expect(bootScript).not.toContain(SERVICE);
  expect(bootScript).not.toMatch(/=\s*\/[a-zA-Z0-9_.-]+\/[a-zA-Z0-9_.-]+\/runners/); // no prefix assigned
});

describe.each(STAGES)('stage %s, as packaged', (stage) => {
  const expectedPrefix = `/${SERVICE}/${stage}/runners`;
  const otherStage = STAGES.find((s) => s !== stage)!;
  const ownInstance = `i-0${stage === 'dev' ? 'd' : 'e'}00000000000001`;
  const otherInstance = `i-0${stage === 'dev' ? 'e' : 'd'}00000000000002`;
  let side: Awaited<ReturnType<typeof startDispatcherSide>>;
  afterAll(async () => side?.close());

  it("names no other stage's Parameter Store path anywhere in its template", () => {
    const text = JSON.stringify(templates.get(stage));
    const stagesNamed = [...text.matchAll(new RegExp(`/${SERVICE}/([^/"]+)/`, 'g'))].map((m) => m[1]);
    expect(stagesNamed.length).toBeGreaterThan(0);
    expect(new Set(stagesNamed)).toEqual(new Set([stage]));
  });

  it('dispatcher, its IAM, the instance role and the user data all use <prefix>/instances/<id>', async () => {
    // Prepare: the prefix the dispatcher is deployed with; an instance set up for this stage (tagged
    // with that prefix, as README says) and one of the other stage, in a pool with the same name.
    const template = templates.get(stage)!;
    const prefix = dispatcherEnv(template).RUNNER_PARAMETER_PREFIX;
    expect(prefix).toBe(expectedPrefix);
    side = await startDispatcherSide(expectedPrefix, [
      { id: ownInstance, prefix: expectedPrefix },
      { id: otherInstance, prefix: `/${SERVICE}/${otherStage}/runners` },
    ]);
    const dispatcherRole = statementsOf(template.Resources, 'RunnerDispatcherRole');
    const instanceRole = statementsOf(template.Resources, 'RunnerInstanceRole');
    const tagsOf = (id: string) => side.ec2.list().find((i) => i.instanceId === id)!.tags;

    const launch = (jobId: number) =>
      side.provider.launch(
        {
          jobKey: `${jobId}#1`,
          idleMinutes: 10,
          credentials: {
            kind: 'jit',
            runnerName: `ghes-cp-${jobId}-1-abc`,
            encodedJitConfig: `JIT-${stage}`,
          },
        },
        { tagKey: 'ghes-cp:pool', tagValue: 'linux' },
      );

    // Act 1: the dispatcher wakes an instance for a job, then is asked for another.
    const { resourceId } = await launch(7);
    const second = await launch(8).catch((e: unknown) => e);

    // Assess 1: its own stage's instance, never the other stage's, and its parameter exactly where
    // that instance will look.
    expect(resourceId).toBe(ownInstance);
    expect((second as Error).message).toBe(
      `no stopped instance tagged ghes-cp:pool=linux and ghes-cp:parameter-prefix=${expectedPrefix}`,
    );
    expect(side.ec2.list().find((i) => i.instanceId === otherInstance)!.state).toBe('stopped');
    const parameter = `${expectedPrefix}/instances/${ownInstance}`;
    expect(side.ssm.names()).toEqual([parameter]);
    for (const action of ['ssm:PutParameter', 'ssm:AddTagsToResource', 'ssm:DeleteParameter'])
      expect(roleAllows(dispatcherRole, { action, resource: parameterArn(parameter) }, at), action).toBe(
        true,
      );
    // IAM agrees on which instances this dispatcher may wake: this stage's, not the other's.
    const start = (id: string) =>
      roleAllows(
        dispatcherRole,
        { action: 'ec2:StartInstances', resource: instanceArn(id), resourceTags: tagsOf(id) },
        at,
      );
    expect(start(ownInstance)).toBe(true);
    expect(start(otherInstance)).toBe(false);
    // Only the instance the parameter was written for may read and delete it.
    const parameterTags = side.ssm.tags(parameter, at.account)!;
    for (const action of ['ssm:GetParameter', 'ssm:DeleteParameter']) {
      const read = (instanceId: string) =>
        roleAllows(
          instanceRole,
          {
            action,
            resource: parameterArn(parameter),
            resourceTags: parameterTags,
            context: { 'ec2:SourceInstanceARN': instanceArn(instanceId) },
          },
          at,
        );
      expect(read(ownInstance), action).toBe(true);
      expect(read(otherInstance), action).toBe(false);
    }

    // Act 2: the woken instance boots: the real user data, its metadata showing its real tags.
    const value = side.ssm.take(parameter, { account: at.account, asInstance: instanceArn(ownInstance) })!;
    const run = await runBootScript(bootScript, {
      instance: { id: ownInstance, tags: tagsOf(ownInstance) },
      parameters: { [parameter]: value },
      runner: 'runs-a-job',
    });

    // Assess 2: it read exactly that parameter, ran the job with this stage's credentials, and stopped.
    expect(run.log.filter((line) => line.startsWith('aws ssm get-parameter'))).toEqual([
      `aws ssm get-parameter --region ${at.region} --name ${parameter} --with-decryption --query Parameter.Value --output text`,
    ]);
    expect(run.runnerEnv).toEqual({ ACTIONS_RUNNER_INPUT_JITCONFIG: `JIT-${stage}` });
    expect(run.parametersLeft).toEqual([]);
    expect(run.log.at(-1)).toBe('shutdown -h now');
  });
});
