import { describe, expect, it } from 'vitest';
import { dateRange, instantRange } from './fhir-date.js';

describe('FHIR dates as ranges', () => {
  it.each([
    ['2024', '2024-01-01', '2024-12-31'],
    ['2024-02', '2024-02-01', '2024-02-29'],
    ['2023-02-28', '2023-02-28', '2023-02-28'],
  ])('%s covers %s..%s', (value, low, high) => {
    expect(dateRange(value)).toEqual({ low, high });
  });

  it('reads a dateTime at its precision, UTC when no zone', () => {
    expect(instantRange('2024-03-05T10:00')).toEqual({ low: Date.parse('2024-03-05T10:00:00Z'), high: Date.parse('2024-03-05T10:01:00Z') });
    expect(instantRange('2024-03-05T10:00:00+02:00')?.low).toBe(Date.parse('2024-03-05T08:00:00Z'));
    expect(instantRange('2024-03-05T10:00:00.123Z')).toEqual({ low: Date.parse('2024-03-05T10:00:00.123Z'), high: Date.parse('2024-03-05T10:00:00.124Z') });
  });

  it.each(['2023-02-29', '2024-13', '24-01-01', 'yesterday', '2024-01-01T25:00', "2024'; --", ''])('rejects %j', (value) => {
    expect(instantRange(value)).toBeUndefined();
  });
});
