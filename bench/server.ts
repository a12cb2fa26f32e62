/**
 * The gateway as the benchmarks run it: API and workers in one process, plus
 * a trivial route (`GET /bench/ping`) that measures the HTTP stack's own
 * ceiling on the same server. With BENCH_PROCESSES=N (above 1), N such
 * processes share the port through `node:cluster`, as `aiguillage start
 * --processes N` runs them; this process is then their primary, and says it
 * is ready once all listen.
 */
import cluster from 'node:cluster';
import { loadConfig } from '../src/config.js';
import { start } from '../src/main.js';

const processes = Number(process.env.BENCH_PROCESSES ?? 1);

if (processes > 1 && cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < processes; i++) {
    const worker = cluster.fork();
    worker.once('listening', () => {
      if (++listening === processes) process.send?.({ ready: true, port: Number(process.env.PORT) });
    });
  }
  cluster.on('exit', (_worker, code) => {
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(code ?? 0);
  });
  process.once('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  });
} else {
  const gateway = await start(loadConfig(), {
    api: true,
    workers: true,
    configureApp: (app) => {
      app.get('/bench/ping', (c) => c.json({ ok: true }));
    },
  });
  if (!cluster.isWorker) process.send?.({ ready: true, port: gateway.port });
  process.once('SIGTERM', () => {
    void gateway.shutdown().then(() => process.exit(0));
  });
}
