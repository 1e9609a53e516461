// The API in-process for the API tests: config for the test database and Temporal server, real HTTP with bodies parsed
// for assertions, and the wiring the suites share (pool, Temporal client, fake gateway, order worker, API servers).
import { Client } from '@temporalio/client';
import { createOrderActivities } from '../../activities/orders/order.activities';
import { createOrderRefundActivities } from '../../activities/refunds/order-refund.activities';
import type { ApiDeps } from '../../api/app';
import { walletCallbackHandlers } from '../../api/webhooks/callback-handlers';
import { startApiServer, type RunningApiServer } from '../../api/server';
import { lazyTemporalConnection } from '../../api/temporal/temporal-connection';
import { apiConfigSchema, type ApiConfig } from '../../config/env';
import { createLogger, type Logger } from '../../config/logger';
import { Registry } from 'prom-client';
import {
  createApiMetrics,
  createOrderActivityMetrics,
  MANUAL_REFUND_STATES,
  type ApiMetrics,
} from '../../config/metrics';
import { countRefundsInStates } from '../../db/refunds/refunds.repo';
import { createPool, type Pool } from '../../db/pool';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';
import { registerTestApiKey, withDefaultKey } from './api-keys';
import { TEST_CODEC_KEYS } from './codec';
import { FakeGateway } from './fake-gateway';
import { freePort } from './processes';
import { connectTestClient, startTestWorker, testTemporalAddress, type RunningTestWorker } from './temporal';

export const apiTestLogger = createLogger('api-test', 'silent');

/** API metrics on a fresh registry, so a test reads only what its own requests did. */
export function apiTestMetrics(pool: Pool): ApiMetrics {
  return createApiMetrics(new Registry(), {
    countManualRefunds: () => countRefundsInStates(pool, MANUAL_REFUND_STATES),
  });
}

/** API config on the test database and Temporal server; overrides are env-style strings, as in production. */
export function apiTestConfig(overrides: Record<string, string> = {}): ApiConfig {
  return apiConfigSchema.parse({
    DATABASE_URL: process.env.DATABASE_URL,
    TEMPORAL_ADDRESS: testTemporalAddress(),
    TEMPORAL_CODEC_KEYS: TEST_CODEC_KEYS,
    ...overrides,
  });
}

/** A PostgreSQL URL where nothing listens: what the API sees while the database is down. */
export async function unreachableDatabaseUrl(): Promise<string> {
  return `postgres://postgres@127.0.0.1:${await freePort()}/orderpay`;
}

/** A Temporal address where nothing listens: what the API sees while Temporal is down. */
export async function unreachableTemporalAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  body: any;
}

/**
 * One real HTTP request; the body is the parsed JSON, or undefined when the response is empty or not JSON.
 * Merchant routes (/orders…) carry the test API key unless the request names its own Authorization or `withoutKey`.
 */
