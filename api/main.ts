// The API process: wires the real database, Temporal client and webhook verifiers, and shuts down cleanly.
// The Temporal connection is lazy, so the API starts and answers /healthz (and reports /readyz) while
// Temporal is still down; order requests get a 503 until it is back.
import { Client } from '@temporalio/client';
import { Registry } from 'prom-client';
import { ADMIN_ACCESS_MISSING, apiConfigSchema, loadConfig } from '../config/env';
import { createLogger, describeError } from '../config/logger';
import { createApiMetrics, MANUAL_REFUND_STATES, registerProcessMetrics } from '../config/metrics';
import { orderpayDataConverter } from '../config/payload-codec';
import { hasActiveKeyWithScope } from '../db/auth/api-keys.repo';
import { createPool } from '../db/pool';
import { countRefundsInStates } from '../db/refunds/refunds.repo';
import { measureWebhookBacklog } from '../db/webhooks/webhook-events.repo';
import { createStripeWebhookVerifier } from '../gateways/stripe/stripe.webhooks';
import { walletCallbackHandlers } from './webhooks/callback-handlers';
import { startApiServer } from './server';
import { lazyTemporalConnection } from './temporal/temporal-connection';
import { registerBootstrapKeyWhenReachable } from './auth/bootstrap-api-key';

/** Longer than the server's stop grace (10s), so a clean stop always wins. */
const SHUTDOWN_DEADLINE_MS = 15_000;

async function main(): Promise<void> {
  const config = loadConfig(apiConfigSchema);
  const logger = createLogger('api', config.LOG_LEVEL);

  // A client losing its connection (a database restart, an aborted COPY) must not crash the process.
  const pool = createPool(config.DATABASE_URL, {
    applicationName: 'orderpay-api',
    onClientError: (error) => logger.warn({ err: describeError(error) }, 'database connection error'),
  });
  const connection = lazyTemporalConnection(config.TEMPORAL_ADDRESS);
  if (!config.TEMPORAL_CODEC_KEYS)
    logger.warn('TEMPORAL_CODEC_KEYS is not set: payloads are stored in Temporal unencrypted');
  const temporal = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: orderpayDataConverter(config.TEMPORAL_CODEC_KEYS),
  });
  const webhookVerifiers = {
    stripe: createStripeWebhookVerifier({
      secrets: config.STRIPE_WEBHOOK_SECRETS,
      toleranceSeconds: Math.max(1, Math.ceil(config.STRIPE_WEBHOOK_TOLERANCE / 1000)),
    }),
  };

  const callbackHandlers = walletCallbackHandlers(config);
  const registry = new Registry();
  registerProcessMetrics(registry);
  const metrics = createApiMetrics(registry, {
    countManualRefunds: () => countRefundsInStates(pool, MANUAL_REFUND_STATES),
    readWebhookBacklog: () => measureWebhookBacklog(pool),
  });

  if (config.ORDERPAY_ENV === 'production' && config.ADMIN_API_TOKEN === undefined) {
    // Live mode needs someone who can administer it; without a token that can only be an admin key in the database.
    if (!(await hasActiveKeyWithScope(pool, 'admin'))) {
      const { variable, reason } = ADMIN_ACCESS_MISSING;
      logger.fatal({ variable }, `${variable} ${reason}; ORDERPAY_ENV=production refuses it`);
      await pool.end();
      process.exit(1);
    }
  }

  // Before listening, so the key works from the first request (unless PostgreSQL is down: then in the background).
  if (config.ORDERPAY_BOOTSTRAP_API_KEY) {
    await registerBootstrapKeyWhenReachable(pool, config.ORDERPAY_BOOTSTRAP_API_KEY, logger);
  }

  const server = await startApiServer(
    { config, pool, temporal, webhookVerifiers, callbackHandlers, logger, metrics },
    config.PORT,
    undefined,
    { port: config.API_METRICS_PORT, host: config.API_METRICS_HOST },
  );

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // In-flight requests get the server's grace time; past that, a hung dependency must not keep the process.
    setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
    try {
      // Stops the webhook sweeper and lets deliveries in flight finish before the connections close.
      await server.stop();
      await connection.close();
      await pool.end();
    } catch (error) {
      logger.error({ err: describeError(error) }, 'unclean shutdown');
      process.exitCode = 1;
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, (s) => void shutdown(s));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
