// Reconciliation against real parts: the sandbox (Stripe over HTTP) with its clock moved into a window (in the
// future) that belongs to one test, the test database, the Temporal dev server with an order + reconciliation worker, and
// the API with the admin token. The worker also routes eSewa and Khalti (at the same sandbox), reconciled from
// uploaded reports. Orders are written straight into the database as a workflow would have left them,
// so each case can be set up exactly, while payments and refunds really happen at the sandbox.
import { type Client } from '@temporalio/client';
import { randomInt } from 'node:crypto';
import Stripe from 'stripe';
import { createOrderActivities } from '../../activities/orders/order.activities';
import type { ReconciliationActivities } from '../../activities/reconciliation/reconciliation-activity.types';
import {
  createReconciliationActivities,
  type ReconciliationActivityDeps,
} from '../../activities/reconciliation/reconciliation.activities';
import { startApiServer, type RunningApiServer } from '../../api/server';
import { Registry } from 'prom-client';
import { createOrderActivityMetrics, createReconciliationMetrics } from '../../config/metrics';
import type { GatewayName, OrderStatus } from '../../contracts/order.contract';
import type { ReconciliationPolicy, ReconciliationSummary } from '../../contracts/reconciliation.contract';
import { createPool, type Pool } from '../../db/pool';
import { createEsewaGateway } from '../../gateways/esewa/esewa.gateway';
import type { PaymentGateway } from '../../gateways/gateway';
import { gatewayRegistry } from '../../gateways/gateway-registry';
import { createKhaltiGateway } from '../../gateways/khalti/khalti.gateway';
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import { createStripeSettlementSource } from '../../gateways/stripe/stripe.settlement';
import type { RunningSandbox } from '../../sandbox/server';
import { apiTestConfig, apiTestLogger, apiTestMetrics, http, postJson, type HttpResult } from './api-harness';
import { startTestSandbox, submitKhaltiPage, submitPaymentPage, TEST_KHALTI_KEY, TEST_STRIPE_KEY } from './sandbox';
import { connectTestClient, startTestWorker, uniqueId, type RunningTestWorker } from './temporal';

export const ADMIN_TOKEN = 'recon-admin-token-0123456789';
export const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-admin-actor': 'recon-test' };
const DAY_MS = 86_400_000;

export interface ReconHarness {
  pool: Pool;
  temporal: Client;
  sandbox: RunningSandbox;
  gateway: PaymentGateway;
  /** The official SDK on the sandbox, for what happens outside orderpay (a refund in the dashboard). */
  stripe: Stripe;
  api: RunningApiServer;
  worker: RunningTestWorker;
  /** The worker's metrics registry: reconciliation counters and durations land here. */
  workerMetrics: Registry;
  /** The test's own window: the sandbox clock runs inside it and seeded orders are created in it. */
  window: { start: Date; end: Date };
  sandboxNow(): Date;
  /** A paid (or only created) checkout session at the sandbox for the order ID; returns its IDs. */
  gatewayPayment(
    orderId: string,
    amountMinor: number,
    options?: { pay?: boolean },
  ): Promise<{ intentId: string; paymentReference: string | undefined }>;
  /** A Khalti payment at the sandbox for the order ID, paid by the payer: its pidx and transaction ID. */
  khaltiPayment(orderId: string, amountMinor: number): Promise<{ intentId: string; paymentReference: string }>;
  seedOrder(order: SeedOrder): Promise<void>;
  /** Starts a run over the test window through the admin API and waits for its summary. */
  reconcile(body?: Record<string, unknown>): Promise<{ response: HttpResult; summary: ReconciliationSummary }>;
  /** Waits for the refund workflows a run started. */
  settleRefundWorkflows(): Promise<void>;
  stop(): Promise<void>;
}

export interface SeedOrder {
  orderId: string;
  status: OrderStatus;
  amountMinor: number;
  currency?: string;
  intentId: string;
  paymentReference?: string;
  capturedAmountMinor?: number;
  /** stripe unless told. */
  gateway?: GatewayName;
}

