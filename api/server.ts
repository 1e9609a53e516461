// Starts and stops the HTTP server. Port 0 picks a free port (tests); stop() lets in-flight requests finish.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { startMetricsServer } from '../config/metrics-server';
import { createApp, webhookDeliveryQueueFor, type ApiDeps } from './app';
import { errorBody } from './http/error-handler';
import { ApiError, badRequest, payloadTooLarge } from './http/errors';
import { startWebhookSweeper } from './webhooks/webhook-sweeper';

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
  // Every API process delivers stored webhooks: its own after answering them, and any replica's left waiting.
  const webhookDeliveries = webhookDeliveryQueueFor(deps);
  const app = createApp({ ...deps, webhookDeliveries });
  const server = createServer({ maxHeaderSize: deps.config.HTTP_MAX_HEADER_BYTES }, app);
  server.on('clientError', answerClientError);
  server.on('checkExpectation', answerUnmetExpectation);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Without a host Node listens on every interface, IPv4 and IPv6.
    const onListening = () => {
      server.off('error', reject);
      resolve();
    };
    if (host === undefined) server.listen(port, onListening);
    else server.listen(port, host, onListening);
  });
  // Below Node's defaults, so a slow-loris client cannot pin sockets.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  const { port: boundPort } = server.address() as AddressInfo;
  deps.logger.info({ port: boundPort }, 'api listening');
  const metricsServer = metrics
    ? await startMetricsServer(deps.metrics.registry, metrics.port, deps.logger, metrics.host)
    : undefined;
  const webhookSweeper = startWebhookSweeper(
    { pool: deps.pool, queue: webhookDeliveries, logger: deps.logger },
    {
      intervalMs: deps.config.WEBHOOK_SWEEP_INTERVAL,
      batch: deps.config.WEBHOOK_SWEEP_BATCH,
      retryMaxMs: deps.config.WEBHOOK_RETRY_MAX_INTERVAL,
    },
  );

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
        // After the last request: deliveries in flight finish, waiting ones stay `received` for a sweeper.
        await webhookSweeper.stop();
        await webhookDeliveries.close();
        await metricsServer?.stop();
      }
      deps.logger.info('api stopped');
    },
  };
}

const headersTooLarge = () => new ApiError(431, 'headers_too_large', 'the request headers are too large');
const requestTimeout = () => new ApiError(408, 'request_timeout', 'the request took too long to arrive');
const expectationFailed = () => new ApiError(417, 'expectation_failed', 'only "Expect: 100-continue" is supported');

/** Node's HTTP parser error codes, as the answer each one gets. */
function clientErrorAnswer(code: string | undefined): ApiError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return headersTooLarge();
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return payloadTooLarge();
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return requestTimeout();
    default:
      return badRequest();
  }
}

/**
 * Requests Node refuses before Express sees them (a malformed request line, oversized headers, a timeout) get the
 * one error shape instead of Node's empty body, when the socket can still take an answer.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // A response already under way on this socket cannot be followed by another.
  const started = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (error.code === 'ECONNRESET' || !socket.writable || started) {
    socket.destroy();
    return;
  }
  const apiError = clientErrorAnswer(error.code);
  const body = JSON.stringify(errorBody(apiError));
  socket.end(
    `HTTP/1.1 ${apiError.status} ${STATUS_CODES[apiError.status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/** An Expect header other than 100-continue: Node's default is a bare 417. */
function answerUnmetExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const apiError = expectationFailed();
  res.writeHead(apiError.status, { 'Content-Type': 'application/json; charset=utf-8', Connection: 'close' });
  res.end(JSON.stringify(errorBody(apiError)));
}
