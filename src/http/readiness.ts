/**
 * `/readyz`: every dependency checked at once, each within a bound, so that
 * a probe answers within the bound whatever hangs (a PostgreSQL that stopped
 * answering keeps its connections open: a query on it would wait forever).
 */

/** How long one dependency's check may take before it counts as down. */
export const READINESS_BOUND_MS = 2_000;

/** The answer of `/readyz`: one shape, ready or not. */
export interface Readiness {
  status: 'ready' | 'not-ready';
  checks: Record<string, 'up' | 'down'>;
}

/** Runs the checks in parallel; a check that throws or takes longer than `boundMs` is down. */
export async function readiness(checks: Record<string, () => Promise<boolean>>, boundMs = READINESS_BOUND_MS): Promise<Readiness> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, 'up' | 'down']> => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), boundMs);
      });
      try {
        const up = await Promise.race([check().catch(() => false), timeout]);
        return [name, up ? 'up' : 'down'];
      } finally {
        clearTimeout(timer);
      }
    })
  );
  const result = Object.fromEntries(entries);
  return { status: entries.every(([, state]) => state === 'up') ? 'ready' : 'not-ready', checks: result };
}