export interface ReconHarnessOptions {
  policy?: ReconciliationPolicy;
  /** Wraps the real activities, e.g. to fail one once after it did its work. */
  wrapActivities?: (activities: ReconciliationActivities) => ReconciliationActivities;
  /** Replaces the Temporal client the activities use, e.g. to fail a call once after it took effect. */
  activityTemporal?: (client: Client) => Client;
  /** Midnight UTC of the test's day; for what Temporal does only in the past (schedule backfills). */
  windowStart?: Date;
  /** Overrides of the reconciliation activities' settings (lookback, edge tolerance, lookup attempts, …). */
  activityDeps?: Partial<
    Pick<
      ReconciliationActivityDeps,
      'unpaidLookbackMs' | 'edgeToleranceMs' | 'lookupAttempts' | 'lookupConcurrency' | 'heartbeatIntervalMs'
    >
  >;
  /** Wraps the Stripe adapter the activities use (not the settlement source), e.g. to fail one lookup. */
  wrapStripe?: (gateway: PaymentGateway) => PaymentGateway;
}

export async function startReconHarness(options: ReconHarnessOptions = {}): Promise<ReconHarness> {
  // A window no other test uses: a whole day, picked at random, decades ahead. In the future rather than the past,
  // so suites that list "orders older than …" never meet these orders.
  const windowStart = options.windowStart ?? new Date(Date.UTC(2101, 0, 1) + randomInt(0, 20_000) * DAY_MS);
  const window = { start: windowStart, end: new Date(windowStart.getTime() + DAY_MS) };
  const startedAt = Date.now();
  const sandboxClock = () => windowStart.getTime() + 60_000 + (Date.now() - startedAt);
  const sandbox = await startTestSandbox({ now: sandboxClock });
  const pool = createPool(process.env.DATABASE_URL ?? '', { max: 5 });
  const temporal = await connectTestClient();
  const stripeOptions = { apiBase: sandbox.url, secretKey: TEST_STRIPE_KEY, timeoutMs: 5_000 };
  const gateway = createStripeGateway({ ...stripeOptions, publicBaseUrl: 'http://shop.test' });
  const settlement = createStripeSettlementSource(stripeOptions);
  const khalti = createKhaltiGateway({
    baseUrl: `${sandbox.url}/api/v2/`,
    secretKey: TEST_KHALTI_KEY,
    timeoutMs: 5_000,
    publicBaseUrl: 'http://shop.test',
  });
  const gateways = gatewayRegistry({
    stripe: options.wrapStripe ? options.wrapStripe(gateway) : gateway,
    esewa: createEsewaGateway({
      statusUrl: `${sandbox.url}/api/epay/transaction/status/`,
      productCode: 'EPAYTEST',
      publicBaseUrl: 'http://shop.test',
      timeoutMs: 5_000,
    }),
    khalti,
  });
  const taskQueue = uniqueId('recon-tq');
  const workerMetrics = new Registry();
  const deps: ReconciliationActivityDeps = {
    pool,
    gateways,
    settlementSources: (name) => (name === 'stripe' ? settlement : undefined),
    temporal: options.activityTemporal ? options.activityTemporal(temporal) : temporal,
    taskQueue,
    policy: () => options.policy ?? { lateSuccess: 'refund', unknownPayment: 'refund', foreignPayment: 'flag' },
    metrics: createReconciliationMetrics(workerMetrics),
    logger: apiTestLogger,
    ...options.activityDeps,
  };
  const real = createReconciliationActivities(deps);
  const worker = await startTestWorker(
    {
      // Orders the worker records are created on the sandbox clock, inside the test's window.
      ...createOrderActivities({
        pool,
        gateways,
        logger: apiTestLogger,
        metrics: createOrderActivityMetrics(workerMetrics),
        clock: () => new Date(sandboxClock()),
      }),
      ...(options.wrapActivities ? options.wrapActivities(real) : real),
    },
    taskQueue,
  );
  const api = await startApiServer(
    {
      config: apiTestConfig({ ADMIN_API_TOKEN: ADMIN_TOKEN, TEMPORAL_TASK_QUEUE: taskQueue }),
      pool,
      temporal,
      webhookVerifiers: {},
      logger: apiTestLogger,
      metrics: apiTestMetrics(pool),
    },
    0,
  );
  const stripe = new Stripe(TEST_STRIPE_KEY, {
    host: '127.0.0.1',
    port: sandbox.port,
    protocol: 'http',
    maxNetworkRetries: 0,
    telemetry: false,
  });
  const refundWorkflowIds = new Set<string>();

  return {
    pool,
    temporal,
    sandbox,
    gateway,
    stripe,
    api,
    worker,
    workerMetrics,
    window,
    sandboxNow: () => new Date(sandboxClock()),
    async gatewayPayment(orderId, amountMinor, { pay = true } = {}) {
      const intent = await gateway.createIntent({
        orderId,
        amountMinor,
        currency: 'USD',
        expiresAt: new Date(Date.now() + 15 * 60_000),
        idempotencyKey: orderId,
      });
      if (pay) {
        const response = await submitPaymentPage(intent.paymentUrl, 'pay');
        if (response.status >= 400) throw new Error(`sandbox refused the payment: ${response.status}`);
      }
      const [session] = sandbox.sandbox.sessions(orderId);
      return { intentId: intent.intentId, paymentReference: session?.payment_intent ?? undefined };
    },
    async khaltiPayment(orderId, amountMinor) {
      const intent = await khalti.createIntent({
        orderId,
        amountMinor,
        currency: 'NPR',
        expiresAt: new Date(sandboxClock() + 15 * 60_000),
        idempotencyKey: orderId,
      });
      const response = await submitKhaltiPage(intent.paymentUrl, 'pay');
      if (response.status >= 400) throw new Error(`sandbox refused the Khalti payment: ${response.status}`);
      const [payment] = sandbox.sandbox.khalti.payments(orderId);
      if (!payment?.transactionId) throw new Error('the Khalti payment has no transaction ID');
      return { intentId: intent.intentId, paymentReference: payment.transactionId };
    },
    async seedOrder(order) {
      const createdAt = new Date(sandboxClock());
      await pool.query(
        `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, request_hash, intent_id,
                             payment_reference, captured_amount_minor, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $9, $4, 'seeded', $5, $6, $7, $8, $8, $8)`,
        [
          order.orderId,
          order.amountMinor,
          order.currency ?? (order.gateway && order.gateway !== 'stripe' ? 'NPR' : 'USD'),
          order.status,
          order.intentId,
          order.paymentReference ?? null,
          order.capturedAmountMinor ?? 0,
          createdAt,
          order.gateway ?? 'stripe',
        ],
      );
    },
    async reconcile(body) {
      const response = await postJson(
        api.url,
        '/admin/reconciliation/runs',
        body ?? { gateway: 'stripe', from: window.start.toISOString(), to: window.end.toISOString() },
        adminHeaders,
      );
      if (response.status !== 202) throw new Error(`run not started: ${response.status} ${response.text}`);
      const [run] = response.body.runs as Array<{ workflowId: string; runId: string }>;
      if (!run) throw new Error('no run started');
      const summary = (await temporal.workflow.getHandle(run.workflowId, run.runId).result()) as ReconciliationSummary;
      const items = await pool.query<{ subject: string; gateway: string }>(
        `SELECT i.subject, i.gateway FROM reconciliation_run_items ri JOIN reconciliation_items i USING (item_id)
          WHERE ri.run_id = $1 AND i.action = 'refund' AND i.payment_reference IS NOT NULL`,
        [summary.runId],
      );
      for (const item of items.rows) {
        refundWorkflowIds.add(`recon-refund-${item.gateway}-${item.subject.replace(/^payment:/, '')}`);
      }
      return { response, summary };
    },
    async settleRefundWorkflows() {
      for (const workflowId of refundWorkflowIds) {
        try {
          await temporal.workflow.getHandle(workflowId).result();
        } catch (error) {
          // A signalled order workflow refunds instead: there is no refund workflow to wait for.
          if (!(error instanceof Error && error.name === 'WorkflowNotFoundError')) throw error;
        }
      }
    },
    async stop() {
      await api.stop();
      await worker.stop();
      await temporal.connection.close();
      await sandbox.stop();
      await pool.end();
    },
  };
}

export async function getRun(harness: ReconHarness, runId: string): Promise<HttpResult> {
  return http(harness.api.url, 'GET', `/admin/reconciliation/runs/${runId}`, { headers: adminHeaders });
}
