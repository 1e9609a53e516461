// Prometheus metrics. Every metric object is created by a factory on a Registry the caller injects (no global
// default registry), so each process, and each test, owns its registry. Label values come from closed sets
// (gateway names, statuses, HTTP codes, bucketed reasons): free text from callers never becomes a label.
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GatewayName, OrderStatus, PaymentAttemptStatus } from '../contracts/order.contract';

// ---- Process ----

/**
 * prom-client's gauges that end in `_total`, a suffix Prometheus reserves for counters (promtool's linter refuses
 * them). Each has a by-type twin without the suffix (`nodejs_active_handles{type}`), so nothing is lost.
 */
const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** CPU, memory, event loop lag, GC and handles of this process. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
}

// ---- API ----

/** How POST /orders ended: created, replayed, or the error code it was answered with. */
export type CheckoutOutcome = string;

export interface ApiMetrics {
  /** What GET /metrics serves. */
  readonly registry: Registry;
  /** Every response, by route pattern (`/orders/:orderId`, or `unmatched`), method and status code. */
  responseSent(route: string, method: string, statusCode: number): void;
  checkoutFinished(outcome: CheckoutOutcome): void;
  webhookAnswered(gateway: string, statusCode: number, seconds: number): void;
  webhookSignatureFailed(gateway: string): void;
  webhookDuplicate(gateway: string): void;
  /** A stored webhook reached its order's workflow this long after it was stored (queue or sweeper). */
  webhookDelivered(gateway: string, secondsSinceReceived: number): void;
}

/**
 * Refund states that need a person: the gateway cannot refund on its own. The state arrives with the wallet
 * gateways; before that no row can be in it and the gauge reads 0.
 */
export const MANUAL_REFUND_STATES = ['awaiting_manual'] as const;

/** Counts open manual refund tasks at scrape time, by refund state. */
export type ManualRefundCounter = () => Promise<Record<string, number>>;

/** Methods kept as labels; anything else a client invents is `OTHER`. */
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Webhook handling is milliseconds when healthy; the top buckets catch a slow database or Temporal. */
const WEBHOOK_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Delivery after the answer: milliseconds when healthy, sweeps after a full queue, backoff during outages. */
const WEBHOOK_DELIVERY_LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** Stored webhooks still waiting for delivery, read from the database at scrape time. */
export type WebhookBacklogReader = () => Promise<{ count: number; oldestAgeSeconds: number }>;

