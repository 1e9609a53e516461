// P3: how fast the API acknowledges signed Stripe webhooks at a steady rate, against a bare Express handler that does
// one INSERT. The events are payment_intent.succeeded, each the payment of an open order of its own, so every
// delivery is verified, stored, claimed and signalled the way a real one is. The answer comes once the event is
// stored and the signal after it, so the figure also waits for every event to be delivered and reports how long that
// took from storing (the 2xx follows the INSERT within the request).
import type { Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { SANDBOX_STRIPE_WEBHOOK_SECRET } from '../../config/env';
import { signStripePayload } from '../../sandbox/webhook.signer';
import { BARE_INBOX_WORKFLOW_TYPE, bareInboxWorkflowId } from '../bare/bare.contract';
import type { Pool } from '../../db/pool';
import { describeStatuses, openLoop, post, quantile, runConcurrently } from '../support/measure';
import { sleep } from '../support/processes';
import type { OrderpayStack } from '../support/stack';

export interface WebhookLoad {
  ratePerSecond: number;
  seconds: number;
  /** Open workflows the bare signalling handler's events are spread over (orderpay's each pay an order of their own). */
  orders: number;
}

export interface WebhookFigures {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  statuses: string;
  /** Every event ID of the measured load starts with this. */
  eventIdPrefix: string;
}

/**
 * From storing each event of the load to handing it on: signalled to the order's workflow, or closed as `ignored`
 * because the workflow already had the same payment from an earlier event (none should be: each is a payment of its
 * own).
 */
export interface WebhookDeliveryFigures {
  delivered: number;
  ignored: number;
  /** Events that ended otherwise (order_not_found, failed) or were still waiting when the wait ran out. */
  undelivered: number;
  lagP50Ms: number;
  lagP99Ms: number;
  /** From the end of the load until the last event was handed on. */
  drainedAfterMs: number;
  /**
   * The payment's effect, which a signal only queues: from storing each event to its order's PAID transition (the
   * worker's workflow task for the signal). Waiting for it also leaves the next figure a worker with no backlog.
   */
  paid: number;
  paidLagP50Ms: number;
  paidLagP99Ms: number;
  /** From the end of the load until the last order was PAID. */
  paidAfterMs: number;
}

function paymentEvents(
  orderIds: readonly string[],
  count: number,
  eventIdPrefix: string,
): Array<{ eventId: string; payload: string }> {
  return Array.from({ length: count }, (_, i) => {
    const orderId = orderIds[i % orderIds.length] ?? '';
    const eventId = `${eventIdPrefix}${i}`;
    const payload = JSON.stringify({
      id: eventId,
      object: 'event',
      type: 'payment_intent.succeeded',
      created: Math.floor(Date.now() / 1000),
      data: {
        object: {
          // One payment per order, delivered many times under new event IDs (as retried and duplicated webhooks are).
          id: `pi_bench_${orderId}`,
          object: 'payment_intent',
          amount: 1_000,
          amount_received: 1_000,
          currency: 'usd',
          status: 'succeeded',
          metadata: { orderId },
        },
      },
    });
    return { eventId, payload };
  });
}

async function sendSigned(url: string, load: WebhookLoad, orderIds: readonly string[]): Promise<WebhookFigures> {
  const eventIdPrefix = `evt_bench_${randomBytes(3).toString('hex')}_`;
  const events = paymentEvents(orderIds, Math.round(load.ratePerSecond * load.seconds), eventIdPrefix);
  const result = await openLoop(events.length, load.ratePerSecond, (i) => {
    const event = events[i];
    if (!event) throw new Error('no event');
    return post(url, event.payload, {
      'content-type': 'application/json',
      'stripe-signature': signStripePayload(event.payload, SANDBOX_STRIPE_WEBHOOK_SECRET, Date.now() / 1000),
      'x-bench-event-id': event.eventId,
      'x-bench-order-id': orderIds[i % orderIds.length] ?? '',
    });
  });
  return {
    requests: events.length,
    p50Ms: quantile(result.latenciesMs, 0.5),
    p99Ms: quantile(result.latenciesMs, 0.99),
    statuses: describeStatuses(result.statuses),
    eventIdPrefix,
  };
}

/** Longest wait for a load's events to be delivered after its last answer. */
const DELIVERY_WAIT_MS = 10 * 60_000;

/**
 * Waits until no event of the load waits any more and every order it paid is PAID, then reads how long each took
 * from storing to delivery and to PAID.
 */
export async function orderpayWebhookDeliveries(pool: Pool, eventIdPrefix: string): Promise<WebhookDeliveryFigures> {
  const loadEndedAt = Date.now();
  const pattern = `${eventIdPrefix.replace(/_/g, '\\_')}%`;
  const waitUntilNone = async (countSql: string) => {
    while (Date.now() - loadEndedAt < DELIVERY_WAIT_MS) {
      const { rows } = await pool.query<{ waiting: number }>(countSql, [pattern]);
      if ((rows[0]?.waiting ?? 0) === 0) return;
      await sleep(250);
    }
  };
  await waitUntilNone(
    "SELECT count(*)::int AS waiting FROM webhook_events WHERE event_id LIKE $1 AND outcome = 'received'",
  );
  await waitUntilNone(
    `SELECT count(*)::int AS waiting FROM webhook_events e JOIN orders o USING (order_id)
      WHERE e.event_id LIKE $1 AND e.outcome = 'delivered' AND o.status <> 'PAID'`,
  );
  const payments = await pool.query<{ lag_ms: number; paid_at: Date }>(
    `SELECT extract(epoch FROM h.at - e.received_at)::float8 * 1000 AS lag_ms, h.at AS paid_at
       FROM webhook_events e JOIN order_status_history h ON h.order_id = e.order_id AND h.to_status = 'PAID'
      WHERE e.event_id LIKE $1 AND e.outcome = 'delivered'`,
    [pattern],
  );
  const paidLags = payments.rows.map((row) => Number(row.lag_ms));
  const lastPaid = Math.max(0, ...payments.rows.map((row) => row.paid_at.getTime()));
  const { rows } = await pool.query<{ lag_ms: number; delivered_at: Date | null; outcome: string }>(
    `SELECT extract(epoch FROM processed_at - received_at)::float8 * 1000 AS lag_ms, processed_at AS delivered_at,
            outcome
       FROM webhook_events WHERE event_id LIKE $1`,
    [pattern],
  );
  const handedOn = rows.filter((row) => row.outcome === 'delivered' || row.outcome === 'ignored');
  const lags = handedOn.map((row) => Number(row.lag_ms));
  const lastDelivered = Math.max(...handedOn.map((row) => row.delivered_at?.getTime() ?? 0));
  const delivered = handedOn.filter((row) => row.outcome === 'delivered').length;
  return {
    delivered,
    ignored: handedOn.length - delivered,
    undelivered: rows.length - handedOn.length,
    lagP50Ms: quantile(lags, 0.5),
    lagP99Ms: quantile(lags, 0.99),
    drainedAfterMs: Math.max(0, lastDelivered - loadEndedAt),
    paid: payments.rows.length,
    paidLagP50Ms: quantile(paidLags, 0.5),
    paidLagP99Ms: quantile(paidLags, 0.99),
    paidAfterMs: Math.max(0, lastPaid - loadEndedAt),
  };
}

/**
 * Every event is the payment of an order of its own, opened before the load: each is signalled and pays its order,
 * as a burst of real payments would (the same payment sent again is closed without a signal, so spreading the events
 * over a few orders would measure nothing behind the answer).
 */
export async function orderpayWebhooks(stack: OrderpayStack, load: WebhookLoad): Promise<WebhookFigures> {
  const run = randomBytes(3).toString('hex');
  const openOrders = async (name: string, count: number) => {
    const orderIds = Array.from({ length: count }, (_, i) => `bench-p3-${run}-${name}-${i}`);
    await runConcurrently(orderIds.length, 10, async (i) => {
      const answer = await stack.api.checkout(orderIds[i] ?? '');
      if (answer.status !== 201) throw new Error(`POST /orders answered ${answer.status}`);
    });
    return orderIds;
  };
  const warmup = { ...load, seconds: 1 };
  const warmupOrders = await openOrders('warmup', Math.round(warmup.ratePerSecond * warmup.seconds));
  const measuredOrders = await openOrders('measured', Math.round(load.ratePerSecond * load.seconds));
  // One second of warm-up at the same rate, so connection pools and JIT are not what is measured.
  await sendSigned(`${stack.api.url}/webhooks/stripe`, warmup, warmupOrders);
  return sendSigned(`${stack.api.url}/webhooks/stripe`, load, measuredOrders);
}

/** `baseUrl`: the bare webhook server (bench/bare/bare-webhook-server.ts). */
export async function bareWebhooks(baseUrl: string, load: WebhookLoad): Promise<WebhookFigures> {
  const orderIds = Array.from({ length: load.orders }, (_, i) => `bare-${i}`);
  await sendSigned(`${baseUrl}/webhooks/stripe`, { ...load, seconds: 1 }, orderIds);
  return sendSigned(`${baseUrl}/webhooks/stripe`, load, orderIds);
}

/** The bare handler that also signals an open workflow per order before it answers. */
export async function bareSignallingWebhooks(
  baseUrl: string,
  client: Client,
  taskQueue: string,
  load: WebhookLoad,
): Promise<WebhookFigures> {
  const run = randomBytes(3).toString('hex');
  const orderIds = Array.from({ length: load.orders }, (_, i) => `bare-${run}-${i}`);
  await runConcurrently(orderIds.length, 10, async (i) => {
    await client.workflow.start(BARE_INBOX_WORKFLOW_TYPE, {
      workflowId: bareInboxWorkflowId(orderIds[i] ?? ''),
      taskQueue,
      workflowExecutionTimeout: '1h',
    });
  });
  await sendSigned(`${baseUrl}/signal/webhooks/stripe`, { ...load, seconds: 1 }, orderIds);
  return sendSigned(`${baseUrl}/signal/webhooks/stripe`, load, orderIds);
}
