import { describe, expect, it } from 'vitest';
import { readiness } from './readiness.js';

const after = (ms: number, value: boolean): (() => Promise<boolean>) => () => new Promise((resolve) => setTimeout(() => resolve(value), ms));

describe('readiness', () => {
  it('is ready when every check answers true', async () => {
    expect(await readiness({ postgres: after(1, true), redis: after(1, true) })).toEqual({ status: 'ready', checks: { postgres: 'up', redis: 'up' } });
  });

  it('counts a check that fails, throws or hangs as down, within the bound, the checks running at once', async () => {
    const started = performance.now();
    const result = await readiness(
      {
        postgres: () => new Promise<boolean>(() => undefined), // never answers
        redis: after(150, true),
        other: after(150, true),
        broken: () => Promise.reject(new Error('refused')),
        no: after(1, false),
      },
      300
    );
    const took = performance.now() - started;
    expect(result).toEqual({ status: 'not-ready', checks: { postgres: 'down', redis: 'up', other: 'up', broken: 'down', no: 'down' } });
    // In parallel: the bound once (not the sum of 150 + 150 + 300).
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(550);
  });
});
