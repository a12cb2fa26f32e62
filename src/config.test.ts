import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('configuration', () => {
  it('takes ports from 0 (any free port) to 65535 and names the variable otherwise', () => {
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(loadConfig({ PORT: '65535' }).port).toBe(65_535);
    expect(() => loadConfig({ PORT: '70000' })).toThrow('PORT must be a TCP port (0 to 65535), got "70000"');
    expect(() => loadConfig({ PORT: '-1' })).toThrow('PORT must be a non-negative integer, got "-1"');
    expect(loadConfig({ AIGUILLAGE_METRICS_PORT: '9464' }).metrics?.port).toBe(9464);
    expect(() => loadConfig({ AIGUILLAGE_METRICS_PORT: '65536' })).toThrow('AIGUILLAGE_METRICS_PORT must be a TCP port (0 to 65535), got "65536"');
  });
});
