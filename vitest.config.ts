import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // 2 cores: e2e files each start a sandbox; keep the pool small so timings stay honest.
    maxWorkers: 2,
  },
});
