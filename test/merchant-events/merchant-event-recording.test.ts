// Merchant events are recorded by the order's own transition activity, in its transaction, against real PostgreSQL:
// one event per visible change with the order's next sequence number, one delivery per subscribed enabled endpoint,
// nothing twice on a retried transition, the fulfilment reasons announced, and no event (and no transition) when
// either half of the transaction fails.
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { createOrderActivities } from '../../activities/orders/order.activities';
import type { OrderActivities, TransitionOrderInput } from '../../activities/orders/order-activity.types';
import { createLogger } from '../../config/logger';
import { createOrderActivityMetrics } from '../../config/metrics';
import { insertAdminEndpoint } from '../../db/merchant-events/merchant-endpoints.repo';
import { createPool, type Pool } from '../../db/pool';
import { FakeGateway } from '../support/fake-gateway';
import { createSuiteDatabase, type SuiteDatabase } from '../support/suite-database';

const NOW = new Date('2030-01-02T03:04:05.000Z');
let pool: Pool;
let database: SuiteDatabase;
let endpoints: { all: string; paidOnly: string; disabled: string };

beforeAll(async () => {
  database = await createSuiteDatabase();
  pool = createPool(database.url, { max: 4 });
  const suffix = randomBytes(4).toString('hex');
  endpoints = { all: `rec-all-${suffix}`, paidOnly: `rec-paid-${suffix}`, disabled: `rec-off-${suffix}` };
  const base = { url: 'https://shop.example/hook', includeCustomer: false, secrets: [] };
  await insertAdminEndpoint(pool, { ...base, endpointId: endpoints.all, eventTypes: null });
  await insertAdminEndpoint(pool, { ...base, endpointId: endpoints.paidOnly, eventTypes: ['order.paid'] });
  await insertAdminEndpoint(pool, { ...base, endpointId: endpoints.disabled, eventTypes: null });
  await pool.query('UPDATE merchant_endpoints SET enabled = false WHERE endpoint_id = $1', [endpoints.disabled]);
});

afterAll(async () => {
  await pool?.end();
  await database?.drop();
});

function harness() {
  const gateway = new FakeGateway({ clock: () => NOW });
  const activities = createOrderActivities({
    pool,
    gateways: () => gateway,
    logger: createLogger('merchant-event-recording-test', 'silent'),
    metrics: createOrderActivityMetrics(new Registry()),
    clock: () => NOW,
  });
  const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
  const run = <K extends keyof OrderActivities>(name: K, input: Parameters<OrderActivities[K]>[0]) =>
    env.run(activities[name] as (arg: typeof input) => ReturnType<OrderActivities[K]>, input) as ReturnType<
      OrderActivities[K]
    >;
  return { gateway, run };
}

