import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // 2 cores: e2e files each start a sandbox; keep the pool small so timings stay honest.
    maxWorkers: 2,
    // The sandboxes' function logs (the injected faults' stack traces among them) go to a file, and
    // under a test only when it fails: a first run shows no stack traces unless something is wrong.
    globalSetup: ['test/support/function-log-file.ts'],
    setupFiles: ['test/support/function-logs-on-failure.ts'],
  },
});
