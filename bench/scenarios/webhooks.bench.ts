// P3: how fast the API acknowledges signed Stripe webhooks at a steady rate, against a bare Express handler that does
// one INSERT. The events are payment_intent.succeeded for open orders of the run, each with its own event ID, so
// every delivery is verified, stored, claimed and signalled the way a real one is.
import type { Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { SANDBOX_STRIPE_WEBHOOK_SECRET } from '../../config/env';
import { signStripePayload } from '../../sandbox/webhook.signer';
import { BARE_INBOX_WORKFLOW_TYPE, bareInboxWorkflowId } from '../bare/bare.contract';
import { describeStatuses, openLoop, post, quantile, runConcurrently } from '../support/measure';
import type { OrderpayStack } from '../support/stack';

export interface WebhookLoad {
  ratePerSecond: number;
  seconds: number;
  /** Open orders the events are spread over. */
  orders: number;
}

export interface WebhookFigures {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  statuses: string;
}

function paymentEvents(orderIds: readonly string[], count: number): Array<{ eventId: string; payload: string }> {
  const run = randomBytes(3).toString('hex');
  return Array.from({ length: count }, (_, i) => {
    const orderId = orderIds[i % orderIds.length] ?? '';
    const eventId = `evt_bench_${run}_${i}`;
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
  const events = paymentEvents(orderIds, Math.round(load.ratePerSecond * load.seconds));
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
  };
}

export async function orderpayWebhooks(stack: OrderpayStack, load: WebhookLoad): Promise<WebhookFigures> {
  const run = randomBytes(3).toString('hex');
  const orderIds = Array.from({ length: load.orders }, (_, i) => `bench-p3-${run}-${i}`);
  await runConcurrently(orderIds.length, 10, async (i) => {
    const answer = await stack.api.checkout(orderIds[i] ?? '');
    if (answer.status !== 201) throw new Error(`POST /orders answered ${answer.status}`);
  });
  // One second of warm-up at the same rate, so connection pools and JIT are not what is measured.
  await sendSigned(`${stack.api.url}/webhooks/stripe`, { ...load, seconds: 1 }, orderIds);
  return sendSigned(`${stack.api.url}/webhooks/stripe`, load, orderIds);
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
