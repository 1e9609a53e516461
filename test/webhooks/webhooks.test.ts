// POST /webhooks/stripe over real HTTP with events signed by the Stripe SDK, delivered to real order workflows.
// What must hold: nothing unsigned is stored, everything signed is stored before the 2xx, each event reaches its
// workflow once (after the answer), and a 503 is answered exactly when the event could not be stored. Delivery after
// outages and by the sweeper is in webhook-outbox.test.ts.
import type { Client } from '@temporalio/client';
import Stripe from 'stripe';
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId } from '../../contracts/order.contract';
import type { Pool } from '../../db/pool';
import { http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import { eventually } from '../support/processes';
import { createSuiteDatabase, type SuiteDatabase } from '../support/suite-database';
import { uniqueId } from '../support/temporal';
import { paymentSucceeded, stripeEvent } from '../support/stripe-events';

const SECRET = 'whsec_webhooks_test';

let database: SuiteDatabase;
let harness: ApiHarness;
let pool: Pool;
let temporal: Client;
let api: RunningApiServer;
/** Same database, Temporal unreachable. */
let temporalDownApi: RunningApiServer;
/** Same Temporal, database unreachable. */
let databaseDownApi: RunningApiServer;

beforeAll(async () => {
  // No sweeps while a test looks at a row it left waiting: only the queue of the API that answered delivers here, and
  // other suites' APIs (which sweep) are kept off by a database of its own.
  database = await createSuiteDatabase();
  harness = await startApiHarness({
    stripeWebhookSecret: SECRET,
    databaseUrl: database.url,
    config: { WEBHOOK_SWEEP_INTERVAL: '1h' },
  });
  ({ pool, temporal } = harness);
  api = await harness.startApi();
  temporalDownApi = await harness.startApi({ temporal: await harness.unreachableTemporal() });
  databaseDownApi = await harness.startApi({ pool: await harness.unreachableDatabase() });
});

afterAll(async () => {
  await harness?.stop();
  await database?.drop();
});

/** The raw payload as sent, since the signature covers its exact bytes; answers only status and body. */
async function postWebhook(baseUrl: string, payload: string, headers: Record<string, string>, gatewayName = 'stripe') {
  const { status, body } = await http(baseUrl, 'POST', `/webhooks/${gatewayName}`, {
    body: payload,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status, body };
}

/** Stripe signs every delivery anew, retries included. */
const postSigned = (baseUrl: string, payload: string, secret = SECRET) =>
  postWebhook(baseUrl, payload, { 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret }) });

async function createOrder(amount = 4200): Promise<string> {
  const orderId = uniqueId('whk');
  const response = await postJson(api.url, '/orders', { orderId, amount, currency: 'USD', gateway: 'stripe' });
  expect(response.status).toBe(201);
  return orderId;
}

async function storedEvent(eventId: string) {
  const { rows } = await pool.query(
    `SELECT gateway, event_type, order_id, raw_body, headers, outcome, delivery_attempts, processed_at, error
       FROM webhook_events WHERE event_id = $1`,
    [eventId],
  );
  return rows;
}

/** The event's row once its delivery (after the answer) has recorded `outcome`. */
async function storedOutcome(eventId: string, outcome: string) {
  return eventually(
    async () => {
      const rows = await storedEvent(eventId);
      return rows.length === 1 && rows[0].outcome === outcome ? rows : undefined;
    },
    { what: `event ${eventId} ${outcome}` },
  );
}

async function orderStatus(orderId: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ status: string }>('SELECT status FROM orders WHERE order_id = $1', [orderId]);
  return rows[0]?.status;
}

