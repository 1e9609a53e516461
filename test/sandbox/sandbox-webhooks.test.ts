// Proves the sandbox delivers webhooks like Stripe (signed so our verifier accepts them, retried with backoff)
// and that each webhook fault knob is observable at a real HTTP receiver. Also covers the /_sandbox control API
// and the raw Stripe protocol details the SDK depends on (idempotent replay header, error shape).
import type { CreateIntentRequest, PaymentGateway } from '../../gateways/gateway';
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';
import type { RunningSandbox } from '../../sandbox/server';
import {
  eventually,
  sleep,
  startTestSandbox,
  startWebhookReceiver,
  submitPaymentPage,
  TEST_STRIPE_KEY,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../support/sandbox';
import { uniqueId } from '../support/temporal';

let receiver: WebhookReceiver;
let running: RunningSandbox;
let gateway: PaymentGateway;

const verifier = createStripeWebhookVerifier({ secrets: [TEST_WEBHOOK_SECRET], toleranceSeconds: 300 });

beforeEach(async () => {
  receiver = await startWebhookReceiver();
  running = await startTestSandbox({ webhookUrl: receiver.url });
  gateway = createStripeGateway({
    apiBase: running.url,
    secretKey: TEST_STRIPE_KEY,
    timeoutMs: 2_000,
    publicBaseUrl: 'http://shop.test',
  });
});

afterEach(async () => {
  await running.stop();
  await receiver.close();
});

function intentRequest(): CreateIntentRequest {
  const orderId = uniqueId('ord');
  return {
    orderId,
    amountMinor: 4_200,
    currency: 'EUR',
    expiresAt: new Date(Date.now() + 15 * 60_000),
    idempotencyKey: orderId,
  };
}

async function payNewOrder() {
  const request = intentRequest();
  const intent = await gateway.createIntent(request);
  const paid = await submitPaymentPage(intent.paymentUrl, 'pay');
  expect(paid.status).toBe(303);
  return { ...request, ...intent };
}

function receivedTypes(): string[] {
  return receiver.received.map((webhook) => webhook.event.type);
}

function webhookStats() {
  return running.sandbox.stats().webhooks;
}

describe('webhook delivery', () => {
  test('when the payer pays, then signed events arrive that our verifier accepts as a capture of the order', async () => {
    const order = await payNewOrder();

    await eventually(() => expect(receiver.received).toHaveLength(2));
    expect(receivedTypes().sort()).toEqual(['checkout.session.completed', 'payment_intent.succeeded']);
    const verified = receiver.received.map((webhook) => verifier.verify(webhook.rawBody, webhook.headers));
    for (const webhook of verified) {
      expect(webhook.orderId).toBe(order.orderId);
      expect(webhook.paymentEvent).toMatchObject({
        kind: 'captured',
        verified: true,
        amountMinor: 4_200,
        currency: 'EUR',
      });
    }
    const completed = verified.find((webhook) => webhook.eventType === 'checkout.session.completed');
    expect(completed?.paymentEvent?.intentId).toBe(order.intentId);
    // The receiver records a request before the sandbox has read its answer.
    await eventually(() =>
      expect(webhookStats()).toMatchObject({ events: 2, attempted: 2, succeeded: 2, failed: 0, pending: 0 }),
    );
  });

  test('when the order is cancelled and later refunded elsewhere, then expiry and refund events arrive for it', async () => {
    const open = intentRequest();
    const { intentId } = await gateway.createIntent(open);
    await gateway.cancelIntent({ orderId: open.orderId, intentId });
    const paid = await payNewOrder();
    await gateway.refund({ ...paid, refundId: `refund-${paid.orderId}-1`, amountMinor: 1_000, reason: 'x' });

    await eventually(() => expect(receiver.received).toHaveLength(4));
    const verified = receiver.received.map((webhook) => verifier.verify(webhook.rawBody, webhook.headers));
    expect(verified.find((w) => w.eventType === 'checkout.session.expired')).toMatchObject({
      orderId: open.orderId,
      paymentEvent: { kind: 'cancelled', intentId },
    });
    expect(verified.find((w) => w.eventType === 'charge.refunded')).toMatchObject({
      orderId: paid.orderId,
      paymentEvent: { kind: 'refunded', amountMinor: 1_000, currency: 'EUR' },
    });
  });

  test('when the card is declined, then a payment_failed event arrives that maps to failed', async () => {
    const request = intentRequest();
    const { paymentUrl } = await gateway.createIntent(request);
    await submitPaymentPage(paymentUrl, 'decline');

    await eventually(() => expect(receiver.received).toHaveLength(1));
    const [webhook] = receiver.received;
    expect(webhook?.event.type).toBe('payment_intent.payment_failed');
    const verified = verifier.verify(webhook?.rawBody ?? Buffer.alloc(0), webhook?.headers ?? {});
    expect(verified).toMatchObject({ orderId: request.orderId, paymentEvent: { kind: 'failed' } });
  });

  test('when the receiver fails the first attempts, then the event is retried with backoff until it is accepted', async () => {
    receiver.respondWith((requestNumber) => (requestNumber <= 2 ? 500 : 200));
    const request = intentRequest();
    const { intentId } = await gateway.createIntent(request);
    await gateway.cancelIntent({ orderId: request.orderId, intentId });

    await eventually(() => expect(receiver.received.map((w) => w.status)).toEqual([500, 500, 200]));
    const ids = new Set(receiver.received.map((w) => w.event.id));
    expect(ids.size).toBe(1);
    // Backoff: 20 ms before the second attempt, 40 ms before the third.
    const [first, second, third] = receiver.received.map((w) => w.at);
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(15);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(35);
    // The receiver records a request before the sandbox has read its answer.
    await eventually(() =>
      expect(webhookStats()).toMatchObject({ attempted: 3, failed: 2, succeeded: 1, abandoned: 0, pending: 0 }),
    );
    // Each attempt is signed afresh and still verifies.
    expect(() => verifier.verify(receiver.received[2]!.rawBody, receiver.received[2]!.headers)).not.toThrow();
  });

  test('when the receiver never accepts, then delivery stops after the last attempt', async () => {
    receiver.respondWith(() => 503);
    const request = intentRequest();
    const { intentId } = await gateway.createIntent(request);
    await gateway.cancelIntent({ orderId: request.orderId, intentId });

    await eventually(() => expect(webhookStats()).toMatchObject({ abandoned: 1, pending: 0 }));
    expect(receiver.received).toHaveLength(5);
    await sleep(300);
    expect(receiver.received).toHaveLength(5);
  });

  test('when the receiver is unreachable, then the API still answers at once', async () => {
    await receiver.close();
    const started = Date.now();
    const order = await payNewOrder();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await gateway.fetchPaymentStatus(order)).state).toBe('captured');
    await eventually(() => expect(webhookStats().failed).toBeGreaterThanOrEqual(2));
  });
});

