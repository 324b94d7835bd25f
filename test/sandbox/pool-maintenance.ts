import { readFileSync } from 'node:fs';
import type { Twin } from '../twin/twin.ts';
import type { SandboxConfig } from './sandbox-config.ts';

/** The task Lambda's name, and the state machine's, as serverless.yml deploys them. */
export const POOL_MAINTENANCE = 'pool-maintenance';
export const POOL_MAINTENANCE_MACHINE = 'pool-maintenance';

const definition = () =>
  JSON.parse(
    readFileSync(new URL('../../state-machines/pool-maintenance.asl.json', import.meta.url), 'utf8'),
  );

const registered = new WeakSet<Twin>();

/**
 * `POST /sandbox/maintenance {"pool":"linux"}`: starts the pool's maintenance as its EventBridge
 * schedule would (same input, an execution name of the schedule's form). 202 with the name; 400 naming
 * the problem when the body or pool is not one with `maintenance:`.
 */
export const startPoolMaintenance = (twin: Twin, config: SandboxConfig, body: string) => {
  if (!registered.has(twin)) {
    // The deploy loader puts the function's ARN where the placeholder is; the twin its name.
    twin.stepFunctions.register(POOL_MAINTENANCE_MACHINE, definition(), {
      PoolMaintenanceFunctionArn: POOL_MAINTENANCE,
    });
    registered.add(twin);
  }
  let pool: unknown;
  try {
    pool = (JSON.parse(body) as { pool?: unknown }).pool;
  } catch {
    return { status: 400, body: { error: 'body must be JSON {"pool":"<name>"}' } };
  }
  const withMaintenance = config.pools.filter((p) => p.maintenance).map((p) => p.name);
  if (typeof pool !== 'string' || !withMaintenance.includes(pool)) {
    return {
      status: 400,
      body: {
        error: `pool: expected one with maintenance configured (${withMaintenance.join(', ') || 'none'})`,
      },
    };
  }
  const name = `${pool}-maintenance-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const execution = twin.stepFunctions.startExecution(POOL_MAINTENANCE_MACHINE, { pool }, name);
  return { status: 202, body: { executionName: execution.name, executionArn: execution.executionArn } };
};
