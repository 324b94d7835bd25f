import type { TwinClock } from './clock.ts';
import type { Ec2Twin } from './ec2.ts';
import type { FaultInjector } from './faults.ts';
import type { CommandHost, CommandResult } from './ssm-commands.ts';

/**
 * A runner instance as SSM Run Command sees it: its agent comes online a little after the instance is
 * running and is gone while it is stopped or booting; the pool-maintenance document's tasks take
 * simulated time, print what the real commands print, and change the host (disk freed, runner
 * version). A fault `{"target":"ssm:<task>","exitCode":N}` makes that task exit with N.
 */
export const MAINTENANCE_COMMANDS = ['disk-reclaim', 'runner-update', 'os-update'] as const;

/** Simulated durations of each task (before timeScale). */
const TASK_MS: Record<string, number> = {
  'disk-reclaim': 20_000,
  'runner-update': 30_000,
  'os-update': 60_000,
};
const AGENT_START_MS = 5_000;

export interface RunnerHostState {
  runnerVersion: string;
  diskUsedGb: number;
  maintainedAt: string | null;
}

export const createRunnerHosts = (options: {
  clock: TwinClock;
  ec2: Ec2Twin;
  faults: FaultInjector;
  maintenanceDocument: string;
  initialRunnerVersion?: string;
}) => {
  const runningSince = new Map<string, number>();
  const hosts = new Map<string, RunnerHostState>();
  options.ec2.onStateChange((instance) => {
    if (instance.state === 'running') runningSince.set(instance.instanceId, Date.now());
    else runningSince.delete(instance.instanceId);
  });
  const stateOf = (instanceId: string) => {
    let state = hosts.get(instanceId);
    if (!state) {
      state = {
        runnerVersion: options.initialRunnerVersion ?? '2.319.1',
        diskUsedGb: 41,
        maintainedAt: null,
      };
      hosts.set(instanceId, state);
    }
    return state;
  };

  const runTask = async (instanceId: string, task: string, p: Readonly<Record<string, string>>) => {
    const host = stateOf(instanceId);
    await options.clock.sleep(TASK_MS[task] ?? 10_000);
    const fault = options.faults.take(`ssm:${task}`);
    if (fault) {
      const exitCode = Math.min(255, fault.settings.exitCode ?? 1);
      const stderr: Record<string, string> = {
        'disk-reclaim': 'Error response from daemon: a prune operation is already running',
        'runner-update': `checksum mismatch for actions-runner-linux-x64-${p.runnerVersion}.tar.gz`,
        'os-update': "Error: Failed to download metadata for repo 'amazonlinux': Cannot download repomd.xml",
      };
      return {
        ok: false,
        stdout: `== ${task}\n`,
        stderr: `${stderr[task] ?? 'failed'}\n!! ${task}: failed with exit code ${exitCode}\n`,
        exitCode,
      };
    }
    switch (task) {
      case 'disk-reclaim': {
        const before = host.diskUsedGb;
        host.diskUsedGb = 12;
        return {
          ok: true,
          stdout: `== disk-reclaim: before\n/dev/nvme0n1p1   60G   ${before}G   ${60 - before}G  ${Math.round((before / 60) * 100)}% /\nDeleted Images: …\nTotal reclaimed space: ${before - 12}GB\n== disk-reclaim: after\n/dev/nvme0n1p1   60G   12G   48G  20% /\nok: disk-reclaim\n`,
        };
      }
      case 'runner-update': {
        const from = host.runnerVersion;
        if (from === p.runnerVersion)
          return { ok: true, stdout: `runner already at ${from}\nok: runner-update\n` };
        host.runnerVersion = p.runnerVersion!;
        return {
          ok: true,
          stdout: `/tmp/tmp.x/actions-runner-linux-x64-${p.runnerVersion}.tar.gz: OK\nrunner updated from ${from} to ${p.runnerVersion}\nok: runner-update\n`,
        };
      }
      default:
        return {
          ok: true,
          stdout: 'Dependencies resolved.\nUpgraded: 7 packages\nComplete!\nok: os-update\n',
        };
    }
  };

  const hostOf = (instanceId: string): CommandHost | undefined => {
    if (!options.ec2.list().some((i) => i.instanceId === instanceId)) return undefined;
    return {
      agentOnline: () => {
        const since = runningSince.get(instanceId);
        return since !== undefined && Date.now() - since >= AGENT_START_MS * options.clock.timeScale;
      },
      async run(document, parameters): Promise<CommandResult> {
        if (document !== options.maintenanceDocument)
          return { exitCode: 127, stdout: '', stderr: `runner host: no simulation of ${document}\n` };
        let stdout = '';
        for (const task of parameters.tasks!.split(',')) {
          stdout += `== ${task}\n`;
          const result = await runTask(instanceId, task, parameters);
          stdout += result.stdout;
          if (!result.ok) return { exitCode: result.exitCode!, stdout, stderr: result.stderr ?? '' };
        }
        stateOf(instanceId).maintainedAt = new Date().toISOString();
        return { exitCode: 0, stdout: `${stdout}maintenance complete: ${parameters.tasks}\n`, stderr: '' };
      },
    };
  };
  return { hostOf, state: (instanceId: string) => hosts.get(instanceId) };
};
