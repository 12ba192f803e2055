import { defineConfig } from 'vitest/config';

// `npm run bench`: not a test. One long run that generates its inputs and prints figures.
export default defineConfig({
  test: {
    include: ['bench/**/*.run.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // One file at a time: measurements running side by side on a 2-core machine would time each other.
    fileParallelism: false,
    reporters: ['verbose'],
  },
});
