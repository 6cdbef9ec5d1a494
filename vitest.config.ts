import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { findChromium, CHROMIUM_ARGS } from './src/browser.ts';

// vitest 5's reporter calls Map.groupBy, which Node 20 (this project's minimum) lacks.
if (!(Map as unknown as { groupBy?: unknown }).groupBy) {
  (Map as unknown as { groupBy: unknown }).groupBy = <T, K>(items: Iterable<T>, key: (x: T, i: number) => K): Map<K, T[]> => {
    const m = new Map<K, T[]>();
    let i = 0;
    for (const x of items) {
      const k = key(x, i++);
      const list = m.get(k);
      if (list) list.push(x);
      else m.set(k, [x]);
    }
    return m;
  };
}

export default defineConfig({
  test: {
    projects: [
      {
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], environment: 'node' },
      },
      {
        test: {
          name: 'gpu',
          include: ['tests/gpu/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({ launchOptions: { executablePath: findChromium(), args: CHROMIUM_ARGS } }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
