// `npm run test:kubelet`: the real kubelet's checks (test/kubelet), one file, in order; kept out
// of `npm test` because they need the kubelet binary (test/real-clients/install-kubelet.sh).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/kubelet/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 240_000,
    fileParallelism: false,
    reporters: ['verbose'],
  },
});