export function createApiMetrics(
  registry: Registry,
  deps: { countManualRefunds: ManualRefundCounter; readWebhookBacklog?: WebhookBacklogReader },
): ApiMetrics {
  const responses = new Counter({
    name: 'orderpay_http_responses_total',
    help: 'API responses by route pattern, method and HTTP status code.',
    labelNames: ['route', 'method', 'code'],
    registers: [registry],
  });
  const checkoutRequests = new Counter({
    name: 'orderpay_checkout_requests_total',
    help: 'POST /orders requests by outcome: created, replayed, or the error code of the answer.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const webhookDuration = new Histogram({
    name: 'orderpay_webhook_duration_seconds',
    help: 'Time from receiving a webhook to answering it (verify, store, hand over), by gateway.',
    labelNames: ['gateway'],
    buckets: WEBHOOK_SECONDS_BUCKETS,
    registers: [registry],
  });
  const webhookResponses = new Counter({
    name: 'orderpay_webhook_responses_total',
    help: 'Webhook answers by gateway and HTTP status code.',
    labelNames: ['gateway', 'code'],
    registers: [registry],
  });
  const signatureFailures = new Counter({
    name: 'orderpay_webhook_signature_failures_total',
    help: 'Webhooks refused because their signature did not verify, by gateway.',
    labelNames: ['gateway'],
    registers: [registry],
  });
  const duplicates = new Counter({
    name: 'orderpay_webhook_duplicates_total',
    help: 'Webhooks whose event had already been processed, by gateway.',
    labelNames: ['gateway'],
    registers: [registry],
  });
  const deliveryLag = new Histogram({
    name: 'orderpay_webhook_delivery_lag_seconds',
    help: "Time from storing a webhook (and answering it) to its delivery to the order's workflow, by gateway.",
    labelNames: ['gateway'],
    buckets: WEBHOOK_DELIVERY_LAG_BUCKETS,
    registers: [registry],
  });
  const readBacklog = deps.readWebhookBacklog;
  if (readBacklog) {
    // Both gauges are collected in the same scrape: they share one read of the database.
    let reading: ReturnType<WebhookBacklogReader> | undefined;
    const readOnce = () =>
      (reading ??= readBacklog().finally(() => {
        reading = undefined;
      }));
    const backlogGauge = (
      name: string,
      help: string,
      value: (backlog: { count: number; oldestAgeSeconds: number }) => number,
    ) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          // During a database outage the scrape answers without the series rather than claim nothing waits; the
          // API's own logs and /readyz say why.
          this.reset();
          try {
            this.set(value(await readOnce()));
          } catch {
            // Left out.
          }
        },
      });
    backlogGauge(
      'orderpay_webhook_events_undelivered',
      'Stored webhooks waiting for delivery to their order workflows (read from the database at scrape time).',
      (backlog) => backlog.count,
    );
    backlogGauge(
      'orderpay_webhook_oldest_undelivered_age_seconds',
      'Age of the oldest stored webhook still waiting for delivery, 0 when none (read at scrape time).',
      (backlog) => backlog.oldestAgeSeconds,
    );
  }
  new Gauge({
    name: 'orderpay_manual_refunds_open',
    help: 'Refunds waiting for an operator to complete them by hand, by state (read from the database at scrape time).',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      // During a database outage the scrape still answers, without this series (a 0 would claim nobody waits).
      this.reset();
      try {
        for (const [state, count] of Object.entries(await deps.countManualRefunds())) this.set({ state }, count);
      } catch {
        // Left out; the API's own logs and /readyz say why.
      }
    },
  });

  return {
    registry,
    responseSent: (route, method, statusCode) =>
      responses.inc({ route, method: HTTP_METHODS.has(method) ? method : 'OTHER', code: String(statusCode) }),
    checkoutFinished: (outcome) => checkoutRequests.inc({ outcome }),
    webhookAnswered(gateway, statusCode, seconds) {
      webhookDuration.observe({ gateway }, seconds);
      webhookResponses.inc({ gateway, code: String(statusCode) });
    },
    webhookSignatureFailed: (gateway) => signatureFailures.inc({ gateway }),
    webhookDuplicate: (gateway) => duplicates.inc({ gateway }),
    webhookDelivered: (gateway, seconds) => deliveryLag.observe({ gateway }, Math.max(0, seconds)),
  };
}

// ---- Worker: order activities ----

/** Terminal or payment-relevant statuses a transition into counts as; the rest (PENDING, refunds) do not. */
const PAYMENT_OUTCOMES: Partial<Record<OrderStatus, string>> = {
  AWAITING_PAYMENT: 'started',
  PAID: 'paid',
  FAILED: 'failed',
  EXPIRED: 'expired',
  CANCELLED: 'cancelled',
};

export interface OrderActivityMetrics {
  /** Called once per applied transition (never for a retry that found the row already moved). */
  orderTransitioned(event: { gateway: string; to: OrderStatus; secondsSinceCheckout: number }): void;
  statusChecked(gateway: GatewayName, result: string): void;
  refundSettled(event: { gateway: GatewayName; reason: string; state: string }): void;
  /**
   * Called once per change of a payment attempt's row (never for a retry that changed nothing): `before` is its
   * status before the change, undefined when the change recorded it.
   */
  paymentAttemptChanged(event: {
    gateway: GatewayName;
    before: PaymentAttemptStatus | undefined;
    after: PaymentAttemptStatus;
    failureReason: string | null;
    declineCode: string | null;
  }): void;
  /** An order reached a final status (PAID, FAILED, EXPIRED, CANCELLED) after this many payment attempts. */
  orderAttemptsUsed(event: { gateway: string; attempts: number }): void;
}

/** Checkout to PAID is a person on a payment page: seconds to the order's TTL (15 minutes by default). */
const CHECKOUT_TO_PAID_BUCKETS = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600];

/** ORDER_MAX_ATTEMPTS is 5 by default; the top buckets show a raised limit in use. */
const ATTEMPTS_PER_ORDER_BUCKETS = [0, 1, 2, 3, 4, 5, 7, 10, 20];

