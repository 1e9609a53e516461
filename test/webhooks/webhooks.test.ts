// POST /webhooks/stripe over real HTTP with events signed by the Stripe SDK, delivered to real order workflows.
// What must hold: nothing unsigned is stored, everything signed is stored before the 2xx, each event reaches its
// workflow once, and a 503 is answered whenever the gateway's retry can still complete the delivery.
import type { Client } from '@temporalio/client';
import Stripe from 'stripe';
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId } from '../../contracts/order.contract';
import type { Pool } from '../../db/pool';
import { http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import { uniqueId } from '../support/temporal';
import { paymentSucceeded, stripeEvent } from '../support/stripe-events';

const SECRET = 'whsec_webhooks_test';

let harness: ApiHarness;
let pool: Pool;
let temporal: Client;
let api: RunningApiServer;
/** Same database, Temporal unreachable. */
let temporalDownApi: RunningApiServer;
/** Same Temporal, database unreachable. */
let databaseDownApi: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({ stripeWebhookSecret: SECRET });
  ({ pool, temporal } = harness);
  api = await harness.startApi();
  temporalDownApi = await harness.startApi({ temporal: await harness.unreachableTemporal() });
  databaseDownApi = await harness.startApi({ pool: await harness.unreachableDatabase() });
});

afterAll(() => harness?.stop());

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
  test('when a signed payment event arrives twice, then it is stored once, signalled once, and the order is paid', async () => {
    const orderId = await createOrder(4200);
    const { eventId, payload } = paymentSucceeded(orderId, 4200);

    const first = await postSigned(api.url, payload);
    const second = await postSigned(api.url, payload);

    expect(first).toEqual({ status: 200, body: { received: true } });
    expect(second).toEqual({ status: 200, body: { received: true, duplicate: true } });
    const rows = await storedEvent(eventId);
    expect(rows).toEqual([
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
    expect(await signalsReceived(orderId)).toBe(1);
    await waitForStatus(orderId, 'PAID');
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
    expect(await storedEvent(eventId)).toEqual([
      expect.objectContaining({ outcome: 'order_not_found', delivery_attempts: 1 }),
    ]);
    // A redelivery changes nothing: reconciliation owns it now.
    expect(await postSigned(api.url, payload)).toEqual({ status: 200, body: { received: true, duplicate: true } });
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

  test('when Temporal is down, then 503 and the event stays undelivered; the retry delivers it', async () => {
    const orderId = await createOrder(4200);
    const { eventId, payload } = paymentSucceeded(orderId, 4200);

    const duringOutage = await postSigned(temporalDownApi.url, payload);

    expect(duringOutage.status).toBe(503);
    expect(duringOutage.body.error.code).toBe('temporal_unavailable');
    expect(await storedEvent(eventId)).toEqual([
      expect.objectContaining({
        outcome: 'received',
        delivery_attempts: 1,
        error: 'temporal_unavailable',
        processed_at: null,
      }),
    ]);
    expect(await orderStatus(orderId)).toBe('AWAITING_PAYMENT');

    const retry = await postSigned(api.url, payload);

    expect(retry).toEqual({ status: 200, body: { received: true } });
    expect(await storedEvent(eventId)).toEqual([
      expect.objectContaining({ outcome: 'delivered', delivery_attempts: 2, error: null }),
    ]);
    expect(await signalsReceived(orderId)).toBe(1);
    await waitForStatus(orderId, 'PAID');
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