async function waitForStatus(orderId: string, status: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await orderStatus(orderId)) !== status) {
    if (Date.now() > deadline) throw new Error(`order ${orderId} is ${await orderStatus(orderId)}, never ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function signalsReceived(orderId: string): Promise<number> {
  const history = await temporal.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory();
  return (history.events ?? []).filter((event) => event.workflowExecutionSignaledEventAttributes).length;
}

describe('signatures and payloads', () => {
  test('when the signature is made with another secret, then 401 invalid_signature and nothing is stored', async () => {
    const { eventId, payload } = paymentSucceeded(uniqueId('o'), 100);
    const result = await postSigned(api.url, payload, 'whsec_someone_else');
    expect(result).toEqual({
      status: 401,
      body: { error: { code: 'invalid_signature', message: expect.any(String) } },
    });
    expect(await storedEvent(eventId)).toEqual([]);
  });

  test('when the signature header is missing, then 401 and nothing is stored', async () => {
    const { eventId, payload } = paymentSucceeded(uniqueId('o'), 100);
    expect((await postWebhook(api.url, payload, {})).status).toBe(401);
    expect(await storedEvent(eventId)).toEqual([]);
  });

  test('when the body was changed after signing, then 401 and nothing is stored', async () => {
    const orderId = await createOrder();
    const { eventId, payload } = paymentSucceeded(orderId, 4200);
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET });
    const tampered = payload.replace('"amount_received":4200', '"amount_received":1');
    const result = await postWebhook(api.url, tampered, { 'stripe-signature': signature });
    expect(result.status).toBe(401);
    expect(await storedEvent(eventId)).toEqual([]);
    expect(await signalsReceived(orderId)).toBe(0);
  });

  test('when a signed body is not a Stripe event, then 400 invalid_payload and nothing is stored', async () => {
    expect((await postSigned(api.url, 'not json at all')).body.error.code).toBe('invalid_payload');
    const result = await postSigned(api.url, JSON.stringify({ id: 'evt_partial', object: 'event' }));
    expect(result).toEqual({ status: 400, body: { error: { code: 'invalid_payload', message: expect.any(String) } } });
    expect(await storedEvent('evt_partial')).toEqual([]);
  });

  test('when the gateway is unknown, then 404 unknown_gateway; when the method is wrong, then 405', async () => {
    const { payload } = paymentSucceeded(uniqueId('o'), 100);
    const unknown = await postWebhook(api.url, payload, {}, 'paypal');
    expect(unknown).toEqual({ status: 404, body: { error: { code: 'unknown_gateway', message: expect.any(String) } } });
    const get = await fetch(`${api.url}/webhooks/stripe`);
    expect(get.status).toBe(405);
  });

  test('when the body is larger than the limit, then 413 payload_too_large', async () => {
    const result = await postWebhook(api.url, 'x'.repeat(300 * 1024), { 'stripe-signature': 't=1,v1=00' });
    expect(result.status).toBe(413);
    expect(result.body.error.code).toBe('payload_too_large');
  });
});

describe('delivery', () => {
  test('when a signed payment event arrives, then it is answered, delivered once, and a redelivery is a duplicate', async () => {
    const orderId = await createOrder(4200);
    const { eventId, payload } = paymentSucceeded(orderId, 4200);

    const first = await postSigned(api.url, payload);

    expect(first).toEqual({ status: 200, body: { received: true } });
    expect(await storedOutcome(eventId, 'delivered')).toEqual([
      expect.objectContaining({
        gateway: 'stripe',
        event_type: 'payment_intent.succeeded',
        order_id: orderId,
        raw_body: payload,
        outcome: 'delivered',
        delivery_attempts: 1,
        processed_at: expect.any(Date),
      }),
    ]);
    const second = await postSigned(api.url, payload);
    expect(second).toEqual({ status: 200, body: { received: true, duplicate: true } });
    expect(await signalsReceived(orderId)).toBe(1);
    await waitForStatus(orderId, 'PAID');
  });

  test('when the gateway sends one event several times at once, then all are acknowledged and one signal is sent', async () => {
    const orderId = await createOrder(4200);
    const { eventId, payload } = paymentSucceeded(orderId, 4200);

    const answers = await Promise.all([1, 2, 3, 4].map(() => postSigned(api.url, payload)));

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    await storedOutcome(eventId, 'delivered');
    await waitForStatus(orderId, 'PAID');
    expect(await signalsReceived(orderId)).toBe(1);
    expect(await storedEvent(eventId)).toEqual([expect.objectContaining({ delivery_attempts: 1 })]);
  });

  test('when an event is stored, then its signature is kept only as a short fingerprint', async () => {
    const orderId = await createOrder();
    const { eventId, payload } = paymentSucceeded(orderId, 4200);
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET });

    await postWebhook(api.url, payload, { 'stripe-signature': signature, authorization: 'Bearer secret-token' });

    const [row] = await storedEvent(eventId);
    expect(row.headers['content-type']).toBe('application/json');
    expect(row.headers['stripe-signature']).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(row.headers.authorization).toMatch(/^sha256:[0-9a-f]{12}$/);
    const stored = JSON.stringify(row.headers);
    expect(stored).not.toContain(signature.split('v1=')[1]?.slice(0, 16));
    expect(stored).not.toContain('secret-token');
  });

  test('when the event names an order without a workflow, then it is stored as order_not_found and acknowledged', async () => {
    const { eventId, payload } = paymentSucceeded(uniqueId('ghost'), 100);
    const result = await postSigned(api.url, payload);
    expect(result).toEqual({ status: 200, body: { received: true } });
    expect(await storedOutcome(eventId, 'order_not_found')).toEqual([
      expect.objectContaining({ outcome: 'order_not_found', delivery_attempts: 1 }),
    ]);
    // A redelivery changes nothing: reconciliation owns it now.
    expect(await postSigned(api.url, payload)).toEqual({ status: 200, body: { received: true, duplicate: true } });
  });

  test('when a decline or cancel arrives for an order past awaiting payment, then it is stored as ignored and not signalled', async () => {
    const orderId = await createOrder(4200);
    const cancelled = await postJson(api.url, `/orders/${orderId}/cancel`, { reason: 'customer' });
    expect(cancelled.status).toBe(200);
    await waitForStatus(orderId, 'CANCELLED');
    const signalsBefore = await signalsReceived(orderId);
    const intent = { id: `pi_${uniqueId('p')}`, object: 'payment_intent', amount: 4200, amount_received: 0 };
    const events = [
      stripeEvent('payment_intent.canceled', { ...intent, currency: 'usd', status: 'canceled', metadata: { orderId } }),
      stripeEvent('payment_intent.payment_failed', {
        ...intent,
        currency: 'usd',
        status: 'requires_payment_method',
        metadata: { orderId },
      }),
    ];

    for (const { payload } of events)
      expect(await postSigned(api.url, payload)).toEqual({ status: 200, body: { received: true } });

    for (const { eventId } of events) {
      expect(await storedOutcome(eventId, 'ignored')).toEqual([
        expect.objectContaining({ outcome: 'ignored', delivery_attempts: 0, order_id: orderId }),
      ]);
    }
    expect(await signalsReceived(orderId)).toBe(signalsBefore);
  });

  test("when a cancel report arrives for an order whose expiry is due, then the workflow's own expiry is left to close it and nothing is signalled", async () => {
    const due = await createOrder(4200);
    const notDue = await createOrder(4200);
    // The moment between the order's TTL and its workflow's expiry step: the row is still awaiting payment.
    await pool.query("UPDATE orders SET expires_at = now() - interval '1 second' WHERE order_id = $1", [due]);
    const signalsBefore = await signalsReceived(due);
    const notDueSignalsBefore = await signalsReceived(notDue);

    const [dueExpired, notDueExpired] = await Promise.all([sessionExpired(due), sessionExpired(notDue)]);
    await sendThenAwait(dueExpired, 'ignored');
    await sendThenAwait(notDueExpired, 'delivered');

    expect(await signalsReceived(due)).toBe(signalsBefore);
    expect((await pool.query('SELECT status FROM orders WHERE order_id = $1', [due])).rows).toEqual([
      { status: 'AWAITING_PAYMENT' },
    ]);
    // The same report before the expiry is due is the workflow's to weigh.
    expect(await signalsReceived(notDue)).toBe(notDueSignalsBefore + 1);
  });

  /** Stripe's checkout.session.expired for the order's Checkout Session. */
  async function sessionExpired(orderId: string) {
    const { rows } = await pool.query<{ intent_id: string }>('SELECT intent_id FROM orders WHERE order_id = $1', [
      orderId,
    ]);
    return stripeEvent('checkout.session.expired', {
      id: rows[0]?.intent_id,
      object: 'checkout.session',
      status: 'expired',
      payment_status: 'unpaid',
      amount_total: 4200,
      currency: 'usd',
      client_reference_id: orderId,
      metadata: { orderId },
      payment_intent: null,
    });
  }

  /** Stripe's two events for one payment of the order's Checkout Session. */
  async function onePaymentTwoEvents(orderId: string, amount: number) {
    const { rows } = await pool.query<{ intent_id: string }>('SELECT intent_id FROM orders WHERE order_id = $1', [
      orderId,
    ]);
    const paymentIntent = `pi_${uniqueId('p')}`;
    const sessionCompleted = stripeEvent('checkout.session.completed', {
      id: rows[0]?.intent_id,
      object: 'checkout.session',
      status: 'complete',
      payment_status: 'paid',
      amount_total: amount,
      currency: 'usd',
      client_reference_id: orderId,
      metadata: { orderId },
      payment_intent: paymentIntent,
    });
    const intentSucceeded = stripeEvent('payment_intent.succeeded', {
      id: paymentIntent,
      object: 'payment_intent',
      amount,
      amount_received: amount,
      currency: 'usd',
      status: 'succeeded',
      metadata: { orderId },
    });
    return { sessionCompleted, intentSucceeded };
  }

  /** Posts a signed event, which is acknowledged, then waits until its delivery recorded `outcome`. */
  async function sendThenAwait(event: { eventId: string; payload: string }, outcome: 'delivered' | 'ignored') {
    expect(await postSigned(api.url, event.payload)).toEqual({ status: 200, body: { received: true } });
    return storedOutcome(event.eventId, outcome);
  }

  test('when Stripe reports one payment twice, then the order is signalled once and the second event is ignored', async () => {
    const orderId = await createOrder(4200);
    const { sessionCompleted, intentSucceeded } = await onePaymentTwoEvents(orderId, 4200);

    await sendThenAwait(sessionCompleted, 'delivered');
    expect(await sendThenAwait(intentSucceeded, 'ignored')).toEqual([
      expect.objectContaining({ delivery_attempts: 0, order_id: orderId }),
    ]);

    await waitForStatus(orderId, 'PAID');
    expect(await signalsReceived(orderId)).toBe(1);
  });

  test('when Stripe sends both events of one payment at once, then they are delivered one after the other and signalled once', async () => {
    const orderId = await createOrder(4200);
    const { sessionCompleted, intentSucceeded } = await onePaymentTwoEvents(orderId, 4200);

    // Back to back: the payment intent's event is stored while the session's delivery is still in flight.
    expect(await postSigned(api.url, sessionCompleted.payload)).toEqual({ status: 200, body: { received: true } });
    expect(await postSigned(api.url, intentSucceeded.payload)).toEqual({ status: 200, body: { received: true } });

    await storedOutcome(sessionCompleted.eventId, 'delivered');
    await storedOutcome(intentSucceeded.eventId, 'ignored');
    await waitForStatus(orderId, 'PAID');
    expect(await signalsReceived(orderId)).toBe(1);
  });

  test('when the payment intent event comes first, then the session event of the same payment is ignored', async () => {
    const orderId = await createOrder(4200);
    const { sessionCompleted, intentSucceeded } = await onePaymentTwoEvents(orderId, 4200);

    await sendThenAwait(intentSucceeded, 'delivered');
    await sendThenAwait(sessionCompleted, 'ignored');

    await waitForStatus(orderId, 'PAID');
    expect(await signalsReceived(orderId)).toBe(1);
  });

  test('when a second payment of the order arrives, then it is signalled: only the same payment is ignored', async () => {
    const orderId = await createOrder(4200);
    const first = await onePaymentTwoEvents(orderId, 4200);
    const second = await onePaymentTwoEvents(orderId, 4200);

    await sendThenAwait(first.intentSucceeded, 'delivered');
    await sendThenAwait(second.intentSucceeded, 'delivered');

    expect(await signalsReceived(orderId)).toBe(2);
  });

  test('when a decline arrives for an order awaiting payment, then it is signalled as before', async () => {
    const orderId = await createOrder(4200);
    const { eventId, payload } = stripeEvent('payment_intent.payment_failed', {
      id: `pi_${uniqueId('p')}`,
      object: 'payment_intent',
      amount: 4200,
      amount_received: 0,
      currency: 'usd',
      status: 'requires_payment_method',
      metadata: { orderId },
    });

    expect(await postSigned(api.url, payload)).toEqual({ status: 200, body: { received: true } });

    expect(await storedOutcome(eventId, 'delivered')).toEqual([expect.objectContaining({ delivery_attempts: 1 })]);
    expect(await signalsReceived(orderId)).toBe(1);
  });

  test('when the event type does not move orders, then it is stored as ignored and acknowledged', async () => {
    const { eventId, payload } = stripeEvent('customer.created', { id: 'cus_1', object: 'customer' });
    expect(await postSigned(api.url, payload)).toEqual({ status: 200, body: { received: true } });
    expect(await storedEvent(eventId)).toEqual([
      expect.objectContaining({
        outcome: 'ignored',
        delivery_attempts: 0,
        order_id: null,
        processed_at: expect.any(Date),
      }),
    ]);
  });

  test('when Temporal is down, then the stored event is still acknowledged 200 and waits for delivery', async () => {
    const orderId = await createOrder(4200);
    const { eventId, payload } = paymentSucceeded(orderId, 4200);

    const duringOutage = await postSigned(temporalDownApi.url, payload);

    // Stored, so the gateway need not retry: the sweeper delivers it (webhook-outbox.test.ts).
    expect(duringOutage).toEqual({ status: 200, body: { received: true } });
    const [row] = await eventually(
      async () => {
        const rows = await storedEvent(eventId);
        return rows[0]?.delivery_attempts === 1 ? rows : undefined;
      },
      { what: 'the failed delivery recorded' },
    );
    expect(row).toEqual(
      expect.objectContaining({ outcome: 'received', error: 'temporal_unavailable', processed_at: null }),
    );
    expect(await orderStatus(orderId)).toBe('AWAITING_PAYMENT');
    expect(await signalsReceived(orderId)).toBe(0);
  });

  test('when the database is down, then 503 database_unavailable and the workflow is not signalled', async () => {
    const orderId = await createOrder(4200);
    const { eventId, payload } = paymentSucceeded(orderId, 4200);

    const result = await postSigned(databaseDownApi.url, payload);

    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('database_unavailable');
    expect(await storedEvent(eventId)).toEqual([]);
    expect(await signalsReceived(orderId)).toBe(0);
    expect(await orderStatus(orderId)).toBe('AWAITING_PAYMENT');
  });
});
