import { describe, expect, it } from 'vitest';
import { nodeMajor, nodeSupportWarning } from './runtime.js';

describe('supported Node releases', () => {
  it('warns on Node 20 (past end of life), not on 22 or 24', () => {
    expect(nodeSupportWarning('20.20.0')).toMatch(/Node 20\.20\.0 is past end of life.*Node 24/);
    expect(nodeSupportWarning('22.12.0')).toBeUndefined();
    expect(nodeSupportWarning('24.21.0')).toBeUndefined();
    expect(nodeMajor('24.21.0')).toBe(24);
  });
});
