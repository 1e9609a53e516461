// The worker process: wires the real database, gateways and Temporal connection around the order and
// reconciliation activities, registers (or updates) the reconciliation schedules, and serves metrics.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { createOrderActivities } from '../activities/orders/order.activities';
import { createOrderRefundActivities } from '../activities/refunds/order-refund.activities';
import { createReconciliationActivities } from '../activities/reconciliation/reconciliation.activities';
import { loadConfig, workerConfigSchema } from '../config/env';
import { createLogger } from '../config/logger';
import { createWorkerMetrics, registerProcessMetrics } from '../config/metrics';
import { startMetricsServer } from '../config/metrics-server';
import { orderpayDataConverter } from '../config/payload-codec';
import { createPool } from '../db/pool';
import { createEsewaGateway } from '../gateways/esewa/esewa.gateway';
import { gatewayRegistry } from '../gateways/gateway-registry';
import { createKhaltiGateway } from '../gateways/khalti/khalti.gateway';
import { createStripeGateway } from '../gateways/stripe/stripe.gateway';
import type { GatewayName } from '../contracts/order.contract';
import type { SettlementSource } from '../gateways/settlement';
import { createStripeSettlementSource } from '../gateways/stripe/stripe.settlement';
import { createOrderWorker, WORKFLOW_BUNDLE_PATH } from './create-worker';
import { ensureReconciliationSchedules } from './reconciliation-schedules';
import { sdkLogger } from './sdk-logger';

async function main(): Promise<void> {
  const config = loadConfig(workerConfigSchema);
  const logger = createLogger('worker', config.LOG_LEVEL);
  // SIGINT/SIGTERM make the worker stop polling and finish in-flight tasks within the shutdown grace time.
  Runtime.install({
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    logger: sdkLogger(logger, config.LOG_LEVEL),
    telemetryOptions: {
      metrics: {
        // Seconds and `_total` suffixes: the conventions Prometheus (and promtool's linter) expect.
        prometheus: {
          bindAddress: `0.0.0.0:${config.TEMPORAL_SDK_METRICS_PORT}`,
          countersTotalSuffix: true,
          useSecondsForDurations: true,
        },
      },
    },
  });
  const registry = new Registry();
  registerProcessMetrics(registry);
  const metrics = createWorkerMetrics(registry);
  const metricsServer = await startMetricsServer(registry, config.WORKER_METRICS_PORT, logger);

  const pool = createPool(config.DATABASE_URL, {
    applicationName: 'orderpay-worker',
    onClientError: (error) =>
      logger.warn({ err: { name: error.name, message: error.message } }, 'database connection error'),
  });
  const stripe = createStripeGateway({
    apiBase: config.STRIPE_API_BASE,
    secretKey: config.STRIPE_SECRET_KEY,
    timeoutMs: config.GATEWAY_TIMEOUT,
    publicBaseUrl: config.PUBLIC_BASE_URL,
    paymentMethodTypes: config.STRIPE_DELAYED_PAYMENT_METHODS,
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
  // Gateways without a settlement API (eSewa, Khalti) are left out: they are reconciled from uploaded reports.
  const settlementSources: Partial<Record<GatewayName, SettlementSource>> = {
    stripe: createStripeSettlementSource({
      apiBase: config.STRIPE_API_BASE,
      secretKey: config.STRIPE_SECRET_KEY,
      timeoutMs: config.GATEWAY_TIMEOUT,
    }),
  };
  const orderActivities = createOrderActivities({
    pool,
    gateways,
    logger,
    metrics: metrics.orders,
    refundPendingLimitMs: config.REFUND_PENDING_LIMIT,
  });

  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  // One codec for the worker and its client (schedules, reconciliation starts): both read what the other wrote.
  const dataConverter = orderpayDataConverter(config.TEMPORAL_CODEC_KEYS);
  if (!config.TEMPORAL_CODEC_KEYS)
    logger.warn('TEMPORAL_CODEC_KEYS is not set: payloads are stored in Temporal unencrypted');
  const temporal = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE, dataConverter });
  const reconciliationActivities = createReconciliationActivities({
    pool,
    gateways,
    settlementSources: (name) => settlementSources[name],
    temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    policy: (gateway) => ({
      lateSuccess: config.RECONCILIATION_LATE_SUCCESS_ACTION(gateway),
      unknownPayment: config.RECONCILIATION_UNKNOWN_PAYMENT_ACTION(gateway),
      foreignPayment: config.RECONCILIATION_FOREIGN_PAYMENT_ACTION(gateway),
    }),
    metrics: metrics.reconciliation,
    logger,
    lookupConcurrency: config.RECONCILIATION_LOOKUP_CONCURRENCY,
    lookupAttempts: config.RECONCILIATION_LOOKUP_ATTEMPTS,
    unpaidLookbackMs: config.RECONCILIATION_UNPAID_LOOKBACK,
    edgeToleranceMs: config.RECONCILIATION_EDGE_TOLERANCE,
    // Several beats per heartbeat timeout, so one delayed beat does not fail a healthy activity.
    heartbeatIntervalMs: Math.max(1_000, Math.floor(config.RECONCILIATION_HEARTBEAT_TIMEOUT / 4)),
  });
  await ensureReconciliationSchedules(
    temporal,
    {
      gateways: config.RECONCILIATION_GATEWAYS,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      intervalMs: config.RECONCILIATION_INTERVAL,
      overlapMs: config.RECONCILIATION_OVERLAP,
      timeouts: {
        bulkMs: config.RECONCILIATION_BULK_TIMEOUT,
        batchMs: config.RECONCILIATION_BATCH_TIMEOUT,
        heartbeatMs: config.RECONCILIATION_HEARTBEAT_TIMEOUT,
      },
    },
    logger,
  );
  const worker = await createOrderWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: { ...orderActivities, ...createOrderRefundActivities({ pool, logger }), ...reconciliationActivities },
    workflowCode: { bundlePath: WORKFLOW_BUNDLE_PATH },
    shutdownGraceTimeMs: config.WORKER_SHUTDOWN_GRACE,
    dataConverter,
    tuning: {
      maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
      maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
      maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
      stickyQueueScheduleToStartTimeout: config.WORKER_STICKY_QUEUE_TIMEOUT,
    },
  });
  logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE }, 'worker started');
  try {
    await worker.run();
  } finally {
    await connection.close();
    await clientConnection.close();
    await pool.end();
    await metricsServer.stop();
    logger.info('worker stopped');
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