describe('webhook faults', () => {
  test('when the drop rate is 1, then no event reaches the receiver and the drops are counted', async () => {
    running.sandbox.setFaults({ webhookDropRate: 1 });
    await payNewOrder();

    await sleep(200);
    expect(receiver.received).toHaveLength(0);
    expect(webhookStats()).toMatchObject({ events: 2, dropped: 2, attempted: 0 });
  });

  test('when the duplicate rate is 1, then every event arrives twice, each copy verifiable', async () => {
    running.sandbox.setFaults({ webhookDuplicateRate: 1 });
    await payNewOrder();

    await eventually(() => expect(receiver.received).toHaveLength(4));
    const counts = new Map<string, number>();
    for (const webhook of receiver.received) {
      counts.set(webhook.event.id, (counts.get(webhook.event.id) ?? 0) + 1);
      expect(() => verifier.verify(webhook.rawBody, webhook.headers)).not.toThrow();
    }
    expect([...counts.values()]).toEqual([2, 2]);
    // The receiver records a request before the sandbox has read its answer.
    await eventually(() => expect(webhookStats()).toMatchObject({ duplicated: 2, succeeded: 4 }));
  });

  test('when a delay is set, then events arrive no sooner than the delay', async () => {
    running.sandbox.setFaults({ webhookDelayMs: 400 });
    const paidAt = Date.now();
    await payNewOrder();

    await sleep(250);
    expect(receiver.received).toHaveLength(0);
    await eventually(() => expect(receiver.received).toHaveLength(2));
    for (const webhook of receiver.received) expect(webhook.at - paidAt).toBeGreaterThanOrEqual(400);
  });

  test('when reordering is on, then events held together arrive newest first once the window closes', async () => {
    running.sandbox.setFaults({ webhookReorder: true, webhookReorderWindowMs: 150 });
    const paidAt = Date.now();
    // One payment emits payment_intent.succeeded, then checkout.session.completed, in the same instant.
    await payNewOrder();

    await eventually(() => expect(receiver.received).toHaveLength(2));
    expect(receivedTypes()).toEqual(['checkout.session.completed', 'payment_intent.succeeded']);
    expect((receiver.received[0]?.at ?? 0) - paidAt).toBeGreaterThanOrEqual(150);
  });

  test('when reordering is switched off, then the held batch is sent at once, newest first', async () => {
    // A window longer than the test: only switching reordering off can release these events.
    running.sandbox.setFaults({ webhookReorder: true, webhookReorderWindowMs: 60_000 });
    const orders: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const request = intentRequest();
      const { intentId } = await gateway.createIntent(request);
      await gateway.cancelIntent({ orderId: request.orderId, intentId });
      orders.push(request.orderId);
    }
    await sleep(100);
    expect(receiver.received).toHaveLength(0);

    running.sandbox.setFaults({ webhookReorder: false });
    await eventually(() => expect(receiver.received).toHaveLength(3));
    const arrived = receiver.received.map((webhook) => verifier.verify(webhook.rawBody, webhook.headers).orderId);
    expect(arrived).toEqual([...orders].reverse());
  });
});

