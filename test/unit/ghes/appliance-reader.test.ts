import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ApplianceConfig } from '../../../shared/config/operations-config.ts';
import { createApplianceActions } from '../../../shared/ghes/appliance-actions.ts';
import type {
  ApplianceCommands,
  CommandOutput,
  RunOptions,
} from '../../../shared/ghes/appliance-commands.ts';
import { createApplianceReader } from '../../../shared/ghes/appliance-reader.ts';
import { ApplianceCommandError } from '../../../shared/ghes/command-errors.ts';
import type { ApplianceCommand } from '../../../shared/ghes/commands.ts';
import { ManageApiError, type ManageApi, type ManageApiPath } from '../../../shared/ghes/manage-api.ts';

/** The facade the failover's tasks call: Manage API when configured, SSM otherwise. */
const vector = (name: string) => readFileSync(new URL(`../../vectors/ghes/${name}`, import.meta.url), 'utf8');

const replica: ApplianceConfig = {
  name: 'ghes-replica',
  instanceId: 'i-0aaaaaaaaaaaaaaa1',
  initialRole: 'replica',
  statusUrl: 'https://10.0.1.11/status',
  dnsValue: '10.0.1.11',
};
const withManageApi: ApplianceConfig = {
  ...replica,
  manageApi: {
    url: 'https://10.0.1.11:8443',
    passwordSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ghes-manage',
  },
};

/** Records what was asked and answers from a script. */
const fakeCommands = (answer: (command: ApplianceCommand) => CommandOutput) => {
  const calls: {
    op: string;
    instanceId: string;
    command?: ApplianceCommand;
    options?: RunOptions;
    commandId?: string;
  }[] = [];
  const commands: ApplianceCommands = {
    async run(instanceId, command, options) {
      calls.push({ op: 'run', instanceId, command, options });
      return answer(command);
    },
    async send(instanceId, command, options) {
      calls.push({ op: 'send', instanceId, command, options });
      return 'cmd-1';
    },
    async poll(commandId, instanceId) {
      calls.push({ op: 'poll', instanceId, commandId });
      return { state: 'done', ...answer({ name: 'ghe-repl-promote' }) };
    },
  };
  return { commands, calls };
};
const output = (exitCode: number, stdout: string, stderr = ''): CommandOutput => ({
  exitCode,
  stdout,
  stderr,
  truncated: false,
});

const fakeManageApi = (answer: (path: ManageApiPath) => unknown) => {
  const calls: [string, ManageApiPath][] = [];
  const api: ManageApi = {
    async get(endpoint, path) {
      calls.push([endpoint.url, path]);
      return answer(path);
    },
  };
  return { api, calls };
};
const noManageApi: ManageApi = {
  get: () => Promise.reject(new Error('the Manage API must not be asked for this appliance')),
};

