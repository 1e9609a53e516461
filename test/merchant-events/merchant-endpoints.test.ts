// Merchant endpoints managed through the admin API, end to end with real processes and real receivers: chosen event
// types, secret rotation, 410 disabling an endpoint, retries running out, redelivery of one event and of a time
// range, and the delivery latency from PAID to the receiver's 2xx on this machine.
import { Webhook } from 'standardwebhooks';
import { startMerchantReceiver, type MerchantReceiver } from '../support/merchant-receiver';
import { eventually } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { uniqueId } from '../support/temporal';
import { createSuiteDatabase, type SuiteDatabase } from '../support/suite-database';

jest.setTimeout(240_000);

const ADMIN_TOKEN = 'merchant-endpoints-admin-token-0123456789';
const receivers: MerchantReceiver[] = [];
let stack: Stack;

let database: SuiteDatabase;

beforeAll(async () => {
  database = await createSuiteDatabase();
  stack = await startStack(
    { POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h', ADMIN_API_TOKEN: ADMIN_TOKEN, DATABASE_URL: database.url },
    {
      DATABASE_URL: database.url,
      MERCHANT_WEBHOOK_TIMEOUT: '2s',
      MERCHANT_WEBHOOK_RETRY_INITIAL: '200ms',
      MERCHANT_WEBHOOK_RETRY_MAX_INTERVAL: '500ms',
      // Short, so a delivery runs out of retries within the test.
      MERCHANT_WEBHOOK_RETRY_FOR: '3s',
      MERCHANT_EVENT_SWEEP_INTERVAL: '5s',
    },
  );
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all(receivers.map((receiver) => receiver.stop()));
  await database?.drop();
});

async function admin<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** A receiver behind a new admin endpoint (signing with the secret the API returned). */
async function endpointWithReceiver(
  eventTypes?: string[],
): Promise<{ endpointId: string; receiver: MerchantReceiver; secret: string }> {
  const endpointId = uniqueId('ep');
  // The receiver needs the secret and the endpoint its URL: start it with a placeholder, then re-key it.
  const created = await admin<{ secret: string; endpoint: { enabled: boolean } }>('POST', '/admin/merchant-endpoints', {
    endpointId,
    url: 'http://127.0.0.1:9/placeholder',
    ...(eventTypes ? { eventTypes } : {}),
  });
  expect(created.status).toBe(201);
  expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  const receiver = await startMerchantReceiver(created.body.secret);
  receivers.push(receiver);
  const changed = await admin('PATCH', `/admin/merchant-endpoints/${endpointId}`, { url: receiver.url });
  expect(changed.status).toBe(200);
  return { endpointId, receiver, secret: created.body.secret };
}

async function checkoutAndPay(orderId: string): Promise<void> {
  const response = await stack.fetch('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orderId, amount: 1_200, currency: 'EUR', gateway: 'stripe' }),
  });
  expect(response.status).toBe(201);
  const { paymentUrl } = (await response.json()) as { paymentUrl: string };
  expect((await fetch(`${paymentUrl}/pay`, { method: 'POST', redirect: 'manual' })).status).toBe(303);
}

