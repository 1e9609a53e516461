// POST /orders, GET /orders/:id and POST /orders/:id/cancel over real HTTP, against the real order workflow on the
// test Temporal server, the real activities on the test database, and a fake payment gateway.
import type { Client } from '@temporalio/client';
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId, paymentEventSignal } from '../../contracts/order.contract';
import type { Pool } from '../../db/pool';
import { http, postJson, startApiHarness, type ApiHarness, type HttpResult } from '../support/api-harness';
import type { FakeGateway } from '../support/fake-gateway';
import { uniqueId } from '../support/temporal';

function checkoutBody(orderId: string, overrides: Record<string, unknown> = {}) {
  return {
    orderId,
    amount: 2599,
    currency: 'USD',
    gateway: 'stripe',
    description: 'Two coffees',
    customer: { name: 'Ada Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
    returnUrl: 'https://shop.example/orders/return',
    ...overrides,
  };
}

function expectErrorShape(result: HttpResult, status: number, code: string): void {
  expect({ status: result.status, code: result.body?.error?.code }).toEqual({ status, code });
  expect(typeof result.body.error.message).toBe('string');
  expect(Object.keys(result.body)).toEqual(['error']);
}

let harness: ApiHarness;
let pool: Pool;
let temporal: Client;
let gateway: FakeGateway;
let api: RunningApiServer;
/** Same worker, but orders it starts close one second after their last status change. */
let shortGraceApi: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({
    config: { ORDER_GRACE_PERIOD: '1h' },
    stripeWebhookSecret: 'whsec_orders_test',
  });
  ({ pool, temporal, gateway } = harness);
  api = await harness.startApi();
  shortGraceApi = await harness.startApi({
    config: harness.config({ TEMPORAL_TASK_QUEUE: harness.worker.taskQueue, ORDER_GRACE_PERIOD: '1s' }),
  });
});

afterAll(() => harness?.stop());

async function orderRow(orderId: string) {
  const { rows } = await pool.query(
    'SELECT order_id, status, amount_minor, request_hash FROM orders WHERE order_id = $1',
    [orderId],
  );
  return rows[0] as { order_id: string; status: string; amount_minor: number; request_hash: string } | undefined;
}

async function idempotencyRows(key: string) {
  const { rows } = await pool.query(
    `SELECT response_status, response_body, order_id FROM idempotency_records WHERE scope = 'POST /orders' AND idempotency_key = $1`,
    [key],
  );
  return rows as { response_status: number; response_body: unknown; order_id: string }[];
}

async function workflowExists(orderId: string): Promise<boolean> {
  try {
    await temporal.workflow.getHandle(orderWorkflowId(orderId)).describe();
    return true;
  } catch {
    return false;
  }
}

