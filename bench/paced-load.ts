/**
 * A load generator for mixed workloads whose requests are built when they
 * are sent, from what earlier answers taught (a task's version, a new
 * request's id). Two modes over keep-alive connections: closed, each
 * connection sending its next request as soon as the last one is answered
 * (the ceiling); and paced, an open loop at a fixed rate with arrivals spread
 * evenly (autocannon's `overallRate` sends each connection's quota at the
 * start of every second, which is saturation in bursts). Paced latency counts
 * from when a request was due, so a server falling behind shows in it instead
 * of slowing the sender down.
 */
import http from 'node:http';

/** One request of a mix. */
export interface LoadRequest {
  /** What it is, for the figures by kind. */
  kind: string;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Statuses that are no error but are counted apart (a lost If-Match race: 412). */
  tolerated?: readonly number[];
  /** Gets the answer (its body is read only when this is given). */
  onResponse?(status: number, body: string): void;
}

/** Figures of a span of time. */
export interface LoadFigures {
  seconds: number;
  requests: number;
  errors: number;
  tolerated: number;
  /** Latencies, ms, sorted. */
  latencies: number[];
  /** Latencies by kind, ms, sorted. */
  byKind: Map<string, number[]>;
  /** The first errors, to tell what went wrong. */
  errorSamples: string[];
}

/** Collects answers; `take()` hands over the figures since the last take. */
export class LoadRecorder {
  private figures = LoadRecorder.empty();
  private since = performance.now();

  private static empty(): LoadFigures {
    return { seconds: 0, requests: 0, errors: 0, tolerated: 0, latencies: [], byKind: new Map(), errorSamples: [] };
  }

  /** Errors since the last take. */
  get errors(): number {
    return this.figures.errors;
  }

  record(kind: string, ms: number, outcome: 'ok' | 'tolerated' | { error: string }): void {
    const f = this.figures;
    f.requests++;
    f.latencies.push(ms);
    const ofKind = f.byKind.get(kind);
    if (ofKind) ofKind.push(ms);
    else f.byKind.set(kind, [ms]);
    if (outcome === 'tolerated') f.tolerated++;
    else if (outcome !== 'ok') {
      f.errors++;
      if (f.errorSamples.length < 5) f.errorSamples.push(`${kind}: ${outcome.error}`);
    }
  }

  take(): LoadFigures {
    const now = performance.now();
    const taken = { ...this.figures, seconds: (now - this.since) / 1000 };
    taken.latencies.sort((a, b) => a - b);
    for (const values of taken.byKind.values()) values.sort((a, b) => a - b);
    this.figures = LoadRecorder.empty();
    this.since = now;
    return taken;
  }
}

/** The figures of consecutive spans as one. */
export function mergeFigures(spans: readonly LoadFigures[]): LoadFigures {
  const byKind = new Map<string, number[]>();
  for (const span of spans) for (const [kind, values] of span.byKind) byKind.set(kind, [...(byKind.get(kind) ?? []), ...values]);
  for (const values of byKind.values()) values.sort((a, b) => a - b);
  return {
    seconds: spans.reduce((s, f) => s + f.seconds, 0),
    requests: spans.reduce((s, f) => s + f.requests, 0),
    errors: spans.reduce((s, f) => s + f.errors, 0),
    tolerated: spans.reduce((s, f) => s + f.tolerated, 0),
    latencies: spans.flatMap((f) => f.latencies).sort((a, b) => a - b),
    byKind,
    errorSamples: spans.flatMap((f) => f.errorSamples).slice(0, 5),
  };
}

/** Sends mixes of requests to one gateway on at most `connections` keep-alive connections. */
export class LoadClient {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(
    base: string,
    private readonly connections: number,
    private readonly recorder: LoadRecorder,
    private readonly timeoutMs = 10_000
  ) {
    this.url = new URL(base);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  }

  /** Every connection sends back to back until `done()` says so; waits for the last answers. */
  async closed(next: () => LoadRequest, done: () => boolean): Promise<void> {
    const connection = async (): Promise<void> => {
      while (!done()) await this.send(next(), performance.now());
    };
    await Promise.all(Array.from({ length: this.connections }, connection));
  }

  /**
   * `rate` requests per second for `seconds`, evenly spread; a request due
   * while every connection is busy waits (its wait counts in its latency).
   * Returns how many were due but still waiting at the end (not sent) and
   * the longest wait queue.
   */
  async paced(next: () => LoadRequest, rate: number, seconds: number): Promise<{ unsent: number; maxBacklog: number }> {
    const start = performance.now();
    const total = Math.floor(rate * seconds);
    const backlog: number[] = [];
    let scheduled = 0;
    let inFlight = 0;
    let maxBacklog = 0;
    let unsent = 0;
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let stopped = false;
    const pump = (): void => {
      while (inFlight < this.connections && backlog.length > 0) {
        const dueAt = backlog.shift() as number;
        inFlight++;
        void this.send(next(), dueAt).finally(() => {
          inFlight--;
          pump();
        });
      }
      if (stopped && inFlight === 0) finish();
    };
    const timer = setInterval(() => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) / 1000) * rate));
      for (; scheduled < due; scheduled++) backlog.push(start + (scheduled / rate) * 1000);
      maxBacklog = Math.max(maxBacklog, backlog.length);
      if (now - start >= seconds * 1000) {
        clearInterval(timer);
        stopped = true;
        unsent = backlog.splice(0).length;
      }
      pump();
    }, 2);
    await finished;
    return { unsent, maxBacklog };
  }

  close(): void {
    this.agent.destroy();
  }

  private send(req: LoadRequest, dueAt: number): Promise<void> {
    return new Promise((resolve) => {
      let settled = false;
      const record = (outcome: Parameters<LoadRecorder['record']>[2]): void => {
        if (settled) return; // an error after the answer (a timeout mid-body) counts once
        settled = true;
        this.recorder.record(req.kind, performance.now() - dueAt, outcome);
        resolve();
      };
      const headers = req.body === undefined ? req.headers : { ...req.headers, 'Content-Length': String(Buffer.byteLength(req.body)) };
      const request = http.request({ agent: this.agent, host: this.url.hostname, port: this.url.port, method: req.method, path: req.path, headers }, (res) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        const tolerated = req.tolerated?.includes(status) ?? false;
        res.once('close', () => {
          if (!res.complete) record({ error: `${req.method} ${req.path}: connection closed before the whole answer (${status})` });
        });
        if (ok && !req.onResponse) {
          res.resume();
          res.once('end', () => record('ok'));
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          try {
            req.onResponse?.(status, body);
          } catch (err) {
            record({ error: `answer not understood (${status}): ${(err as Error).message}` });
            return;
          }
          record(ok ? 'ok' : tolerated ? 'tolerated' : { error: `${req.method} ${req.path} → ${status} ${body.slice(0, 300)}` });
        });
      });
      request.setTimeout(this.timeoutMs, () => request.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      request.once('error', (err) => record({ error: `${req.method} ${req.path}: ${err.message}` }));
      request.end(req.body);
    });
  }
}