export async function http(
  baseUrl: string,
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string>; withoutKey?: boolean } = {},
): Promise<HttpResult> {
  const headers = withDefaultKey(path, init.headers, init.withoutKey);
  const response = await fetch(`${baseUrl}${path}`, { method, body: init.body, headers });
  const text = await response.text();
  let body: unknown;
  try {
    body = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

export const postJson = (baseUrl: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  http(baseUrl, 'POST', path, {
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });

/** What a harness API starts with unless the suite says otherwise. */
const ORDER_TEST_SETTINGS: Record<string, string> = {
  // No order expires while a suite runs.
  ORDER_TTL: '10m',
  // Polls would only add gateway calls these tests do not look at.
  POLL_INITIAL_INTERVAL: '10m',
  // A checkout on a busy test machine still answers 201 rather than checkout_pending.
  CHECKOUT_TIMEOUT: '15s',
};

export interface ApiHarnessOptions {
  /** Settings for every API this harness starts, over the harness and schema defaults (env-style strings). */
  config?: Record<string, string>;
  /** When set, Stripe webhooks are verified with this secret, in the config and in the verifier alike. */
  stripeWebhookSecret?: string;
  /** Where the API servers and the worker's activities log; silent by default. */
  logger?: Logger;
  /**
   * A database of the suite's own (createSuiteDatabase) instead of the run's shared one: every API sweeps stored
   * webhooks still waiting for delivery, so a suite that leaves rows waiting on purpose keeps other suites' APIs off them.
   */
  databaseUrl?: string;
}

export interface ApiHarness {
  pool: Pool;
  temporal: Client;
  gateway: FakeGateway;
  /** The order worker, with real activities on the test database and the fake gateway. */
  worker: RunningTestWorker;
  /** The registry the harness workers' activity metrics are on. */
  workerMetrics: Registry;
  /** The harness settings plus overrides. Without TEMPORAL_TASK_QUEUE it is the schema's default queue. */
  config(overrides?: Record<string, string>): ApiConfig;
  /** Another API server, stopped by stop(). By default: the harness pool and client, on the worker's task queue. */
  startApi(deps?: {
    config?: ApiConfig;
    pool?: Pool;
    temporal?: Client;
    metrics?: ApiMetrics;
  }): Promise<RunningApiServer>;
  /** Another order worker on the harness pool and gateway; the caller stops it. */
  startWorker(taskQueue?: string): Promise<RunningTestWorker>;
  /** A client for an address where nothing listens; closed by stop(). */
  unreachableTemporal(): Promise<Client>;
  /** A pool for a database where nothing listens; ended by stop(). */
  unreachableDatabase(): Promise<Pool>;
  /** Stops the API servers, then the worker, then closes what was opened, the client and the pool last. */
  stop(): Promise<void>;
}

/** Opens the pool, starts the fake gateway and an order worker, and connects a client. */
export async function startApiHarness(options: ApiHarnessOptions = {}): Promise<ApiHarness> {
  const { stripeWebhookSecret } = options;
  const logger = options.logger ?? apiTestLogger;
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? '';
  const settings = {
    ...ORDER_TEST_SETTINGS,
    DATABASE_URL: databaseUrl,
    ...options.config,
    ...(stripeWebhookSecret === undefined ? {} : { STRIPE_WEBHOOK_SECRETS: stripeWebhookSecret }),
  };
  const webhookVerifiers: ApiDeps['webhookVerifiers'] =
    stripeWebhookSecret === undefined
      ? {}
      : { stripe: createStripeWebhookVerifier({ secrets: [stripeWebhookSecret], toleranceSeconds: 300 }) };

  const pool = createPool(databaseUrl, { max: 5 });
  const gateway = new FakeGateway();
  const servers: RunningApiServer[] = [];
  const closeAfter: (() => Promise<void>)[] = [];
  let worker: RunningTestWorker | undefined;
  let temporal: Client | undefined;
  const workerMetrics = new Registry();
  const activityMetrics = createOrderActivityMetrics(workerMetrics);

  const startWorker = (taskQueue?: string) =>
    startTestWorker(
      {
        ...createOrderActivities({ pool, gateways: () => gateway, logger, metrics: activityMetrics }),
        ...createOrderRefundActivities({ pool, logger }),
      },
      taskQueue,
    );

  async function stop(): Promise<void> {
    for (const server of servers) await server.stop();
    await worker?.stop();
    for (const close of closeAfter) await close();
    await temporal?.connection.close();
    await pool.end();
  }

  try {
    await registerTestApiKey(pool);
    worker = await startWorker();
    temporal = await connectTestClient();
  } catch (error) {
    // The caller gets no harness to stop, so nothing opened so far may outlive this call.
    await stop();
    throw error;
  }
  const liveWorker = worker;
  const liveTemporal = temporal;

  const config = (overrides: Record<string, string> = {}) => apiTestConfig({ ...settings, ...overrides });

  return {
    pool,
    temporal: liveTemporal,
    gateway,
    worker: liveWorker,
    workerMetrics,
    config,
    async startApi(deps = {}) {
      const apiConfig = deps.config ?? config({ TEMPORAL_TASK_QUEUE: liveWorker.taskQueue });
      const server = await startApiServer(
        {
          config: apiConfig,
          pool: deps.pool ?? pool,
          temporal: deps.temporal ?? liveTemporal,
          webhookVerifiers,
          callbackHandlers: walletCallbackHandlers(apiConfig),
          logger,
          metrics: deps.metrics ?? apiTestMetrics(deps.pool ?? pool),
        },
        0,
        undefined,
        { port: 0 },
      );
      servers.push(server);
      return server;
    },
    startWorker,
    async unreachableTemporal() {
      const connection = lazyTemporalConnection(await unreachableTemporalAddress());
      closeAfter.push(() => connection.close());
      return new Client({ connection, namespace: 'default' });
    },
    async unreachableDatabase() {
      const dead = createPool(await unreachableDatabaseUrl(), { max: 2 });
      dead.on('error', () => undefined);
      closeAfter.push(() => dead.end());
      return dead;
    },
    stop,
  };
}

/** Polls the orders row until it shows `status` (workflows record transitions asynchronously to the request). */
export async function waitForOrderStatus(pool: Pool, orderId: string, status: string): Promise<void> {
  const current = async () =>
    (await pool.query<{ status: string }>('SELECT status FROM orders WHERE order_id = $1', [orderId])).rows[0]?.status;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if ((await current()) === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`order ${orderId} never reached ${status}; it is ${await current()}`);
}
