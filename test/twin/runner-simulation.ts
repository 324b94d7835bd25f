import type { CodeBuildTwin } from './codebuild.ts';
import type { Ec2Twin } from './ec2.ts';
import type { GithubTwin } from './github-api.ts';
import type { SsmParametersTwin } from './ssm-parameters.ts';

/** The instance tag the user data reads its parameter prefix from (through instance metadata). */
const PREFIX_TAG = 'ghes-cp:parameter-prefix';
/** The user data's own check: a Parameter Store path, /-separated [a-zA-Z0-9_.-] segments. */
const PARAMETER_PATH = /^(\/[a-zA-Z0-9_.-]+)+$/;

/**
 * What the buildspec and the instance user data do on AWS: at boot, read the runner credentials
 * from Parameter Store (deleting them), start one ephemeral runner, and end when its job is done —
 * a build finishes, an instance shuts itself down (stop on shutdown), ready to be woken again.
 */
export const simulateRunners = (options: {
  codebuild: CodeBuildTwin;
  ec2: Ec2Twin;
  ssm: SsmParametersTwin;
  github: GithubTwin;
  /** The ARN an instance's role presents: it reads only parameters tagged with it. */
  instanceArn: (instance: { instanceId: string; account: string }) => string;
}) => {
  const { codebuild, ec2, ssm, github } = options;
  const resourceByRunner = new Map<string, string>();

  const startRunner = (
    resourceId: string,
    parameter: string | undefined,
    from: { account: string; asInstance?: string },
  ): boolean => {
    const raw = parameter ? ssm.take(parameter, from) : undefined;
    if (!raw) return false;
    const credentials = JSON.parse(raw) as {
      kind: 'jit' | 'registration' | 'maintenance';
      runnerName: string;
      encodedJitConfig?: string;
      token?: string;
      url?: string;
      labels?: string[];
      idleMinutes?: number;
      runnerGroup?: string;
    };
    // Woken by pool maintenance: the boot script starts no runner and keeps the machine up for the
    // SSM command; the state machine stops it.
    if (credentials.kind === 'maintenance') return true;
    const idleMs = (credentials.idleMinutes ?? 10) * 60_000;
    resourceByRunner.set(credentials.runnerName, resourceId);
    github.startRunner(
      credentials.kind === 'jit'
        ? { encodedJitConfig: credentials.encodedJitConfig!, resourceId, idleMs }
        : {
            registrationToken: credentials.token!,
            runnerName: credentials.runnerName,
            labels: credentials.labels ?? [],
            owner: new URL(credentials.url!).pathname.split('/')[1]!,
            resourceId,
            idleMs,
            ...(credentials.runnerGroup ? { runnerGroup: credentials.runnerGroup } : {}),
          },
    );
    return true;
  };

  // The user data ends with `shutdown -h now`: the OS powers off, no API call involved.
  const stopInstance = (instanceId: string) => ec2.shutdown(instanceId);

  codebuild.onStatusChange((build, previous) => {
    if (build.currentPhase !== 'BUILD' || previous?.currentPhase === 'BUILD') return;
    if (!startRunner(build.id, build.environmentVariables.RUNNER_CREDENTIALS, { account: build.account }))
      codebuild.finish(build.id, 'FAILED');
  });
  ec2.onStateChange((instance, previous) => {
    if (instance.state !== 'running' || previous !== 'pending') return;
    // As the user data: the prefix comes from the instance's own tag; without a valid one it stops.
    const prefix = instance.tags[PREFIX_TAG];
    const parameter =
      prefix !== undefined && PARAMETER_PATH.test(prefix)
        ? `${prefix}/instances/${instance.instanceId}`
        : undefined;
    const from = { account: instance.account, asInstance: options.instanceArn(instance) };
    if (!startRunner(instance.instanceId, parameter, from)) {
      stopInstance(instance.instanceId); // user data found nothing to run: shut down
    }
  });

  // The boot scripts' watchdog: a runner without a job for idleMinutes exits, its machine stops.
  github.onIdleExit((resourceId) => {
    if (resourceId.startsWith('i-')) stopInstance(resourceId);
    else if (resourceId) codebuild.finish(resourceId, 'SUCCEEDED');
  });

  return {
    /** The sandbox calls this for each accepted `completed` delivery: the runner exited. */
    jobCompleted(runnerName: string | null | undefined) {
      const resourceId = runnerName ? resourceByRunner.get(runnerName) : undefined;
      if (!resourceId) return;
      resourceByRunner.delete(runnerName!);
      if (resourceId.startsWith('i-')) stopInstance(resourceId);
      else codebuild.finish(resourceId, 'SUCCEEDED');
    },
  };
};
