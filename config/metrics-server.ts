// A Prometheus endpoint: a bare HTTP server answering GET /metrics from an injected registry, on a port of its own
// (the worker's WORKER_METRICS_PORT, the API's API_METRICS_PORT), so metrics are never public with the API.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger';

export interface RunningMetricsServer {
  port: number;
  stop(): Promise<void>;
}

/** Port 0 picks a free port (tests). Without a host it listens on every interface, like the API. */
export async function startMetricsServer(
  registry: Registry,
  port: number,
  logger: Logger,
  host?: string,
): Promise<RunningMetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? '' : text),
      (error: unknown) => {
        logger.error(
          { err: error instanceof Error ? { name: error.name, message: error.message } : {} },
          'metrics failed',
        );
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (host === undefined) server.listen(port, () => resolve());
    else server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  logger.info({ port: bound }, 'metrics listening');
  return {
    port: bound,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
