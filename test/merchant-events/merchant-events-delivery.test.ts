// Merchant events end to end: the built api, worker and sandbox, the test run's Temporal and PostgreSQL, and a real
// HTTP receiver that verifies with standardwebhooks. Proves: an order's events arrive signed, once and in sequence;
// a receiver that fails and then goes down still gets them, with every attempt logged; a worker SIGKILLed during a
// delivery sends the same event ID at most once more; and tampering breaks the signature.
import { Webhook } from 'standardwebhooks';
import { createPool, type Pool } from '../../db/pool';
import { startMerchantReceiver, type MerchantReceiver } from '../support/merchant-receiver';
import { eventually } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { uniqueId } from '../support/temporal';
import { createSuiteDatabase, type SuiteDatabase } from '../support/suite-database';

jest.setTimeout(240_000);

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ROTATED_OUT_SECRET = 'whsec_dGhpcyBpcyB0aGUgb2xkIHNlY3JldCBrZXkgMTIz';
const ADMIN_TOKEN = 'merchant-events-admin-token-0123456789';

let stack: Stack;
let receiver: MerchantReceiver;
let db: Pool;
let database: SuiteDatabase;

beforeAll(async () => {
  database = await createSuiteDatabase();
  receiver = await startMerchantReceiver(SECRET);
  stack = await startStack(
    { POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h', ADMIN_API_TOKEN: ADMIN_TOKEN, DATABASE_URL: database.url },
    {
      DATABASE_URL: database.url,
      MERCHANT_WEBHOOK_URL: receiver.url,
      // Two secrets, as during a rotation: every delivery carries a signature by each.
      MERCHANT_WEBHOOK_SECRET: `${SECRET},${ROTATED_OUT_SECRET}`,
      MERCHANT_WEBHOOK_TIMEOUT: '2s',
      MERCHANT_WEBHOOK_RETRY_INITIAL: '200ms',
      MERCHANT_WEBHOOK_RETRY_MAX_INTERVAL: '1s',
      MERCHANT_EVENT_SWEEP_INTERVAL: '5s',
    },
  );
  db = createPool(database.url);
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.stop();
  await db?.end();
  await database?.drop();
});

async function checkoutAndPay(orderId: string): Promise<void> {
  const response = await stack.fetch('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orderId, amount: 2_500, currency: 'USD', gateway: 'stripe' }),
  });
  expect(response.status).toBe(201);
  const { paymentUrl } = (await response.json()) as { paymentUrl: string };
  const paid = await fetch(`${paymentUrl}/pay`, { method: 'POST', redirect: 'manual' });
  expect(paid.status).toBe(303);
}

async function waitForEvent(orderId: string, type: string, timeoutMs = 30_000) {
  return eventually(async () => receiver.eventsOf(orderId).find((event) => event.type === type), {
    timeoutMs,
    what: `${type} of ${orderId} at the receiver`,
  }).catch((error: unknown) => {
    console.error(stack.logs());
    throw error;
  });
}

function deliveriesOf(eventId: string) {
  return receiver.deliveries.filter((delivery) => delivery.headers['webhook-id'] === eventId);
}

