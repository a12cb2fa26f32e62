import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'mappings/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Every FHIR body a test receives must be valid R4 (test/r4-guard.ts).
    setupFiles: ['test/r4-guard.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default (cores - 1) is one file at a time on a 2-core machine, where most of a test's time is
    // spent waiting on PostgreSQL, Redis or a child process: two at a time ran the suite in 388 s instead of 574 s.
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