function waitForEvent(receiver: MerchantReceiver, orderId: string, type: string, timeoutMs = 30_000) {
  return eventually(async () => receiver.eventsOf(orderId).find((event) => event.type === type), {
    timeoutMs,
    what: `${type} of ${orderId}`,
  }).catch((error: unknown) => {
    console.error(stack.logs());
    throw error;
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

describe('merchant endpoints through the admin API', () => {
  it('when an endpoint chooses order.paid only and its secret is rotated, then it gets just that type, signed by the old and the new secret', async () => {
    const { endpointId, receiver, secret } = await endpointWithReceiver(['order.paid']);
    const first = uniqueId('ep-types');
    await checkoutAndPay(first);
    await waitForEvent(receiver, first, 'order.paid');
    expect(receiver.eventsOf(first).map((event) => event.type)).toEqual(['order.paid']);

    const rotated = await admin<{ secret: string; endpoint: { secrets: unknown[] } }>(
      'POST',
      `/admin/merchant-endpoints/${endpointId}/rotate-secret`,
      { keepPreviousFor: '1h' },
    );
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(secret);
    expect(rotated.body.endpoint.secrets).toHaveLength(2);
    expect(JSON.stringify(rotated.body.endpoint)).not.toContain('whsec_');
    const second = uniqueId('ep-rotated');
    await checkoutAndPay(second);
    const paid = await waitForEvent(receiver, second, 'order.paid');
    const delivery = receiver.deliveries.find((candidate) => candidate.headers['webhook-id'] === paid.id);
    if (!delivery) throw new Error('no delivery');
    expect(delivery.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(new Webhook(rotated.body.secret).verify(delivery.body, delivery.headers)).toMatchObject({ id: paid.id });
    expect(new Webhook(secret).verify(delivery.body, delivery.headers)).toMatchObject({ id: paid.id });

    // Redelivering one event sends the same event ID again; the receiver drops it as a duplicate.
    const redelivered = await admin<{ reset: number }>('POST', `/admin/merchant-events/${paid.id}/redeliver`, {});
    expect(redelivered).toEqual({ status: 202, body: { reset: 1 } });
    await eventually(async () => (receiver.duplicates.some((event) => event.id === paid.id) ? true : undefined), {
      what: 'the redelivered event',
    });
  });

  it('when an endpoint answers 410 Gone, then it is disabled after that one attempt and gets nothing more', async () => {
    const { endpointId, receiver } = await endpointWithReceiver();
    receiver.setFaults({ gone: true });
    const orderId = uniqueId('ep-gone');
    await checkoutAndPay(orderId);
    const endpoint = await eventually(
      async () => {
        const { body } = await admin<{ enabled: boolean; disabledReason: string | null }>(
          'GET',
          `/admin/merchant-endpoints/${endpointId}`,
        );
        return body.enabled ? undefined : body;
      },
      { what: 'the endpoint disabled' },
    );
    expect(endpoint.disabledReason).toBe('gone');
    const later = uniqueId('ep-gone-later');
    await checkoutAndPay(later);
    await stack.fetch(`/orders/${later}`);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(receiver.deliveries).toHaveLength(1);
    expect(receiver.deliveries[0]?.status).toBe(410);
  });

  it('when retries run out, then the delivery is failed, and redelivering the time range delivers it', async () => {
    const { endpointId, receiver } = await endpointWithReceiver(['order.paid']);
    receiver.setFaults({ failNext: 1_000, failStatus: 503 });
    const from = new Date(Date.now() - 1_000).toISOString();
    const orderId = uniqueId('ep-failed');
    await checkoutAndPay(orderId);
    const failed = await eventually(
      async () => {
        const { body } = await admin<{
          events: { eventId: string; deliveries: { endpointId: string; state: string }[] }[];
        }>('GET', `/admin/merchant-events?orderId=${orderId}&type=order.paid&deliveryState=failed`);
        const event = body.events[0];
        return event?.deliveries.find((delivery) => delivery.endpointId === endpointId)?.state === 'failed'
          ? event
          : undefined;
      },
      { timeoutMs: 30_000, what: 'a failed delivery' },
    );
    const detail = await admin<{ attempts: { endpointId: string; outcome: string; statusCode: number }[] }>(
      'GET',
      `/admin/merchant-events/${failed.eventId}`,
    );
    // The event went to every endpoint subscribed to order.paid; this one's attempts were all refused.
    const attempts = detail.body.attempts.filter((attempt) => attempt.endpointId === endpointId);
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(attempts.every((attempt) => attempt.outcome === 'rejected' && attempt.statusCode === 503)).toBe(true);

    receiver.setFaults({});
    const reset = await admin<{ reset: number }>('POST', '/admin/merchant-events/redeliver', {
      from,
      to: new Date(Date.now() + 1_000).toISOString(),
    });
    expect(reset.status).toBe(202);
    expect(reset.body.reset).toBeGreaterThanOrEqual(1);
    const paid = await waitForEvent(receiver, orderId, 'order.paid');
    expect(paid.id).toBe(failed.eventId);
  });

  it('when 20 orders are paid, then order.paid reaches the receiver quickly (p50/p99 from PAID to its 2xx are reported)', async () => {
    const { receiver } = await endpointWithReceiver(['order.paid']);
    const latencies: number[] = [];
    for (let index = 0; index < 20; index += 1) {
      const orderId = uniqueId(`ep-latency-${index}`);
      await checkoutAndPay(orderId);
      const paid = await waitForEvent(receiver, orderId, 'order.paid');
      const delivery = receiver.deliveries.find((candidate) => candidate.headers['webhook-id'] === paid.id);
      if (!delivery) throw new Error('no delivery');
      // The event's timestamp is when the PAID transition committed.
      latencies.push(delivery.answeredAt - Date.parse(paid.timestamp));
    }
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(
      `merchant event latency PAID -> receiver 2xx over ${latencies.length} orders: p50 ${p50} ms, p99 ${p99} ms`,
    );
    expect(p50).toBeLessThan(5_000);
  });
});
