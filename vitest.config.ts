import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real kubelet's checks run on their own: `npm run test:kubelet` (vitest.kubelet.config.ts).
    exclude: [...configDefaults.exclude, 'test/kubelet/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration files share one dockerd: run files one at a time to keep timing sane on 2 cores.
    fileParallelism: false,
    reporters: ['default', './test/summary-reporter.ts'],
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
  },
});
