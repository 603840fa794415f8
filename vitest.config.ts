import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration files share one dockerd: run files one at a time to keep timing sane on 2 cores.
    fileParallelism: false,
    reporters: ['default', './test/summary-reporter.ts'],
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
  },
});
