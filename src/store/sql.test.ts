import { describe, expect, it } from 'vitest';
import { join, raw, sql } from './sql.js';

describe('sql builder', () => {
  it('numbers parameters across nested fragments', () => {
    const where = join([sql`a = ${1}`, sql`b = ${'x'}`, sql`c @> ${['y']}`], ' AND ');
    const q = sql`SELECT * FROM ${raw('patient')} WHERE ${where} LIMIT ${10}`.toQuery();
    expect(q.text).toBe('SELECT * FROM patient WHERE a = $1 AND b = $2 AND c @> $3 LIMIT $4');
    expect(q.params).toEqual([1, 'x', ['y'], 10]);
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