export function createOrderActivityMetrics(registry: Registry): OrderActivityMetrics {
  const payments = new Counter({
    name: 'orderpay_payments_total',
    help: 'Payments by gateway and outcome: started (intent created), paid, failed, expired, cancelled.',
    labelNames: ['gateway', 'outcome'],
    registers: [registry],
  });
  const checkoutToPaid = new Histogram({
    name: 'orderpay_checkout_to_paid_seconds',
    help: 'Time from the order being recorded to it becoming PAID, by gateway.',
    labelNames: ['gateway'],
    buckets: CHECKOUT_TO_PAID_BUCKETS,
    registers: [registry],
  });
  const statusChecks = new Counter({
    name: 'orderpay_payment_status_checks_total',
    help: 'Status lookups at the gateway (polls, hints and final checks) by gateway and result.',
    labelNames: ['gateway', 'result'],
    registers: [registry],
  });
  const refunds = new Counter({
    name: 'orderpay_refunds_total',
    help: 'Refunds reported by the gateway, by gateway, reason and state.',
    labelNames: ['gateway', 'reason', 'state'],
    registers: [registry],
  });
  const attemptsStarted = new Counter({
    name: 'orderpay_payment_attempts_started_total',
    help: 'Payment attempts started (an intent offered to the payer, or one more try on an open session), by gateway.',
    labelNames: ['gateway'],
    registers: [registry],
  });
  const attemptsEnded = new Counter({
    name: 'orderpay_payment_attempts_ended_total',
    help: 'Payment attempts ended, by gateway and outcome: paid, declined, cancelled, expired, superseded.',
    labelNames: ['gateway', 'outcome'],
    registers: [registry],
  });
  const declines = new Counter({
    name: 'orderpay_payment_declines_total',
    help: "Declined payment attempts by gateway and reason (the gateway's decline code, else the failure reason).",
    labelNames: ['gateway', 'reason'],
    registers: [registry],
  });
  const attemptsPerOrder = new Histogram({
    name: 'orderpay_payment_attempts_per_order',
    help: 'Payment attempts an order used by the time it became PAID, FAILED, EXPIRED or CANCELLED, by gateway.',
    labelNames: ['gateway'],
    buckets: ATTEMPTS_PER_ORDER_BUCKETS,
    registers: [registry],
  });

  return {
    orderTransitioned({ gateway, to, secondsSinceCheckout }) {
      const outcome = PAYMENT_OUTCOMES[to];
      if (outcome) payments.inc({ gateway, outcome });
      if (to === 'PAID') checkoutToPaid.observe({ gateway }, Math.max(0, secondsSinceCheckout));
    },
    statusChecked: (gateway, result) => statusChecks.inc({ gateway, result }),
    refundSettled: ({ gateway, reason, state }) => refunds.inc({ gateway, reason: refundReasonLabel(reason), state }),
    paymentAttemptChanged({ gateway, before, after, failureReason, declineCode }) {
      if (before === undefined) attemptsStarted.inc({ gateway });
      if (after === before || after === 'open') return;
      attemptsEnded.inc({ gateway, outcome: after });
      if (after === 'declined') declines.inc({ gateway, reason: declineReasonLabel(declineCode ?? failureReason) });
    },
    orderAttemptsUsed: ({ gateway, attempts }) => attemptsPerOrder.observe({ gateway }, attempts),
  };
}

/**
 * A decline reason as a label: gateways send codes (`insufficient_funds`, `card_declined`, a wallet's status word),
 * reduced to lower-case words joined by `_` and cut to 40 characters, so no payer-typed text or odd byte becomes a
 * label. No reason at all is `unknown`.
 */
export function declineReasonLabel(reason: string | null): string {
  const label = (reason ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 40);
  return label === '' ? 'unknown' : label;
}

/**
 * Refund reasons as a closed set: the workflow's own reasons as they are, anything a caller typed (a cancel or
 * admin reason) as `requested`.
 */
export function refundReasonLabel(reason: string): string {
  const late = /^late_capture_after_(expired|cancelled|failed)$/.exec(reason);
  return late ? reason : 'requested';
}

// ---- Worker ----

export interface WorkerMetrics {
  readonly registry: Registry;
  orders: OrderActivityMetrics;
  reconciliation: ReconciliationMetrics;
  merchantEvents: MerchantEventMetrics;
}

/** Every metric the worker process exposes on WORKER_METRICS_PORT. */
export function createWorkerMetrics(
  registry: Registry,
  deps: { oldestUndeliveredMerchantEventAge?: OldestUndeliveredAge } = {},
): WorkerMetrics {
  return {
    registry,
    orders: createOrderActivityMetrics(registry),
    reconciliation: createReconciliationMetrics(registry),
    merchantEvents: createMerchantEventMetrics(registry, deps.oldestUndeliveredMerchantEventAge),
  };
}

