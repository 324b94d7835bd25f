import { FailoverInputError } from './failover-state.ts';

/**
 * A failover task function's entry: the ASL names the task in the payload (`"task": "checkDrain"`),
 * this picks the method. Only the tasks of that function exist; anything else is refused by name.
 */
type Task = (input: never) => Promise<unknown>;

export const routeFailoverTasks =
  <T extends Record<string, Task>>(functionName: string, tasks: T) =>
  async (event: unknown): Promise<unknown> => {
    const task = (event as { task?: unknown } | null)?.task;
    if (typeof task !== 'string' || !Object.hasOwn(tasks, task))
      throw new FailoverInputError(`${functionName}: no task ${JSON.stringify(task ?? null)}`);
    return (tasks[task] as (input: unknown) => Promise<unknown>)(event);
  };