async function paidOrder(h: ReturnType<typeof harness>) {
  const orderId = `rec-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const order = {
    orderId,
    amountMinor: 2_500,
    currency: 'EUR',
    gateway: 'stripe' as const,
    customer: { name: 'Ada', email: 'ada@example.test' },
    requestHash: 'hash',
    expiresAt: '2030-01-02T03:19:05.000Z',
  };
  await h.run('recordOrder', order);
  const intent = await h.run('createPaymentIntent', order);
  await h.run('transitionOrder', {
    orderId,
    from: ['PENDING'],
    to: 'AWAITING_PAYMENT',
    reason: 'intent_created',
    at: '2030-01-02T03:04:06.000Z',
    changes: intent,
  });
  h.gateway.payerPays(orderId);
  const status = await h.run('fetchPaymentStatus', { orderId, gateway: 'stripe', intentId: intent.intentId });
  const paid: TransitionOrderInput = {
    orderId,
    from: ['AWAITING_PAYMENT'],
    to: 'PAID',
    reason: 'payment_captured',
    at: '2030-01-02T03:05:00.000Z',
    changes: { capturedAmountMinor: status.amountMinor, paymentReference: status.paymentReference },
  };
  await h.run('transitionOrder', paid);
  return { orderId, intentId: intent.intentId, paymentReference: status.paymentReference, paid };
}

async function eventsOf(orderId: string) {
  const { rows } = await pool.query<{
    event_id: string;
    sequence: number;
    type: string;
    data: { order: Record<string, unknown>; refund?: Record<string, unknown>; reason?: string };
  }>('SELECT event_id, sequence, type, data FROM merchant_events WHERE order_id = $1 ORDER BY sequence', [orderId]);
  return rows;
}

async function deliveriesOf(orderId: string) {
  const { rows } = await pool.query<{ type: string; endpoint_id: string }>(
    `SELECT e.type, d.endpoint_id FROM merchant_event_deliveries d JOIN merchant_events e USING (event_id)
      WHERE e.order_id = $1 AND d.endpoint_id = ANY($2) ORDER BY e.sequence, d.endpoint_id`,
    [orderId, Object.values(endpoints)],
  );
  return rows.map((row) => `${row.type}->${row.endpoint_id}`);
}

describe('recording merchant events with the transition', () => {
  it('when an order is paid, then awaiting_payment and paid are recorded in sequence, delivered to the endpoints that want them', async () => {
    const h = harness();
    const { orderId, paid } = await paidOrder(h);
    // A retried transition that finds the row moved records nothing.
    expect(await h.run('transitionOrder', paid)).toEqual({ applied: false, status: 'PAID' });

    const events = await eventsOf(orderId);
    expect(events.map((event) => [event.sequence, event.type])).toEqual([
      [1, 'order.awaiting_payment'],
      [2, 'order.paid'],
    ]);
    expect(events[1]?.data.order).toMatchObject({ orderId, status: 'PAID', amount: 2_500, capturedAmount: 2_500 });
    expect(JSON.stringify(events)).not.toContain('ada@example.test');
    expect(await deliveriesOf(orderId)).toEqual([
      `order.awaiting_payment->${endpoints.all}`,
      `order.paid->${endpoints.all}`,
      `order.paid->${endpoints.paidOnly}`,
    ]);
  });

  it.each(['fulfilment_failed', 'fulfilment_timeout'])(
    'when a refund and a transition with reason %s follow, then refund.succeeded, order.fulfilment_failed and order.refunded follow',
    async (reason) => {
      const h = harness();
      const { orderId, intentId, paymentReference } = await paidOrder(h);
      await h.run('refundPayment', {
        orderId,
        gateway: 'stripe',
        intentId,
        paymentReference,
        refundId: `refund-${orderId}-1`,
        amountMinor: 2_500,
        currency: 'EUR',
        reason,
      });
      await h.run('transitionOrder', {
        orderId,
        from: ['PAID'],
        to: 'REFUNDED',
        reason,
        at: '2030-01-02T03:06:00.000Z',
        changes: { refundedAmountMinor: 2_500 },
      });
      const events = await eventsOf(orderId);
      expect(events.map((event) => event.type)).toEqual([
        'order.awaiting_payment',
        'order.paid',
        'refund.succeeded',
        'order.fulfilment_failed',
        'order.refunded',
      ]);
      expect(events.map((event) => event.sequence)).toEqual([1, 2, 3, 4, 5]);
      expect(events[2]?.data.refund).toMatchObject({ amount: 2_500, state: 'succeeded', reason });
      expect(events[3]?.data).toMatchObject({ reason, order: { status: 'REFUNDED' } });
    },
  );

  it('when the attention flag is raised with a transition, then order.needs_attention is recorded once', async () => {
    const h = harness();
    const { orderId } = await paidOrder(h);
    const flag = (reason: string) =>
      h.run('transitionOrder', {
        orderId,
        from: ['PAID'],
        to: 'PAID',
        reason,
        at: '2030-01-02T03:06:00.000Z',
        changes: { needsAttention: true },
      });
    await flag('needs_attention:first');
    await flag('needs_attention:again');
    expect((await eventsOf(orderId)).map((event) => event.type)).toEqual([
      'order.awaiting_payment',
      'order.paid',
      'order.needs_attention',
    ]);
  });

  it('when recording the event fails, then the transition rolls back with it, and its retry records both', async () => {
    const h = harness();
    const orderId = `rec-fail-${randomBytes(4).toString('hex')}`;
    await h.run('recordOrder', {
      orderId,
      amountMinor: 100,
      currency: 'EUR',
      gateway: 'stripe',
      requestHash: 'hash',
      expiresAt: '2030-01-02T03:19:05.000Z',
    });
    const trigger = `refuse_${randomBytes(4).toString('hex')}`;
    await pool.query(`CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN RAISE EXCEPTION 'merchant_events refused for the test'; END $$`);
    await pool.query(`CREATE TRIGGER ${trigger} BEFORE INSERT ON merchant_events FOR EACH ROW
                      WHEN (NEW.order_id = '${orderId}') EXECUTE FUNCTION ${trigger}()`);
    const move: TransitionOrderInput = {
      orderId,
      from: ['PENDING'],
      to: 'AWAITING_PAYMENT',
      reason: 'intent_created',
      at: '2030-01-02T03:04:06.000Z',
      changes: { intentId: 'pi_1' },
    };
    try {
      await expect(h.run('transitionOrder', move)).rejects.toThrow();
    } finally {
      await pool.query(`DROP TRIGGER ${trigger} ON merchant_events`);
      await pool.query(`DROP FUNCTION ${trigger}()`);
    }
    const status = await pool.query('SELECT status FROM orders WHERE order_id = $1', [orderId]);
    expect(status.rows[0]).toEqual({ status: 'PENDING' });
    expect(await eventsOf(orderId)).toEqual([]);

    expect(await h.run('transitionOrder', move)).toEqual({ applied: true, status: 'AWAITING_PAYMENT' });
    expect((await eventsOf(orderId)).map((event) => event.type)).toEqual(['order.awaiting_payment']);
  });
});