async function attemptsOf(eventId: string) {
  const response = await fetch(`${stack.apiUrl}/admin/merchant-events/${eventId}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { attempts: { outcome: string; statusCode: number | null }[] }).attempts;
}

describe('merchant events delivered by real processes', () => {
  it('when an order is paid, then the receiver gets order.paid once, signed so that standardwebhooks verifies it', async () => {
    receiver.setFaults({});
    const orderId = uniqueId('evt-paid');
    await checkoutAndPay(orderId);
    const paid = await waitForEvent(orderId, 'order.paid');

    expect(paid.id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(paid.data.order).toMatchObject({ orderId, status: 'PAID', amount: 2_500, currency: 'USD' });
    expect(paid.data).not.toHaveProperty('customer');
    const delivered = deliveriesOf(paid.id);
    expect(delivered).toHaveLength(1);
    const [delivery] = delivered;
    if (!delivery) throw new Error('no delivery');
    // Two signatures (one per configured secret); each secret alone verifies.
    expect(delivery.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(new Webhook(ROTATED_OUT_SECRET).verify(delivery.body, delivery.headers)).toMatchObject({ id: paid.id });
    expect(() =>
      new Webhook('whsec_c29tZSBvdGhlciBzZWNyZXQgbm90IHVzZWQgYXQgYWxs').verify(delivery.body, delivery.headers),
    ).toThrow(/No matching signature/);
    expect(receiver.duplicates.filter((event) => event.id === paid.id)).toHaveLength(0);
    // Sequence: awaiting_payment, then paid.
    expect(receiver.eventsOf(orderId).map((event) => [event.sequence, event.type])).toEqual([
      [1, 'order.awaiting_payment'],
      [2, 'order.paid'],
    ]);
  });

  it('when a delivered payload or its timestamp is tampered with, then verify fails', async () => {
    const orderId = uniqueId('evt-tamper');
    await checkoutAndPay(orderId);
    const paid = await waitForEvent(orderId, 'order.paid');
    const [delivery] = deliveriesOf(paid.id);
    if (!delivery) throw new Error('no delivery');
    const webhook = new Webhook(SECRET);
    expect(webhook.verify(delivery.body, delivery.headers)).toMatchObject({ id: paid.id });

    const richer = delivery.body.replace('"amount":2500', '"amount":1');
    expect(richer).not.toBe(delivery.body);
    expect(() => webhook.verify(richer, delivery.headers)).toThrow(/No matching signature/);
    const earlier = {
      ...delivery.headers,
      'webhook-timestamp': String(Number(delivery.headers['webhook-timestamp']) - 1),
    };
    expect(() => webhook.verify(delivery.body, earlier)).toThrow(/No matching signature/);
    const otherId = { ...delivery.headers, 'webhook-id': 'evt_someotherevent' };
    expect(() => webhook.verify(delivery.body, otherId)).toThrow(/No matching signature/);
  });

  it('when the receiver fails the first five attempts and is then down for a while, then the event still arrives and every attempt is logged', async () => {
    const orderId = uniqueId('evt-flaky');
    receiver.setFaults({ failNext: 5, failOnlyOrderId: orderId });
    const downAfterFailures = eventually(
      async () =>
        receiver.deliveries.filter((delivery) => delivery.status === 500 && delivery.body.includes(orderId)).length >= 5
          ? true
          : undefined,
      { timeoutMs: 60_000, what: 'five failed deliveries' },
    ).then(() => receiver.goDown(6_000));
    await checkoutAndPay(orderId);
    await downAfterFailures;
    const awaiting = await waitForEvent(orderId, 'order.awaiting_payment', 60_000);
    const paid = await waitForEvent(orderId, 'order.paid', 60_000);

    const attempts = await attemptsOf(awaiting.id);
    expect(attempts.slice(0, 5).map((attempt) => attempt.statusCode)).toEqual([500, 500, 500, 500, 500]);
    // While the port was closed: connection errors, then the 2xx.
    expect(attempts.filter((attempt) => attempt.outcome === 'error').length).toBeGreaterThanOrEqual(1);
    expect(attempts.at(-1)).toMatchObject({ outcome: 'delivered', statusCode: 204 });
    expect(attempts.filter((attempt) => attempt.outcome === 'delivered')).toHaveLength(1);
    // The later event waited for the earlier one: it arrived after it, once.
    expect(receiver.eventsOf(orderId).map((event) => event.type)).toEqual(['order.awaiting_payment', 'order.paid']);
    expect(await attemptsOf(paid.id)).toEqual([expect.objectContaining({ outcome: 'delivered' })]);
  });

  it('when the worker is SIGKILLed while a delivery is in flight, then the event is delivered, at most once more, with the same ID', async () => {
    const orderId = uniqueId('evt-crash');
    receiver.setFaults({ slowMs: 1_500 });
    const inFlight = receiver.nextRequest();
    await checkoutAndPay(orderId);
    await inFlight;
    await stack.killWorkers();
    receiver.setFaults({});
    stack.startWorker();

    const paid = await waitForEvent(orderId, 'order.paid', 90_000);
    const awaiting = receiver.eventsOf(orderId).find((event) => event.type === 'order.awaiting_payment');
    if (!awaiting) throw new Error('order.awaiting_payment never processed');
    for (const event of [awaiting, paid]) {
      const arrivals = deliveriesOf(event.id);
      expect(arrivals.length).toBeGreaterThanOrEqual(1);
      expect(arrivals.length).toBeLessThanOrEqual(2);
    }
    expect(receiver.eventsOf(orderId).map((event) => event.type)).toEqual(['order.awaiting_payment', 'order.paid']);
  });

  it('when a delivery is queued while no worker listens (its notification is lost), then the sweeper schedule starts it', async () => {
    receiver.setFaults({});
    const orderId = uniqueId('evt-sweep');
    await checkoutAndPay(orderId);
    const paid = await waitForEvent(orderId, 'order.paid');
    // Recorded as delivered first, so a second arrival can only be the redelivery (not a retry of a lost answer).
    await eventually(
      async () => ((await attemptsOf(paid.id)).some((attempt) => attempt.outcome === 'delivered') ? true : undefined),
      { what: 'the delivery recorded' },
    );
    // And its activity reported done to Temporal, so no retry of it is pending when the worker dies.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await stack.killWorkers();
    const redeliver = await fetch(`${stack.apiUrl}/admin/merchant-events/${paid.id}/redeliver`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(redeliver.status).toBe(202);
    expect(await redeliver.json()).toEqual({ reset: 1 });
    stack.startWorker();
    // Only the sweeper can find it: the NOTIFY went out while nobody listened.
    await eventually(async () => (receiver.duplicates.some((event) => event.id === paid.id) ? true : undefined), {
      // A sweep every 5 s takes deliveries older than 5 s: well within this.
      timeoutMs: 30_000,
      what: 'the swept redelivery',
    });
    expect(deliveriesOf(paid.id).filter((delivery) => delivery.status === 204)).toHaveLength(2);
  });

  it('when an order is paid and then cancelled, then its events arrive in sequence order: paid, refund.succeeded, refunded', async () => {
    receiver.setFaults({ failNext: 1 });
    const orderId = uniqueId('evt-seq');
    await checkoutAndPay(orderId);
    await waitForEvent(orderId, 'order.paid');
    const cancel = await stack.fetch(`/orders/${orderId}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'customer' }),
    });
    expect(cancel.status).toBe(200);
    await waitForEvent(orderId, 'order.refunded');
    const events = receiver.eventsOf(orderId);
    expect(events.map((event) => event.type)).toEqual([
      'order.awaiting_payment',
      'order.paid',
      'refund.succeeded',
      'order.refunded',
    ]);
    expect(events.map((event) => event.sequence)).toEqual([1, 2, 3, 4]);
    expect(events[2]?.data.refund).toMatchObject({ state: 'succeeded' });
    const arrivalOrder = receiver.deliveries
      .filter((delivery) => delivery.event?.data.order.orderId === orderId && delivery.status === 204)
      .map((delivery) => delivery.event?.sequence);
    expect(arrivalOrder).toEqual([1, 2, 3, 4]);
  });
});
