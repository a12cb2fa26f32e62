/**
 * The gateway as the benchmarks run it: API and workers in one process, plus
 * a trivial route (`GET /bench/ping`) that measures the HTTP stack's own
 * ceiling on the same server.
 */
import { loadConfig } from '../src/config.js';
import { start } from '../src/main.js';

const gateway = await start(loadConfig(), {
  api: true,
  workers: true,
  configureApp: (app) => {
    app.get('/bench/ping', (c) => c.json({ ok: true }));
  },
});
process.send?.({ ready: true, port: gateway.port });
process.once('SIGTERM', () => {
  void gateway.shutdown().then(() => process.exit(0));
});