describe('POST /orders validation', () => {
  const invalidBodies: [string, (orderId: string) => unknown, string][] = [
    ['orderId is missing', (id) => ({ ...checkoutBody(id), orderId: undefined }), 'orderId'],
    ['orderId has a space', () => checkoutBody('has space'), 'orderId'],
    ['orderId has a slash', () => checkoutBody('../etc'), 'orderId'],
    ['orderId is 65 characters', () => checkoutBody('a'.repeat(65)), 'orderId'],
    ['amount is zero', (id) => checkoutBody(id, { amount: 0 }), 'amount'],
    ['amount is negative', (id) => checkoutBody(id, { amount: -100 }), 'amount'],
    ['amount is a fraction', (id) => checkoutBody(id, { amount: 25.99 }), 'amount'],
    ['amount is a string', (id) => checkoutBody(id, { amount: '2599' }), 'amount'],
    ['amount is beyond the safe integers', (id) => checkoutBody(id, { amount: 2 ** 53 }), 'amount'],
    ['currency is lower case', (id) => checkoutBody(id, { currency: 'usd' }), 'currency'],
    ['currency has two letters', (id) => checkoutBody(id, { currency: 'US' }), 'currency'],
    ['currency is not an ISO 4217 code', (id) => checkoutBody(id, { currency: 'USX' }), 'currency'],
    ['gateway is unknown', (id) => checkoutBody(id, { gateway: 'paypal' }), 'gateway'],
    ['description is 201 characters', (id) => checkoutBody(id, { description: 'x'.repeat(201) }), 'description'],
    ['customer email is not an address', (id) => checkoutBody(id, { customer: { email: 'nope' } }), 'customer.email'],
    ['customer has an unknown field', (id) => checkoutBody(id, { customer: { ssn: '1' } }), 'customer.ssn'],
    ['customer phone has letters', (id) => checkoutBody(id, { customer: { phone: 'call me' } }), 'customer.phone'],
    ['returnUrl is javascript:', (id) => checkoutBody(id, { returnUrl: 'javascript:alert(1)' }), 'returnUrl'],
    ['returnUrl is not a URL', (id) => checkoutBody(id, { returnUrl: 'shop' }), 'returnUrl'],
    ['an unknown field is present', (id) => checkoutBody(id, { amountMajor: 25.99 }), 'amountMajor'],
    ['the body is an array', (id) => [checkoutBody(id)], '(body)'],
  ];

  test.each(invalidBodies)(
    'when %s, then 400 validation_failed names the field and nothing starts',
    async (_case, body, field) => {
      const orderId = uniqueId('inv');
      const result = await postJson(api.url, '/orders', body(orderId));
      expectErrorShape(result, 400, 'validation_failed');
      expect(result.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      expect(await idempotencyRows(orderId)).toEqual([]);
      expect(await workflowExists(orderId)).toBe(false);
    },
  );

  test('when several fields are wrong, then every one is listed', async () => {
    const result = await postJson(api.url, '/orders', { orderId: 'ok-1', amount: -1, currency: 'x', gateway: 'nope' });
    expectErrorShape(result, 400, 'validation_failed');
    const fields = (result.body.error.details as { field: string }[]).map((d) => d.field).sort();
    expect(fields).toEqual(['amount', 'currency', 'gateway']);
  });

  test('when the Idempotency-Key header is too long, then 400 names the header', async () => {
    const orderId = uniqueId('key');
    const result = await postJson(api.url, '/orders', checkoutBody(orderId), { 'Idempotency-Key': 'k'.repeat(256) });
    expectErrorShape(result, 400, 'validation_failed');
    expect(result.body.error.details).toEqual([expect.objectContaining({ field: 'Idempotency-Key' })]);
    expect(await workflowExists(orderId)).toBe(false);
  });

  test('when the JSON is malformed, then 400 malformed_json', async () => {
    const result = await http(api.url, 'POST', '/orders', {
      body: '{"orderId": "x", "amount": ',
      headers: { 'content-type': 'application/json' },
    });
    expectErrorShape(result, 400, 'malformed_json');
  });

  test('when the JSON is a bare string, then 400 malformed_json', async () => {
    const result = await http(api.url, 'POST', '/orders', {
      body: '"hello"',
      headers: { 'content-type': 'application/json' },
    });
    expectErrorShape(result, 400, 'malformed_json');
  });

  test('when the JSON body is empty, then 400 validation_failed', async () => {
    const result = await http(api.url, 'POST', '/orders', {
      body: '',
      headers: { 'content-type': 'application/json' },
    });
    expectErrorShape(result, 400, 'validation_failed');
  });

  test.each([
    ['text/plain', JSON.stringify(checkoutBody('ct-1'))],
    ['application/x-www-form-urlencoded', 'orderId=ct-2&amount=100'],
    ['multipart/form-data; boundary=x', '--x--'],
  ])('when the content type is %s, then 415 unsupported_media_type', async (contentType, body) => {
    const result = await http(api.url, 'POST', '/orders', { body, headers: { 'content-type': contentType } });
    expectErrorShape(result, 415, 'unsupported_media_type');
    expect(await workflowExists('ct-1')).toBe(false);
  });

  test('when there is no body and no content type, then 415 unsupported_media_type', async () => {
    const result = await http(api.url, 'POST', '/orders');
    expectErrorShape(result, 415, 'unsupported_media_type');
  });

  test('when the body is larger than the limit, then 413 payload_too_large', async () => {
    const body = JSON.stringify({ ...checkoutBody(uniqueId('big')), description: 'x'.repeat(20_000) });
    const result = await http(api.url, 'POST', '/orders', { body, headers: { 'content-type': 'application/json' } });
    expectErrorShape(result, 413, 'payload_too_large');
  });
});

describe('routing and request IDs', () => {
  test('when the route is unknown, then 404 not_found', async () => {
    expectErrorShape(await http(api.url, 'GET', '/nope'), 404, 'not_found');
    expectErrorShape(await http(api.url, 'POST', '/orders/x/refund-everything'), 404, 'not_found');
  });

  test('when the method is wrong, then 405 with an Allow header', async () => {
    const deleted = await http(api.url, 'DELETE', '/orders');
    expectErrorShape(deleted, 405, 'method_not_allowed');
    expect(deleted.headers.get('allow')).toBe('POST, OPTIONS');
    const put = await http(api.url, 'PUT', '/orders/some-order');
    expectErrorShape(put, 405, 'method_not_allowed');
    expect(put.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expectErrorShape(await http(api.url, 'GET', '/orders/x/cancel'), 405, 'method_not_allowed');
  });

  test('when the path has broken percent-encoding, then 400 bad_request', async () => {
    expectErrorShape(await http(api.url, 'GET', '/orders/%E0%A4%A'), 400, 'bad_request');
  });

  test('when the caller sends X-Request-Id, then it is echoed; when it is unusable, then a new one is made', async () => {
    const echoed = await http(api.url, 'GET', '/nope', { headers: { 'X-Request-Id': 'req-123.abc' } });
    expect(echoed.headers.get('x-request-id')).toBe('req-123.abc');
    const replaced = await http(api.url, 'GET', '/nope', { headers: { 'X-Request-Id': 'has spaces and <tags>' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('when requests are fuzzed (random methods, paths, content types and bytes), then none gets a 5xx', async () => {
    // A fixed-seed generator, so a failure reproduces.
    let seed = 20251121;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
    const paths = [
      '/orders',
      '/orders/',
      '/orders/%00',
      '/orders/a%2Fb',
      '/orders/x/cancel',
      '/webhooks/stripe',
      '/webhooks/paypal',
      '/webhooks/',
      '/readyz/x',
      '/orders/%ZZ',
      '/orders/' + 'x'.repeat(300),
    ];
    const contentTypes = [
      'application/json',
      'application/json; charset=latin1',
      'text/plain',
      'application/octet-stream',
      'application/json; charset=utf-16',
    ];
    const bodies = [
      '{',
      '[]',
      'null',
      '{"orderId":{}}',
      '{"__proto__":{"x":1}}',
      '\u0000\u0001',
      '{"amount":1e400}',
      '{"orderId":"a","amount":1,"currency":"USD","gateway":"stripe","customer":[]}',
    ];
    const failures: string[] = [];
    for (let i = 0; i < 120; i++) {
      const method = pick(methods);
      const path = pick(paths);
      const hasBody = method !== 'GET' && method !== 'OPTIONS';
      const result = await http(api.url, method, path, {
        body: hasBody ? pick(bodies) : undefined,
        headers: hasBody ? { 'content-type': pick(contentTypes) } : {},
      });
      if (result.status >= 500) failures.push(`${method} ${path} -> ${result.status} ${result.text}`);
      if (result.status >= 400 && result.body?.error?.code === undefined)
        failures.push(`${method} ${path} -> no error code`);
    }
    expect(failures).toEqual([]);
  });
});

describe('POST /orders checkout', () => {
  test('when the request is valid, then 201 with the payment URL, and the workflow recorded the order', async () => {
    const orderId = uniqueId('ord');
    const result = await postJson(api.url, '/orders', checkoutBody(orderId));

    expect(result.status).toBe(201);
    const intent = gateway.intentFor(orderId);
    expect(result.body).toEqual({
      orderId,
      status: 'AWAITING_PAYMENT',
      paymentUrl: intent?.paymentUrl,
      expiresAt: expect.any(String),
      amount: 2599,
      currency: 'USD',
      gateway: 'stripe',
      clientSecret: expect.stringMatching(new RegExp(`^${orderId}_secret_`)),
    });
    expect(result.headers.get('idempotent-replayed')).toBeNull();
    expect(await orderRow(orderId)).toMatchObject({ status: 'AWAITING_PAYMENT', amount_minor: 2599 });
    // The payer's client secret is derived on every answer, never stored.
    const { clientSecret: _derived, ...stored } = result.body as Record<string, unknown>;
    expect(await idempotencyRows(orderId)).toEqual([
      { response_status: 201, response_body: stored, order_id: orderId },
    ]);
  });

  test('when the same request is sent again, then 200 replays the same body and the gateway saw one intent', async () => {
    const orderId = uniqueId('rep');
    const first = await postJson(api.url, '/orders', checkoutBody(orderId));
    // Same data, other key order and spacing: still the same request.
    const reordered = `{ "gateway":"stripe", "currency":"USD", "amount":2599, "orderId":"${orderId}", "returnUrl":"https://shop.example/orders/return", "customer":{"phone":"+44 20 7946 0000","email":"ada@example.com","name":"Ada Lovelace"}, "description":"Two coffees" }`;
    const second = await http(api.url, 'POST', '/orders', {
      body: reordered,
      headers: { 'content-type': 'application/json' },
    });

    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(gateway.callsTo('createIntent', orderId)).toHaveLength(1);
  });

  test('when an Idempotency-Key is given, then it keys the replay, and another order under it is a 409', async () => {
    const key = `key-${uniqueId('k')}`;
    const orderId = uniqueId('idk');
    const first = await postJson(api.url, '/orders', checkoutBody(orderId), { 'Idempotency-Key': key });
    const replay = await postJson(api.url, '/orders', checkoutBody(orderId), { 'Idempotency-Key': key });
    const otherOrder = uniqueId('idk');
    const conflict = await postJson(api.url, '/orders', checkoutBody(otherOrder), { 'Idempotency-Key': key });

    expect(first.status).toBe(201);
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expectErrorShape(conflict, 409, 'idempotency_conflict');
    expect(await idempotencyRows(key)).toHaveLength(1);
    expect(await workflowExists(otherOrder)).toBe(false);
  });

  test('when the same order comes under a new key while it runs, then 200 replayed with the current checkout', async () => {
    const orderId = uniqueId('nky');
    const first = await postJson(api.url, '/orders', checkoutBody(orderId));
    const second = await postJson(api.url, '/orders', checkoutBody(orderId), { 'Idempotency-Key': uniqueId('new') });

    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(gateway.callsTo('createIntent', orderId)).toHaveLength(1);
  });

  test('when the same order ID comes with a different body, then 409 idempotency_conflict and the order is unchanged', async () => {
    const orderId = uniqueId('cfl');
    await postJson(api.url, '/orders', checkoutBody(orderId));
    const sameKey = await postJson(api.url, '/orders', checkoutBody(orderId, { amount: 1 }));
    const otherKey = await postJson(api.url, '/orders', checkoutBody(orderId, { amount: 1 }), {
      'Idempotency-Key': uniqueId('other'),
    });

    expectErrorShape(sameKey, 409, 'idempotency_conflict');
    expectErrorShape(otherKey, 409, 'idempotency_conflict');
    expect(await orderRow(orderId)).toMatchObject({ amount_minor: 2599 });
    expect(gateway.callsTo('createIntent', orderId)).toHaveLength(1);
  });

  test('when the gateway refuses the intent, then 502 gateway_rejected, replayed as such', async () => {
    const orderId = uniqueId('rej');
    gateway.rejectNextCalls('createIntent', 1, { orderId, code: 'currency_not_supported' });
    const first = await postJson(api.url, '/orders', checkoutBody(orderId));
    const again = await postJson(api.url, '/orders', checkoutBody(orderId));

    expectErrorShape(first, 502, 'gateway_rejected');
    expect(first.body.error.details).toEqual({ orderId, status: 'FAILED', failureReason: 'intent_rejected' });
    expect(again.status).toBe(502);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await orderRow(orderId)).toMatchObject({ status: 'FAILED' });
    expect(gateway.callsTo('createIntent', orderId)).toHaveLength(1);
  });

  test('when the order has finished and the same request comes under a new key, then 200 from the order row, nothing rerun', async () => {
    const orderId = uniqueId('fin');
    expect((await postJson(shortGraceApi.url, '/orders', checkoutBody(orderId))).status).toBe(201);
    expect((await http(shortGraceApi.url, 'POST', `/orders/${orderId}/cancel`)).status).toBe(200);
    await temporal.workflow.getHandle(orderWorkflowId(orderId)).result();

    const result = await postJson(api.url, '/orders', checkoutBody(orderId), { 'Idempotency-Key': uniqueId('late') });

    expect(result.status).toBe(200);
    expect(result.headers.get('idempotent-replayed')).toBe('true');
    expect(result.body).toMatchObject({
      orderId,
      status: 'CANCELLED',
      amount: 2599,
      currency: 'USD',
      gateway: 'stripe',
    });
    expect(gateway.callsTo('createIntent', orderId)).toHaveLength(1);
  });
});

describe('GET /orders/:orderId', () => {
  test('when the order exists, then its state, attempts and timeline come from the database, without customer data', async () => {
    const orderId = uniqueId('get');
    await postJson(api.url, '/orders', checkoutBody(orderId));

    const result = await http(api.url, 'GET', `/orders/${orderId}`);

    expect(result.status).toBe(200);
    const intent = gateway.intentFor(orderId);
    expect(result.body).toMatchObject({
      orderId,
      status: 'AWAITING_PAYMENT',
      amount: 2599,
      currency: 'USD',
      gateway: 'stripe',
      intentId: intent?.intentId,
      paymentUrl: intent?.paymentUrl,
      capturedAmount: 0,
      refundedAmount: 0,
      refunds: [],
      attempts: [expect.objectContaining({ gateway: 'stripe', intentId: intent?.intentId })],
    });
    expect(result.body.timeline.map((entry: { status: string }) => entry.status)).toEqual([
      'PENDING',
      'AWAITING_PAYMENT',
    ]);
    expect(result.body.timeline[1]).toMatchObject({ fromStatus: 'PENDING', reason: 'intent_created' });
    expect(result.text).not.toContain('ada@example.com');
    expect(result.text).not.toContain('Lovelace');
  });

  test('when the order is unknown, then 404 order_not_found', async () => {
    expectErrorShape(await http(api.url, 'GET', `/orders/${uniqueId('none')}`), 404, 'order_not_found');
  });

  test('when the order ID is invalid, then 400 validation_failed', async () => {
    const result = await http(api.url, 'GET', `/orders/${'x'.repeat(65)}`);
    expectErrorShape(result, 400, 'validation_failed');
    expect(result.body.error.details).toEqual([expect.objectContaining({ field: 'orderId' })]);
  });
});

describe('POST /orders/:orderId/cancel', () => {
  test('when the order awaits payment, then 200 CANCELLED, the intent is closed and the timeline says why', async () => {
    const orderId = uniqueId('cnl');
    await postJson(api.url, '/orders', checkoutBody(orderId));

    const result = await postJson(api.url, `/orders/${orderId}/cancel`, { reason: 'customer_changed_mind' });

    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ orderId, status: 'CANCELLED', capturedAmount: 0 });
    expect(gateway.callsTo('cancelIntent', orderId)).toHaveLength(1);
    expect(gateway.intentFor(orderId)?.state).toBe('cancelled');
    expect(await orderRow(orderId)).toMatchObject({ status: 'CANCELLED' });
    const view = await http(api.url, 'GET', `/orders/${orderId}`);
    expect(view.body.timeline.at(-1)).toMatchObject({
      status: 'CANCELLED',
      reason: 'cancel_requested:customer_changed_mind',
    });
  });

  test('when the order was paid, then cancelling refunds it in full', async () => {
    const orderId = uniqueId('cpd');
    gateway.payerPays(orderId);
    await postJson(api.url, '/orders', checkoutBody(orderId));
    // The payer paid at the gateway; a status hint makes the workflow look.
    await temporal.workflow.getHandle(orderWorkflowId(orderId)).signal(paymentEventSignal, {
      eventId: uniqueId('evt'),
      kind: 'captured',
      verified: false,
      occurredAt: new Date().toISOString(),
    });
    await waitForStatus(orderId, 'PAID');

    const result = await http(api.url, 'POST', `/orders/${orderId}/cancel`);

    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ status: 'REFUNDED', refundedAmount: 2599 });
    expect(gateway.refundsFor(orderId)).toEqual([expect.objectContaining({ amountMinor: 2599, state: 'succeeded' })]);
  });

  test('when the order failed at checkout, then 409 invalid_transition', async () => {
    const orderId = uniqueId('cft');
    gateway.rejectNextCalls('createIntent', 1, { orderId });
    await postJson(api.url, '/orders', checkoutBody(orderId));

    const result = await http(api.url, 'POST', `/orders/${orderId}/cancel`);

    expectErrorShape(result, 409, 'invalid_transition');
    expect(result.body.error.details).toEqual({ orderId, status: 'FAILED' });
  });

  test('when the order has closed, then 409 order_closed', async () => {
    const orderId = uniqueId('ccl');
    await postJson(shortGraceApi.url, '/orders', checkoutBody(orderId));
    await http(shortGraceApi.url, 'POST', `/orders/${orderId}/cancel`);
    await temporal.workflow.getHandle(orderWorkflowId(orderId)).result();

    expectErrorShape(await http(api.url, 'POST', `/orders/${orderId}/cancel`), 409, 'order_closed');
  });

  test('when the order is unknown, then 404 order_not_found', async () => {
    expectErrorShape(await http(api.url, 'POST', `/orders/${uniqueId('none')}/cancel`), 404, 'order_not_found');
  });

  test('when the body is not JSON or the reason is too long, then 415 or 400 and nothing is cancelled', async () => {
    const orderId = uniqueId('cbd');
    await postJson(api.url, '/orders', checkoutBody(orderId));

    const textBody = await http(api.url, 'POST', `/orders/${orderId}/cancel`, {
      body: 'now',
      headers: { 'content-type': 'text/plain' },
    });
    const longReason = await postJson(api.url, `/orders/${orderId}/cancel`, { reason: 'r'.repeat(201) });

    expectErrorShape(textBody, 415, 'unsupported_media_type');
    expectErrorShape(longReason, 400, 'validation_failed');
    expect(longReason.body.error.details).toEqual([expect.objectContaining({ field: 'reason' })]);
    expect(await orderRow(orderId)).toMatchObject({ status: 'AWAITING_PAYMENT' });
  });
});

async function waitForStatus(orderId: string, status: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if ((await orderRow(orderId))?.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`order ${orderId} never reached ${status}; it is ${(await orderRow(orderId))?.status}`);
}