describe('sandbox control API', () => {
  async function control(path: string, init?: RequestInit) {
    const response = await fetch(`${running.url}/_sandbox${path}`, init);
    return { status: response.status, body: response.status === 204 ? undefined : await response.json() };
  }

  test('when faults are set over HTTP, then they are validated, applied and readable', async () => {
    const set = await control('/faults', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiErrorRate: 1, webhookDelayMs: 10 }),
    });
    expect(set).toMatchObject({ status: 200, body: { apiErrorRate: 1, webhookDelayMs: 10, webhookDropRate: 0 } });
    expect((await control('/faults')).body).toMatchObject({ apiErrorRate: 1 });
    await expect(gateway.createIntent(intentRequest())).rejects.toMatchObject({ httpStatus: 500 });

    const invalid = await control('/faults', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ webhookDropRate: 2, unknownKnob: true }),
    });
    expect(invalid.status).toBe(400);
    expect((await control('/faults')).body).toMatchObject({ apiErrorRate: 1, webhookDropRate: 0 });
  });

  test('when stats, sessions and reset are used over HTTP, then they report and clear the gateway state', async () => {
    const order = await payNewOrder();
    await eventually(() => expect(receiver.received).toHaveLength(2));

    const stats = await control('/stats');
    expect(stats.body).toMatchObject({
      sessionsCreated: 1,
      sessionsByOrderId: { [order.orderId]: 1 },
      paymentsCaptured: 1,
      webhooks: { succeeded: 2 },
    });
    const sessions = await control(`/sessions?orderId=${encodeURIComponent(order.orderId)}`);
    expect(sessions.body).toMatchObject({ object: 'list', data: [{ id: order.intentId, status: 'complete' }] });
    expect((await control('/sessions?orderId=nobody')).body).toEqual({ object: 'list', data: [] });

    expect((await control('/reset', { method: 'POST' })).status).toBe(204);
    expect((await control('/stats')).body).toMatchObject({
      sessionsCreated: 0,
      sessionsByOrderId: {},
      paymentsCaptured: 0,
      apiRequests: 0,
      idempotentReplays: 0,
      webhooks: { events: 0, succeeded: 0 },
    });
    expect((await gateway.fetchPaymentStatus(order)).state).toBe('not_found');
  });
});

describe('Stripe protocol details', () => {
  const form = new URLSearchParams({
    mode: 'payment',
    'line_items[0][quantity]': '1',
    'line_items[0][price_data][currency]': 'usd',
    'line_items[0][price_data][unit_amount]': '500',
    'line_items[0][price_data][product_data][name]': 'Tea',
    success_url: 'http://shop.test/done',
    'metadata[orderId]': 'raw-1',
  }).toString();

  function post(body: string, key: string, apiKey = TEST_STRIPE_KEY) {
    return fetch(`${running.url}/v1/checkout/sessions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${apiKey}`,
        'content-type': 'application/x-www-form-urlencoded',
        'idempotency-key': key,
      },
      body,
    });
  }

  test('when a request is repeated with its idempotency key, then the stored answer is replayed and marked', async () => {
    const first = await post(form, 'key-1');
    const second = await post(form, 'key-1');

    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.json()).toEqual(await first.json());
    expect(running.sandbox.stats().sessionsByOrderId['raw-1']).toBe(1);
  });

  test('when the key is reused with other parameters, then Stripe-shaped idempotency_error comes back', async () => {
    await post(form, 'key-2');
    const conflict = await post(form.replace('500', '600'), 'key-2');

    expect(conflict.status).toBe(400);
    expect(await conflict.json()).toEqual({ error: { type: 'idempotency_error', message: expect.any(String) } });
  });

  test('when a parameter is invalid, then a 400 names it and the key stays free for a corrected request', async () => {
    const invalid = await post(form.replace('500', '5.5'), 'key-3');
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({
      error: { type: 'invalid_request_error', param: 'line_items[0][price_data][unit_amount]' },
    });

    expect((await post(form, 'key-3')).status).toBe(200);
  });

  test('when the API key is wrong, then a 401 in Stripe error shape comes back without echoing the key', async () => {
    const response = await post(form, 'key-4', 'sk_test_leaked_value');
    const text = await response.text();

    expect(response.status).toBe(401);
    expect(JSON.parse(text)).toMatchObject({ error: { type: 'invalid_request_error', code: 'api_key_invalid' } });
    expect(text).not.toContain('sk_test_leaked_value');
  });
});
