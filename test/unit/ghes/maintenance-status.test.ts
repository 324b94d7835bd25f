import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  parseMaintenanceChange,
  parseMaintenanceQuery,
  parseMaintenanceStatusOutput,
  parseManageMaintenance,
} from '../../../shared/ghes/maintenance-status.ts';

const vector = (name: string) => readFileSync(new URL(`../../vectors/ghes/${name}`, import.meta.url), 'utf8');
const body = () => JSON.parse(vector('manage-api-maintenance.json'));

describe('Manage API /manage/v1/maintenance', () => {
  it('reads the vector: maintenance on, four services drained to 0', () => {
    expect(parseManageMaintenance(body())).toEqual({
      state: 'on',
      activeConnections: 0,
      connections: [
        { name: 'git operations', number: 0 },
        { name: 'mysql queries', number: 0 },
        { name: 'aqueduct jobs', number: 0 },
        { name: 'resque jobs', number: 0 },
      ],
      scheduledTime: '2026-11-22T10:00:00Z',
      summary:
        'maintenance on, 0 active connections (git operations 0, mysql queries 0, aqueduct jobs 0, resque jobs 0)',
      source: 'manage-api',
    });
  });

  it('sums the connection counts, across nodes too', () => {
    const answer = body();
    answer[0].connection_services[0].number = 3;
    answer[0].connection_services[2].number = 2;
    answer.push({
      ...answer[0],
      hostname: 'ghe-primary-2',
      connection_services: [{ name: 'git operations', number: 1 }],
    });
    expect(parseManageMaintenance(answer)).toMatchObject({ state: 'on', activeConnections: 6 });
  });

  it('reads off and scheduled', () => {
    const off = body();
    off[0].status = 'off';
    expect(parseManageMaintenance(off).state).toBe('off');
    const scheduled = body();
    scheduled[0].status = 'scheduled';
    expect(parseManageMaintenance(scheduled).summary).toMatch(
      /^maintenance scheduled for 2026-11-22T10:00:00Z, /,
    );
  });

  it('reads a single object as one node', () => {
    expect(parseManageMaintenance(body()[0])).toMatchObject({ state: 'on', activeConnections: 0 });
  });

  it.each([
    ['a count that is not a number', (a: any) => (a[0].connection_services[1].number = '0')],
    ['a negative count', (a: any) => (a[0].connection_services[1].number = -1)],
    ['a fractional count', (a: any) => (a[0].connection_services[1].number = 0.5)],
    ['no connection_services', (a: any) => delete a[0].connection_services],
  ])('never reports 0 active connections with %s: the count is unknown (null)', (_what, spoil) => {
    const answer = body();
    spoil(answer);
    expect(parseManageMaintenance(answer).activeConnections).toBeNull();
  });

  it.each([
    [
      'nodes that disagree',
      [
        { status: 'on', connection_services: [] },
        { status: 'off', connection_services: [] },
      ],
    ],
    ['a status outside on/off/scheduled', [{ status: 'maybe', connection_services: [] }]],
    ['an empty list', []],
    ['null', null],
    ['a string', 'on'],
  ])('calls %s unknown', (_what, answer) => {
    expect(parseManageMaintenance(answer).state).toBe('unknown');
  });
});

describe('our maintenance-status document output', () => {
  it('reads its JSON line with the Manage API parser', () => {
    const stdout =
      '[{"hostname":"ghe-primary","status":"on","connection_services":[{"name":"git operations","number":4}]}]\n';
    expect(parseMaintenanceStatusOutput({ exitCode: 0, stdout })).toMatchObject({
      state: 'on',
      activeConnections: 4,
      source: 'ghe-maintenance-status',
    });
  });

  it('keeps a count it could not take unknown, and a state it could not read unknown', () => {
    const stdout =
      '[{"hostname":"ghe-primary","status":"unknown","connection_services":[{"name":"git operations","number":null}]}]\n';
    expect(parseMaintenanceStatusOutput({ exitCode: 0, stdout })).toMatchObject({
      state: 'unknown',
      activeConnections: null,
    });
  });

  it.each([
    [0, ''],
    [0, 'sudo: a password is required\n'],
    [1, '[{"status":"off","connection_services":[]}]'],
  ])('calls exit %i with %j unknown', (exitCode, stdout) => {
    expect(parseMaintenanceStatusOutput({ exitCode, stdout })).toMatchObject({
      state: 'unknown',
      activeConnections: null,
    });
  });
});

describe('ghe-maintenance -q / -s / -u', () => {
  it('-q: exit 0 is on, exit 1 ("maintenance mode not set") is off, connections unknown either way', () => {
    expect(parseMaintenanceQuery({ exitCode: 0, stdout: '' })).toMatchObject({
      state: 'on',
      activeConnections: null,
    });
    expect(parseMaintenanceQuery({ exitCode: 1, stdout: 'maintenance mode not set\n' })).toMatchObject({
      state: 'off',
      activeConnections: null,
    });
  });

  it('-q: calls an exit 0 that says "not set", or any other exit, unknown', () => {
    expect(parseMaintenanceQuery({ exitCode: 0, stdout: 'maintenance mode not set\n' }).state).toBe(
      'unknown',
    );
    expect(
      parseMaintenanceQuery({ exitCode: 127, stdout: '', stderr: 'ghe-maintenance: not found' }),
    ).toMatchObject({
      state: 'unknown',
      summary: 'ghe-maintenance -q exited 127',
    });
  });

  it('-s / -u: exit 0 is done; anything else fails with the last lines', () => {
    expect(parseMaintenanceChange('-s', { exitCode: 0, stdout: '' })).toEqual({
      ok: true,
      exitCode: 0,
      summary: 'maintenance mode set',
    });
    expect(
      parseMaintenanceChange('-u', { exitCode: 1, stdout: '', stderr: 'first\nsecond\nthird\n' }),
    ).toEqual({
      ok: false,
      exitCode: 1,
      summary: 'ghe-maintenance -u failed with exit code 1: second / third',
    });
  });
});
