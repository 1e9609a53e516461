// Order activities against real PostgreSQL for refund tests, with any gateway (the fake one, or real adapters talking
// to the sandbox) and a clock the test moves. Builds paid orders the way the workflow does: record, intent, PAID.
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { createOrderActivities, type GatewayRegistry } from '../../activities/orders/order.activities';
import type { OrderActivities, RecordOrderInput } from '../../activities/orders/order-activity.types';
import type { GatewayName } from '../../contracts/order.contract';
import { createLogger } from '../../config/logger';
import { createOrderActivityMetrics } from '../../config/metrics';
import type { Pool } from '../../db/pool';
import { uniqueId } from './temporal';

export interface RefundHarnessOptions {
  pool: Pool;
  gateways: GatewayRegistry;
  refundPendingLimitMs?: number;
  now?: Date;
}

export function refundHarness(options: RefundHarnessOptions) {
  let now = options.now ?? new Date('2030-01-02T03:04:05.000Z');
  const activities = createOrderActivities({
    pool: options.pool,
    gateways: options.gateways,
    logger: createLogger('refund-activities-test', 'silent'),
    metrics: createOrderActivityMetrics(new Registry()),
    clock: () => now,
    ...(options.refundPendingLimitMs === undefined ? {} : { refundPendingLimitMs: options.refundPendingLimitMs }),
  });
  // The SDK logs every failed activity; these tests fail activities on purpose.
  const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
  const run = <K extends keyof OrderActivities>(
    name: K,
    input: Parameters<OrderActivities[K]>[0],
  ): ReturnType<OrderActivities[K]> =>
    env.run(activities[name] as (arg: typeof input) => ReturnType<OrderActivities[K]>, input) as ReturnType<
      OrderActivities[K]
    >;
  return {
    run,
    advance(ms: number) {
      now = new Date(now.getTime() + ms);
    },
    now: () => now,
  };
}

export type RefundHarness = ReturnType<typeof refundHarness>;

export function orderInput(gateway: GatewayName, overrides: Partial<RecordOrderInput> = {}): RecordOrderInput {
  return {
    orderId: uniqueId('rf'),
    amountMinor: 150_000,
    currency: gateway === 'stripe' ? 'EUR' : 'NPR',
    gateway,
    description: 'Two plates of momo',
    returnUrl: 'https://shop.example.test/return',
    requestHash: 'hash-refunds',
    expiresAt: '2030-01-02T03:19:05.000Z',
    ...overrides,
  };
}

/**
 * Records the order and creates its intent; `pay` makes the payer pay at the gateway; then the lookup's capture is
 * stored with the move to PAID, as the workflow does.
 */
export async function paidOrder(
  h: RefundHarness,
  input: RecordOrderInput,
  pay: (intent: { intentId: string; paymentUrl: string }) => Promise<void> | void,
) {
  await h.run('recordOrder', input);
  const intent = await h.run('createPaymentIntent', input);
  await h.run('transitionOrder', {
    orderId: input.orderId,
    from: ['PENDING'],
    to: 'AWAITING_PAYMENT',
    reason: 'intent_created',
    at: h.now().toISOString(),
    changes: { intentId: intent.intentId, paymentUrl: intent.paymentUrl },
  });
  await pay(intent);
  const status = await h.run('fetchPaymentStatus', {
    orderId: input.orderId,
    gateway: input.gateway,
    intentId: intent.intentId,
    amountMinor: input.amountMinor,
    currency: input.currency,
  });
  if (status.state !== 'captured') throw new Error(`expected a capture, the gateway says ${status.gatewayStatus}`);
  await h.run('transitionOrder', {
    orderId: input.orderId,
    from: ['AWAITING_PAYMENT'],
    to: 'PAID',
    reason: 'payment_captured',
    at: h.now().toISOString(),
    changes: {
      capturedAmountMinor: status.amountMinor,
      paymentReference: status.paymentReference,
      paidAt: h.now().toISOString(),
    },
  });
  return {
    orderId: input.orderId,
    intentId: intent.intentId,
    paymentReference: status.paymentReference,
    capturedAmountMinor: status.amountMinor ?? 0,
  };
}

export async function refundRows(pool: Pool, orderId: string) {
  const result = await pool.query<{
    refund_id: string;
    amount_minor: number;
    state: string;
    gateway_refund_id: string | null;
    payment_reference: string | null;
  }>(
    `SELECT refund_id, amount_minor, state, gateway_refund_id, payment_reference
       FROM refunds WHERE order_id = $1 ORDER BY created_at, refund_id`,
    [orderId],
  );
  return result.rows;
}