// ---- Merchant events ----

export interface MerchantEventMetrics {
  /** One HTTP attempt and how it ended (delivered, rejected, gone, error, timeout). */
  attempted(outcome: string, seconds: number): void;
  /** An event reached its endpoint: seconds from being recorded to the endpoint's 2xx. */
  delivered(secondsSinceRecorded: number): void;
  /** Retries ran out for a delivery. */
  gaveUp(): void;
}

/** Seconds since the oldest delivery still pending to an enabled endpoint was recorded (0: none waits). */
export type OldestUndeliveredAge = () => Promise<number>;

/** A healthy endpoint answers within a second; the top buckets are retries with backoff (hours to days). */
const MERCHANT_DELIVERY_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400];
const MERCHANT_ATTEMPT_SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMerchantEventMetrics(registry: Registry, oldestAge?: OldestUndeliveredAge): MerchantEventMetrics {
  const attempts = new Counter({
    name: 'orderpay_merchant_event_deliveries_total',
    help: 'HTTP delivery attempts of merchant events by outcome: delivered, rejected, gone, error, timeout.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const attemptDuration = new Histogram({
    name: 'orderpay_merchant_event_attempt_duration_seconds',
    help: 'Time the merchant endpoint took to answer one delivery attempt (or to time out).',
    buckets: MERCHANT_ATTEMPT_SECONDS_BUCKETS,
    registers: [registry],
  });
  const deliveryLatency = new Histogram({
    name: 'orderpay_merchant_event_delivery_latency_seconds',
    help: 'Time from a merchant event being recorded to its endpoint answering 2xx, retries included.',
    buckets: MERCHANT_DELIVERY_SECONDS_BUCKETS,
    registers: [registry],
  });
  const gaveUp = new Counter({
    name: 'orderpay_merchant_event_deliveries_given_up_total',
    help: 'Merchant event deliveries whose retries ran out (failed; an operator may redeliver them).',
    registers: [registry],
  });
  if (oldestAge) {
    new Gauge({
      name: 'orderpay_merchant_event_oldest_undelivered_age_seconds',
      help: 'Age of the oldest merchant event still waiting for an enabled endpoint (read from the database at scrape time).',
      registers: [registry],
      async collect() {
        // During a database outage the scrape answers without this series rather than claim nothing waits.
        this.reset();
        try {
          this.set(await oldestAge());
        } catch {
          // Left out; the worker's logs say why.
        }
      },
    });
  }
  return {
    attempted(outcome, seconds) {
      attempts.inc({ outcome });
      attemptDuration.observe(seconds);
    },
    delivered: (seconds) => deliveryLatency.observe(Math.max(0, seconds)),
    gaveUp: () => gaveUp.inc(),
  };
}

// ---- Reconciliation ----

/** What the reconciliation job reports; its implementation is below. */
export interface ReconciliationMetrics {
  /** `count` new discrepancies of one kind found by a finished run (reruns find none: "already reconciled"). */
  discrepancies(gateway: string, kind: string, count: number): void;
  runFinished(gateway: string, seconds: number): void;
}

const RECONCILIATION_SECONDS_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600];

export function createReconciliationMetrics(registry: Registry): ReconciliationMetrics {
  const discrepancies = new Counter({
    name: 'orderpay_reconciliation_discrepancies_total',
    help: 'Differences reconciliation found between the gateway and orderpay, by gateway and kind.',
    labelNames: ['gateway', 'kind'],
    registers: [registry],
  });
  const runDuration = new Histogram({
    name: 'orderpay_reconciliation_run_duration_seconds',
    help: 'Duration of finished reconciliation runs, by gateway.',
    labelNames: ['gateway'],
    buckets: RECONCILIATION_SECONDS_BUCKETS,
    registers: [registry],
  });
  const lastSuccess = new Gauge({
    name: 'orderpay_reconciliation_last_success_timestamp_seconds',
    help: 'Unix time of the last finished reconciliation run, by gateway (alerts on missed schedules).',
    labelNames: ['gateway'],
    registers: [registry],
  });
  return {
    discrepancies: (gateway, kind, count) => discrepancies.inc({ gateway, kind }, count),
    runFinished(gateway, seconds) {
      runDuration.observe({ gateway }, seconds);
      lastSuccess.set({ gateway }, Date.now() / 1000);
    },
  };
}
