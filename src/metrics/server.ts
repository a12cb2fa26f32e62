/**
 * The metrics' own HTTP server: `GET /metrics` in the Prometheus text
 * format, on a port apart from the API's (`AIGUILLAGE_METRICS_PORT`), with
 * no authentication: Prometheus scrapes it without a token, so the port is
 * meant for the operator's network only, never published like the API.
 */
import http from 'node:http';
import type { Logger } from '../logger.js';

/** Starts the server; resolves once it listens, with the server and its port. */
export async function serveMetrics(options: {
  port: number;
  host: string;
  contentType: string;
  render: () => Promise<string>;
  logger: Logger;
}): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(function metricsHandler(req, res) {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: the metrics are at GET /metrics\n');
      return;
    }
    options.render().then(
      (text) => res.writeHead(200, { 'content-type': options.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => {
        options.logger.error({ err }, 'metrics could not be collected');
        res.writeHead(503, { 'content-type': 'text/plain' }).end('The metrics could not be collected\n');
      }
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  options.logger.info({ port }, 'metrics listening (GET /metrics)');
  return { server, port };
}
