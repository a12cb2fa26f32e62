import { describe, expect, it } from 'vitest';
import { join, raw, shared, sql } from './sql.js';

describe('sql builder', () => {
  it('numbers parameters across nested fragments', () => {
    const where = join([sql`a = ${1}`, sql`b = ${'x'}`, sql`c @> ${['y']}`], ' AND ');
    const q = sql`SELECT * FROM ${raw('patient')} WHERE ${where} LIMIT ${10}`.toQuery();
    expect(q.text).toBe('SELECT * FROM patient WHERE a = $1 AND b = $2 AND c @> $3 LIMIT $4');
    expect(q.params).toEqual([1, 'x', ['y'], 10]);
  });

  it('sends a shared value once, wherever it is read, and equal values that are not shared twice', () => {
    const doc = shared('[1,2]');
    const q = sql`SELECT ${'a'}, ${doc}, ${sql`x = ${doc} AND y = ${'a'}`}`.toQuery();
    expect(q.text).toBe('SELECT $1, $2, x = $2 AND y = $3');
    expect(q.params).toEqual(['a', '[1,2]', 'a']);
  });

  it('never inlines a value, even one that looks like SQL', () => {
    const q = sql`SELECT 1 WHERE name = ${"'; DROP TABLE patient; --"}`.toQuery();
    expect(q.text).toBe('SELECT 1 WHERE name = $1');
  });

  it('refuses raw text that is not an identifier', () => {
    expect(() => raw('name; DROP TABLE x')).toThrow();
    expect(raw('last_updated DESC')).toBeTruthy();
  });

  it('joins nothing into an empty fragment', () => {
    expect(join([], ' AND ').toQuery()).toEqual({ text: '', params: [] });
  });
});