describe('appliance reader', () => {
  it('reads replication over SSM (ghe-repl-status) when the appliance has no Manage API', async () => {
    const { commands, calls } = fakeCommands(() => output(2, vector('repl-status-mssql-critical-3.6.txt')));
    const status = await createApplianceReader({
      commands,
      manageApi: noManageApi,
      deadlineMs: 20_000,
    }).replicationStatus(replica, { verbosity: '-vv' });
    expect(status).toMatchObject({
      health: 'critical',
      promotable: false,
      source: 'ghe-repl-status',
      exitCode: 2,
    });
    expect(calls).toEqual([
      {
        op: 'run',
        instanceId: replica.instanceId,
        command: { name: 'ghe-repl-status', verbosity: '-vv' },
        options: { deadlineMs: 20_000 },
      },
    ]);
  });

  it('reads replication from the Manage API when it is configured, running no command', async () => {
    const { commands, calls } = fakeCommands(() => {
      throw new Error('no SSM command expected');
    });
    const manage = fakeManageApi(() => JSON.parse(vector('manage-api-replication-status.json')));
    const status = await createApplianceReader({ commands, manageApi: manage.api }).replicationStatus(
      withManageApi,
    );
    expect(status).toMatchObject({ health: 'warning', promotable: false, source: 'manage-api' });
    expect(manage.calls).toEqual([['https://10.0.1.11:8443', '/manage/v1/replication/status']]);
    expect(calls).toEqual([]);
  });

  it('reads maintenance and active connections over SSM with the status document', async () => {
    const { commands, calls } = fakeCommands(() =>
      output(
        0,
        '[{"hostname":"ghe-primary","status":"on","connection_services":[{"name":"git operations","number":3}]}]\n',
      ),
    );
    const status = await createApplianceReader({ commands }).maintenanceStatus(replica);
    expect(status).toMatchObject({ state: 'on', activeConnections: 3, source: 'ghe-maintenance-status' });
    expect(calls.map((c) => c.command)).toEqual([{ name: 'ghe-maintenance-status' }]);
  });

  it('reads maintenance from the Manage API when it is configured', async () => {
    const { commands } = fakeCommands(() => {
      throw new Error('no SSM command expected');
    });
    const manage = fakeManageApi(() => JSON.parse(vector('manage-api-maintenance.json')));
    expect(
      await createApplianceReader({ commands, manageApi: manage.api }).maintenanceStatus(withManageApi),
    ).toMatchObject({
      state: 'on',
      activeConnections: 0,
      source: 'manage-api',
    });
    expect(manage.calls).toEqual([['https://10.0.1.11:8443', '/manage/v1/maintenance']]);
  });

  it('turns a Manage API 200 that is not JSON into an unknown status, not a crash', async () => {
    const { commands } = fakeCommands(() => output(0, ''));
    const manageApi: ManageApi = {
      get: () =>
        Promise.reject(new ManageApiError('invalid-json', 'Manage API answered 200 without JSON', 200)),
    };
    const reader = createApplianceReader({ commands, manageApi });
    expect(await reader.replicationStatus(withManageApi)).toMatchObject({
      health: 'unknown',
      promotable: false,
    });
    expect(await reader.maintenanceStatus(withManageApi)).toMatchObject({
      state: 'unknown',
      activeConnections: null,
    });
  });

  it('lets a failure to ask through: an unreachable Manage API, an undeliverable command', async () => {
    const unreachable: ManageApi = { get: () => Promise.reject(new ManageApiError('timeout', 'no answer')) };
    const { commands } = fakeCommands(() => {
      throw new ApplianceCommandError('undeliverable', 'agent offline', { instanceId: replica.instanceId });
    });
    const reader = createApplianceReader({ commands, manageApi: unreachable });
    await expect(reader.replicationStatus(withManageApi)).rejects.toMatchObject({ reason: 'timeout' });
    await expect(reader.maintenanceStatus(replica)).rejects.toMatchObject({ kind: 'undeliverable' });
  });
});

describe('appliance actions', () => {
  it('sets maintenance mode with ghe-maintenance -s and reports a refusal with its exit code', async () => {
    const { commands, calls } = fakeCommands((command) =>
      command.name === 'ghe-maintenance' && command.mode === '-s'
        ? output(0, '')
        : output(1, '', 'not allowed on a replica\n'),
    );
    const actions = createApplianceActions({ commands });
    expect(await actions.setMaintenance(replica, 'on')).toEqual({
      ok: true,
      exitCode: 0,
      summary: 'maintenance mode set',
    });
    expect(await actions.setMaintenance(replica, 'off')).toEqual({
      ok: false,
      exitCode: 1,
      summary: 'ghe-maintenance -u failed with exit code 1: not allowed on a replica',
    });
    expect(calls.map((c) => [c.command, c.options])).toEqual([
      [
        { name: 'ghe-maintenance', mode: '-s' },
        { deadlineMs: 120_000, acceptAnyExitCode: true },
      ],
      [
        { name: 'ghe-maintenance', mode: '-u' },
        { deadlineMs: 120_000, acceptAnyExitCode: true },
      ],
    ]);
  });

  it('starts promote with the failover timeout and reads its outcome when a poll finds it done', async () => {
    const { commands, calls } = fakeCommands(() => output(0, vector('repl-promote-2.x.txt')));
    const actions = createApplianceActions({ commands });
    expect(
      await actions.startPromote(replica, {
        timeoutSeconds: 2_700,
        comment: 'failover-20261122T100000-a1b2c3',
      }),
    ).toBe('cmd-1');
    const polled = await actions.pollPromote(replica, 'cmd-1');
    expect(polled).toMatchObject({ state: 'done', outcome: { promoted: true, successLinePrinted: true } });
    expect(calls).toEqual([
      {
        op: 'send',
        instanceId: replica.instanceId,
        command: { name: 'ghe-repl-promote' },
        options: { executionTimeoutSeconds: 2_700, comment: 'failover-20261122T100000-a1b2c3' },
      },
      { op: 'poll', instanceId: replica.instanceId, commandId: 'cmd-1' },
    ]);
  });

  it('passes a running promote through as running', async () => {
    const commands: ApplianceCommands = {
      run: () => Promise.reject(new Error('unexpected')),
      send: () => Promise.reject(new Error('unexpected')),
      poll: async () => ({ state: 'running', status: 'InProgress' }),
    };
    expect(await createApplianceActions({ commands }).pollPromote(replica, 'cmd-1')).toEqual({
      state: 'running',
      status: 'InProgress',
    });
  });
});
