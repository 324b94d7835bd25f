/**
 * Simulated durations (instance boot, build start) pass through one `timeScale`; the dispatcher's
 * timeout, lease and queue visibility are scaled together in dispatch-timing.ts;
 * handler work is never scaled. `timeScale` 0.05 turns a 40 s boot into 2 s.
 */
export interface TwinClock {
  readonly timeScale: number;
  now(): Date;
  /** Resolves after `simulatedMs` scaled to real time. */
  sleep(simulatedMs: number): Promise<void>;
  /** Runs `fn` after `simulatedMs` scaled; returns a cancel function. Pending timers end with `close()`. */
  after(simulatedMs: number, fn: () => void): () => void;
  close(): void;
}

export const createTwinClock = (timeScale: number): TwinClock => {
  if (!(timeScale > 0)) throw new Error(`timeScale must be a positive number, got ${timeScale}`);
  const timers = new Set<NodeJS.Timeout>();
  const after = (simulatedMs: number, fn: () => void) => {
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        fn();
      },
      Math.max(0, simulatedMs * timeScale),
    );
    timers.add(timer);
    return () => {
      clearTimeout(timer);
      timers.delete(timer);
    };
  };
  return {
    timeScale,
    now: () => new Date(),
    sleep: (simulatedMs) => new Promise((resolve) => after(simulatedMs, resolve)),
    after,
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
};
