// Starts and stops the HTTP server. Port 0 picks a free port (tests); stop() lets in-flight requests finish.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMetricsServer } from '../config/metrics-server';
import { createApp, type ApiDeps } from './app';

/** Past this, open connections are cut: a stuck client must not hold a shutdown forever. */
const DEFAULT_STOP_GRACE_MS = 10_000;

export interface RunningApiServer {
  server: Server;
  port: number;
  url: string;
  /** GET /metrics on its own port, when asked for. */
  metricsUrl?: string;
  stop(graceMs?: number): Promise<void>;
}

export async function startApiServer(
  deps: ApiDeps,
  port: number,
  host?: string,
  /** The API's Prometheus endpoint (API_METRICS_PORT): never on the API's own port, which is public. */
  metrics?: { port: number; host?: string },
): Promise<RunningApiServer> {
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve, reject) => {
    const onListening = (error?: Error) => (error ? reject(error) : resolve(listening));
    // Without a host Node listens on every interface, IPv4 and IPv6.
    const listening = host === undefined ? app.listen(port, onListening) : app.listen(port, host, onListening);
  });
  // Below Node's defaults, so a slow-loris client cannot pin sockets.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  const { port: boundPort } = server.address() as AddressInfo;
  deps.logger.info({ port: boundPort }, 'api listening');
  const metricsServer = metrics
    ? await startMetricsServer(deps.metrics.registry, metrics.port, deps.logger, metrics.host)
    : undefined;

  return {
    server,
    port: boundPort,
    url: `http://127.0.0.1:${boundPort}`,
    ...(metricsServer ? { metricsUrl: `http://127.0.0.1:${metricsServer.port}/metrics` } : {}),
    async stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const cutoff = setTimeout(() => server.closeAllConnections(), graceMs);
      try {
        await closed;
      } finally {
        clearTimeout(cutoff);
        await metricsServer?.stop();
      }
      deps.logger.info('api stopped');
    },
  };
}
