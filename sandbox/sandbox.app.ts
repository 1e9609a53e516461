// Wires the sandbox gateway together: state, Stripe API, hosted page, webhook delivery and fault knobs.
// No listening socket here (see server.ts), so the app can be mounted on any HTTP server.
import express from 'express';
import { SANDBOX_KHALTI_SECRET_KEY } from '../config/env';
import { createLogger, type Logger } from '../config/logger';
import { ESEWA_UAT_PRODUCT_CODE, ESEWA_UAT_SECRET_KEY } from './esewa.protocol';
import { createEsewaSandboxRouter } from './esewa.routes';
import { createEsewaStore } from './esewa.store';
import { createIdempotencyStore } from './idempotency.store';
import {
  createKhaltiSandbox,
  DEFAULT_KHALTI_EXPIRY_MS,
  type KhaltiSandbox,
  type KhaltiSandboxStats,
} from './khalti.sandbox';
import { createPaymentPageRouter } from './payment-page.routes';
import { createControlRouter } from './sandbox-control.routes';
import { NO_FAULTS, sandboxFaultsSchema, type SandboxFaults, type SandboxFaultsPatch } from './sandbox.faults';
import {
  createSnapshotWriter,
  loadSandboxSnapshot,
  prepareStateDirectory,
  type SnapshotWriter,
} from './sandbox.persistence';
import { createSandboxStore, type SandboxStoreStats } from './sandbox.store';
import { createStripeApiRouter, type ApiCounters } from './stripe-api.routes';
import type { CheckoutSessionObject, RefundObject } from './stripe.objects';
import {
  createWebhookDispatcher,
  DEFAULT_WEBHOOK_RETRY,
  type WebhookRetryPolicy,
  type WebhookStats,
} from './webhook.dispatcher';

export interface SandboxOptions {
  /** Base URL payers' browsers reach the hosted page on; session.url is `<publicUrl>/pay/<id>`. */
  publicUrl: string;
  /** The secret key clients must send as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** Where events are POSTed. */
  webhookUrl: string;
  /** The endpoint signing secret (whsec_…) receivers verify with. */
  webhookSecret: string;
  faults?: SandboxFaultsPatch;
  webhookRetry?: Partial<WebhookRetryPolicy>;
  /** How often sessions past their expires_at are expired (and their events sent) without being looked at. */
  expirySweepIntervalMs?: number;
  logger?: Logger;
  now?: () => number;
  /** Decides fault injection; tests may pass a fixed sequence. */
  random?: () => number;
  /**
   * Where sessions, payments, refunds, events, idempotency keys and undelivered webhooks are kept across restarts.
   * Without it the sandbox forgets everything when it stops. A damaged file makes createSandbox throw.
   */
  stateFile?: string;
  /** The eSewa merchant the eSewa mode accepts forms from and signs callbacks for (default: eSewa UAT's). */
  esewa?: { productCode: string; secretKey: string };
  /** Khalti mode: the key clients must send as `Authorization: Key <key>`. */
  khaltiSecretKey?: string;
  /** How long a Khalti payment link stays payable (default 60 minutes). */
  khaltiExpiryMs?: number;
}

export interface SandboxStats extends SandboxStoreStats, ApiCounters {
  webhooks: WebhookStats;
  khalti: KhaltiSandboxStats;
}

export interface Sandbox {
  app: express.Express;
  faults(): SandboxFaults;
  setFaults(patch: SandboxFaultsPatch): SandboxFaults;
  stats(): SandboxStats;
  sessions(orderId?: string): CheckoutSessionObject[];
  /** The bank's later answer to a session paid with a delayed method (checkout.session.async_payment_*). */
  settleDelayedPayment(sessionId: string, outcome: 'succeeded' | 'failed'): CheckoutSessionObject;
  /** The settlement report (orderpay's CSV columns) of everything created in [fromSeconds, toSeconds). */
  settlementReport(fromSeconds: number, toSeconds: number): string;
  /** Khalti mode (pidx payments, lookups, refunds, hosted page). */
  khalti: KhaltiSandbox;
  /** Settles a Stripe refund held pending by the refundsPending fault (POST /_sandbox/refunds/:id/settle). */
  settleRefund(refundId: string, status: 'succeeded' | 'failed' | 'canceled'): RefundObject;
  /** Forgets every object, stored idempotency key, counter and pending delivery; faults go back to the start values. */
  reset(): void;
  /**
   * Stops timers and webhook deliveries, then writes the state file one last time (when there is one). Call it
   * once no more requests arrive: the app answers afterwards but sends no more webhooks and saves nothing more.
   */
  close(): Promise<void>;
}

