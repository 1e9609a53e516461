// The worker process: wires the real database, gateways and Temporal connection around the order activities.
import { DefaultLogger, type LogLevel, NativeConnection, Runtime } from '@temporalio/worker';
import { createOrderActivities } from '../activities/order.activities';
import { loadConfig, workerConfigSchema } from '../config/env';
import { createLogger, type Logger } from '../config/logger';
import { createPool } from '../db/pool';
import { createEsewaGateway } from '../gateways/esewa/esewa.gateway';
import { gatewayRegistry } from '../gateways/gateway-registry';
import { createKhaltiGateway } from '../gateways/khalti/khalti.gateway';
import { createStripeGateway } from '../gateways/stripe/stripe.gateway';
import { createOrderWorker, WORKFLOW_BUNDLE_PATH } from './create-worker';

async function main(): Promise<void> {
  const config = loadConfig(workerConfigSchema);
  const logger = createLogger('worker', config.LOG_LEVEL);
  // SIGINT/SIGTERM make the worker stop polling and finish in-flight tasks within the shutdown grace time.
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'], logger: sdkLogger(logger, config.LOG_LEVEL) });

  const pool = createPool(config.DATABASE_URL, { applicationName: 'orderpay-worker' });
  const stripe = createStripeGateway({
    apiBase: config.STRIPE_API_BASE,
    secretKey: config.STRIPE_SECRET_KEY,
    timeoutMs: config.GATEWAY_TIMEOUT,
    publicBaseUrl: config.PUBLIC_BASE_URL,
  });
  const esewa = createEsewaGateway({
    statusUrl: config.ESEWA_STATUS_URL,
    productCode: config.ESEWA_PRODUCT_CODE,
    publicBaseUrl: config.PUBLIC_BASE_URL,
    timeoutMs: config.GATEWAY_TIMEOUT,
  });
  const khalti = createKhaltiGateway({
    baseUrl: config.KHALTI_BASE_URL,
    secretKey: config.KHALTI_SECRET_KEY,
    timeoutMs: config.GATEWAY_TIMEOUT,
    publicBaseUrl: config.PUBLIC_BASE_URL,
  });
  // Each order names its gateway; the registry routes its activities to that adapter.
  const gateways = gatewayRegistry({ stripe, esewa, khalti });
  const activities = createOrderActivities({ pool, gateways, logger });

  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createOrderWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities,
    workflowCode: { bundlePath: WORKFLOW_BUNDLE_PATH },
    shutdownGraceTimeMs: config.WORKER_SHUTDOWN_GRACE,
  });
  logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE }, 'worker started');
  try {
    await worker.run();
  } finally {
    await connection.close();
    await pool.end();
    logger.info('worker stopped');
  }
}

/**
 * The SDK's own logs (worker state, workflow and activity logs) as JSON lines through pino. Its lifecycle chatter is
 * INFO, so below debug the SDK logs only warnings and errors.
 */
function sdkLogger(logger: Logger, level: string): DefaultLogger {
  const sdkLevel: LogLevel = level === 'trace' ? 'TRACE' : level === 'debug' ? 'DEBUG' : 'WARN';
  const sdk = logger.child({ component: 'temporal-sdk' });
  return new DefaultLogger(sdkLevel, ({ level: entryLevel, message, meta }) => {
    const method =
      entryLevel === 'TRACE'
        ? 'trace'
        : entryLevel === 'DEBUG'
          ? 'debug'
          : entryLevel === 'INFO'
            ? 'info'
            : entryLevel === 'WARN'
              ? 'warn'
              : 'error';
    sdk[method](meta ?? {}, message);
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