export function createSandbox(options: SandboxOptions): Sandbox {
  const logger = options.logger ?? createLogger('sandbox');
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const initialFaults = sandboxFaultsSchema.parse({ ...NO_FAULTS, ...options.faults });
  let faults = initialFaults;
  const counters = emptyCounters();

  let persistence: SnapshotWriter | undefined;
  const dispatcher = createWebhookDispatcher({
    url: options.webhookUrl,
    secret: options.webhookSecret,
    retry: { ...DEFAULT_WEBHOOK_RETRY, ...options.webhookRetry },
    faults: () => faults,
    random,
    now,
    logger,
    onPendingChange: () => persistence?.schedule(),
  });
  const store = createSandboxStore({
    publicUrl: options.publicUrl,
    now,
    emit: (event) => {
      dispatcher.enqueue(event);
      // Every change of a payment emits an event, including expiries found by the sweep or a lookup.
      persistence?.schedule();
    },
  });
  const idempotency = createIdempotencyStore();
  const esewa = createEsewaStore({ now, onChange: () => persistence?.schedule() });
  const khalti = createKhaltiSandbox({
    publicUrl: options.publicUrl,
    secretKey: options.khaltiSecretKey ?? SANDBOX_KHALTI_SECRET_KEY,
    expiryMs: options.khaltiExpiryMs ?? DEFAULT_KHALTI_EXPIRY_MS,
    now,
    random,
    faults: () => faults,
    logger,
  });
  if (options.stateFile) {
    const { stateFile } = options;
    const saved = loadSandboxSnapshot(stateFile);
    prepareStateDirectory(stateFile);
    if (saved) {
      store.restore(saved.store);
      idempotency.restore(saved.idempotency);
      dispatcher.resume(saved.webhooks ?? []);
      esewa.restore(saved.esewa ?? []);
      if (saved.khalti) khalti.restore(saved.khalti);
      logger.info(
        { stateFile, sessions: saved.store.sessions.length, pendingWebhooks: saved.webhooks?.length ?? 0 },
        'sandbox state restored',
      );
    }
    persistence = createSnapshotWriter(
      stateFile,
      () => ({
        version: 1,
        store: store.snapshot(),
        idempotency: idempotency.snapshot(),
        webhooks: dispatcher.pending(),
        esewa: esewa.snapshot(),
        khalti: khalti.snapshot(),
      }),
      (error) => logger.error({ err: error, stateFile }, 'sandbox state could not be saved'),
    );
  }
  const sweep = setInterval(() => store.expireDueSessions(), options.expirySweepIntervalMs ?? 1_000);
  sweep.unref();

  const sandbox: Sandbox = {
    app: express(),
    faults: () => faults,
    setFaults(patch) {
      faults = sandboxFaultsSchema.parse({ ...faults, ...patch });
      if (!faults.webhookReorder) dispatcher.releaseHeld();
      logger.info({ faults }, 'sandbox faults changed');
      return faults;
    },
    stats: () => ({ ...store.stats(), ...counters, webhooks: dispatcher.stats(), khalti: khalti.stats() }),
    sessions: (orderId) => store.sessionsForOrder(orderId),
    settleDelayedPayment: (sessionId, outcome) => store.settleDelayedPayment(sessionId, outcome),
    settlementReport: (fromSeconds, toSeconds) => store.settlementReportCsv(fromSeconds, toSeconds),
    khalti,
    settleRefund: (refundId, status) => {
      const refund = store.settleRefund(refundId, status);
      persistence?.schedule();
      return refund;
    },
    reset() {
      store.reset();
      idempotency.clear();
      esewa.reset();
      dispatcher.reset();
      khalti.reset();
      Object.assign(counters, emptyCounters());
      faults = initialFaults;
      persistence?.schedule();
    },
    async close() {
      clearInterval(sweep);
      dispatcher.close();
      khalti.close();
      await persistence?.close();
    },
  };

  const { app } = sandbox;
  app.disable('x-powered-by');
  // Stripe's SDK sends arrays in GET queries as expand[0]=…; only the qs-based parser reads them back.
  app.set('query parser', 'extended');
  if (persistence) {
    const writer = persistence;
    // Sessions, refunds and idempotency keys are written by POSTs; save after each one is done. 'close', not
    // 'finish': a POST whose client hung up may still have changed something.
    app.use((req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') res.on('close', () => writer.schedule());
      next();
    });
  }
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(
    '/v1',
    createStripeApiRouter({
      store,
      idempotency,
      apiKey: options.apiKey,
      faults: () => faults,
      random,
      counters,
      logger,
    }),
  );
  app.use('/pay', createPaymentPageRouter(store));
  app.use(
    createEsewaSandboxRouter({
      store: esewa,
      productCode: options.esewa?.productCode ?? ESEWA_UAT_PRODUCT_CODE,
      secretKey: options.esewa?.secretKey ?? ESEWA_UAT_SECRET_KEY,
      publicUrl: options.publicUrl,
      faults: () => faults,
      random,
      logger,
      counters,
    }),
  );
  app.use('/api', khalti.apiRouter);
  app.use('/khalti-pay', khalti.pageRouter);
  app.use('/_sandbox', createControlRouter(sandbox));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  return sandbox;
}

function emptyCounters(): ApiCounters {
  return { apiRequests: 0, injectedApiErrors: 0, idempotentReplays: 0, idempotencyConflicts: 0 };
}
