// The admin API's order actions over real HTTP, against real order workflows on the test Temporal server, real
// activities on the test database and the fake gateway: idempotent refunds, the forced re-check, the order list.
// Every answer is also parsed with the response schema the OpenAPI document is generated from.
import type { Client } from '@temporalio/client';
import { adminOrderListSchema, recheckResponseSchema, refundResponseSchema } from '../../api/admin/admin.schema';
import type { RunningApiServer } from '../../api/server';
import { errorBodySchema } from '../../api/http/responses.schema';
import { orderStateQuery, orderWorkflowId, paymentEventSignal } from '../../contracts/order.contract';
import type { Pool } from '../../db/pool';
import {
  http,
  postJson,
  startApiHarness,
  waitForOrderStatus,
  type ApiHarness,
  type HttpResult,
} from '../support/api-harness';
import type { FakeGateway } from '../support/fake-gateway';
import { uniqueId } from '../support/temporal';

const TOKEN = 'admin-orders-token-0123456789';
const admin = { authorization: `Bearer ${TOKEN}`, 'x-admin-actor': 'alice@example.com' };

let harness: ApiHarness;
let pool: Pool;
let temporal: Client;
let gateway: FakeGateway;
let api: RunningApiServer;
/** Orders it starts close one second after their last status change. */
let shortGraceApi: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({ config: { ADMIN_API_TOKEN: TOKEN } });
  ({ pool, temporal, gateway } = harness);
  api = await harness.startApi();
  shortGraceApi = await harness.startApi({
    config: harness.config({ TEMPORAL_TASK_QUEUE: harness.worker.taskQueue, ORDER_GRACE_PERIOD: '1s' }),
  });
});

afterAll(() => harness?.stop());

function expectError(result: HttpResult, status: number, code: string): void {
  expect({ status: result.status, code: result.body?.error?.code }).toEqual({ status, code });
  errorBodySchema.parse(result.body);
}

async function createOrder(baseUrl = api.url, amount = 5000): Promise<string> {
  const orderId = uniqueId('adm');
  const created = await postJson(baseUrl, '/orders', { orderId, amount, currency: 'USD', gateway: 'stripe' });
  expect(created.status).toBe(201);
  return orderId;
}

/** An order the payer has paid, recorded PAID (the hint makes the workflow look the payment up). */
async function paidOrder(amount = 5000): Promise<string> {
  const orderId = await createOrder(api.url, amount);
  gateway.payerPays(orderId);
  await temporal.workflow.getHandle(orderWorkflowId(orderId)).signal(paymentEventSignal, gateway.eventFor(orderId));
  await waitForOrderStatus(pool, orderId, 'PAID');
  // The row is written by the activity before the workflow's own state moves; refunds are judged by the latter.
  const workflow = temporal.workflow.getHandle(orderWorkflowId(orderId));
  while ((await workflow.query(orderStateQuery)).status !== 'PAID') await new Promise((r) => setTimeout(r, 50));
  return orderId;
}

const refund = (orderId: string, body: unknown, key?: string) =>
  postJson(api.url, `/admin/orders/${orderId}/refunds`, body, {
    ...admin,
    ...(key === undefined ? {} : { 'idempotency-key': key }),
  });

async function auditOf(target: string) {
  const { rows } = await pool.query(
    'SELECT actor, action, target, idempotency_key, outcome, details FROM admin_actions WHERE target = $1 ORDER BY id',
    [target],
  );
  return rows;
}

describe('POST /admin/orders/:orderId/refunds', () => {
  test('when a partial refund is asked, then the gateway refunds that amount once and the order is partially refunded', async () => {
    const orderId = await paidOrder(5000);
    const key = uniqueId('key');

    const result = await refund(orderId, { amount: 1200, reason: 'damaged item' }, key);

    expect(result.status).toBe(201);
    const body = refundResponseSchema.parse(result.body);
    expect(body.refund).toEqual({
      refundId: `refund-${orderId}-1`,
      requestId: key,
      amount: 1200,
      reason: 'damaged item',
      state: 'succeeded',
    });
    expect(body.order).toMatchObject({ orderId, status: 'PARTIALLY_REFUNDED', refundedAmount: 1200 });
    expect(gateway.refundsFor(orderId)).toEqual([expect.objectContaining({ amountMinor: 1200, state: 'succeeded' })]);
    expect(await auditOf(orderId)).toEqual([
      expect.objectContaining({
        actor: 'alice@example.com',
        action: 'order.refund',
        idempotency_key: key,
        outcome: 'succeeded',
        details: { amount: 1200, reason: 'damaged item', refundId: `refund-${orderId}-1` },
      }),
    ]);
  });

  test('when the same key and body come twice, then the second replays the first with 200 and the gateway refunds once', async () => {
    const orderId = await paidOrder(5000);
    const key = uniqueId('key');

    const first = await refund(orderId, { amount: 700, reason: 'goodwill' }, key);
    const second = await refund(orderId, { amount: 700, reason: 'goodwill' }, key);

    expect(first.status).toBe(201);
    // Nothing was created by the second request.
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(gateway.refundsFor(orderId)).toHaveLength(1);
    expect((await auditOf(orderId)).map((row) => row.outcome)).toEqual(['succeeded', 'replayed']);
  });

  test('when the same key comes with a different body, then 409 idempotency_conflict and nothing more is refunded', async () => {
    const orderId = await paidOrder(5000);
    const key = uniqueId('key');
    expect((await refund(orderId, { amount: 700, reason: 'goodwill' }, key)).status).toBe(201);

    const otherAmount = await refund(orderId, { amount: 900, reason: 'goodwill' }, key);
    const otherReason = await refund(orderId, { amount: 700, reason: 'other' }, key);

    expectError(otherAmount, 409, 'idempotency_conflict');
    expectError(otherReason, 409, 'idempotency_conflict');
    expect(gateway.refundsFor(orderId)).toHaveLength(1);
    expect((await auditOf(orderId)).map((row) => row.outcome)).toEqual([
      'succeeded',
      'idempotency_conflict',
      'idempotency_conflict',
    ]);
  });

  test('when the same key is sent concurrently, then the gateway refunds once and both answers name that refund', async () => {
    const orderId = await paidOrder(5000);
    const key = uniqueId('key');

    const answers = await Promise.all([1, 2, 3].map(() => refund(orderId, { amount: 300, reason: 'dup' }, key)));

    expect(answers.map((answer) => answer.status)).toEqual([201, 201, 201]);
    expect(new Set(answers.map((answer) => answer.body.refund.refundId)).size).toBe(1);
    expect(gateway.refundsFor(orderId)).toHaveLength(1);
  });

  test('when the amount is omitted, then everything left is refunded and the order is REFUNDED', async () => {
    const orderId = await paidOrder(5000);
    expect((await refund(orderId, { amount: 1000, reason: 'part' }, uniqueId('key'))).status).toBe(201);

    const rest = await refund(orderId, { reason: 'the rest' }, uniqueId('key'));

    expect(rest.status).toBe(201);
    expect(rest.body.refund).toMatchObject({ amount: 4000, state: 'succeeded' });
    expect(rest.body.order).toMatchObject({ status: 'REFUNDED', refundedAmount: 5000 });
  });

  test('when more than what is left is asked, then 422 refund_exceeds_refundable names what is left', async () => {
    const orderId = await paidOrder(5000);
    expect((await refund(orderId, { amount: 4500, reason: 'most' }, uniqueId('key'))).status).toBe(201);

    const over = await refund(orderId, { amount: 501, reason: 'too much' }, uniqueId('key'));

    expectError(over, 422, 'refund_exceeds_refundable');
    expect(over.body.error.details).toEqual({ orderId, refundableAmount: 500 });
    expect(gateway.refundsFor(orderId)).toHaveLength(1);
  });

  test('when the gateway declines the refund, then 502 refund_failed and the order needs attention', async () => {
    const orderId = await paidOrder(5000);
    gateway.refundFails(orderId);

    const result = await refund(orderId, { amount: 100, reason: 'declined' }, uniqueId('key'));

    expectError(result, 502, 'refund_failed');
    expect(result.body.error.details).toEqual({ orderId, refundId: `refund-${orderId}-1` });
    const order = await http(api.url, 'GET', `/orders/${orderId}`);
    expect(order.body).toMatchObject({ status: 'PAID', needsAttention: true });
    expect((await auditOf(orderId)).map((row) => row.outcome)).toEqual(['refund_failed']);
  });

  test('when the order is not paid, then 409 invalid_transition and the gateway is not asked', async () => {
    const orderId = await createOrder();
    const result = await refund(orderId, { amount: 100, reason: 'early' }, uniqueId('key'));
    expectError(result, 409, 'invalid_transition');
    expect(result.body.error.details).toEqual({ orderId, status: 'AWAITING_PAYMENT' });
    expect(gateway.refundsFor(orderId)).toEqual([]);
  });

  test.each([
    ['the Idempotency-Key header is missing', { amount: 100, reason: 'x' }, undefined, 'Idempotency-Key'],
    ['the amount is a fraction', { amount: 1.5, reason: 'x' }, 'k', 'amount'],
    ['the amount is zero', { amount: 0, reason: 'x' }, 'k', 'amount'],
    ['the reason is missing', { amount: 100 }, 'k', 'reason'],
    ['an unknown field is sent', { amount: 100, reason: 'x', currency: 'USD' }, 'k', 'currency'],
  ])('when %s, then 400 validation_failed names it and nothing is refunded', async (_case, body, key, field) => {
    const orderId = uniqueId('val');
    const result = await refund(orderId, body, key === undefined ? undefined : uniqueId(key));
    expectError(result, 400, 'validation_failed');
    expect(result.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  });

  test('when the order does not exist, then 404 order_not_found', async () => {
    expectError(await refund(uniqueId('none'), { reason: 'x' }, uniqueId('key')), 404, 'order_not_found');
  });
});

describe('POST /admin/orders/:orderId/recheck', () => {
  test('when the payer paid and no webhook came, then a re-check makes the workflow find the payment', async () => {
    const orderId = await createOrder();
    gateway.payerPays(orderId);
    const lookupsBefore = gateway.callsTo('fetchPaymentStatus').filter((request) => request.orderId === orderId);

    const result = await http(api.url, 'POST', `/admin/orders/${orderId}/recheck`, { headers: admin });

    expect(result.status).toBe(202);
    expect(recheckResponseSchema.parse(result.body)).toMatchObject({ orderId, requested: true });
    await waitForOrderStatus(pool, orderId, 'PAID');
    const lookups = gateway.callsTo('fetchPaymentStatus').filter((request) => request.orderId === orderId);
    expect(lookups.length).toBe(lookupsBefore.length + 1);
    expect(await auditOf(orderId)).toEqual([
      expect.objectContaining({ action: 'order.recheck', outcome: 'succeeded' }),
    ]);
  });

  test('when the workflow has closed, then 409 order_closed', async () => {
    const orderId = await createOrder(shortGraceApi.url);
    await http(shortGraceApi.url, 'POST', `/orders/${orderId}/cancel`);
    await temporal.workflow.getHandle(orderWorkflowId(orderId)).result();

    const result = await http(api.url, 'POST', `/admin/orders/${orderId}/recheck`, { headers: admin });

    expectError(result, 409, 'order_closed');
    expect(await auditOf(orderId)).toEqual([
      expect.objectContaining({ action: 'order.recheck', outcome: 'order_closed' }),
    ]);
  });

  test('when the order does not exist, then 404 order_not_found', async () => {
    const result = await http(api.url, 'POST', `/admin/orders/${uniqueId('none')}/recheck`, { headers: admin });
    expectError(result, 404, 'order_not_found');
  });
});

describe('GET /admin/orders', () => {
  const list = async (query: string) => {
    const result = await http(api.url, 'GET', `/admin/orders?${query}`, { headers: admin });
    expect(result.status).toBe(200);
    return adminOrderListSchema.parse(result.body);
  };

  test('when filtered by status and gateway, then only such orders come back, ours among them', async () => {
    const waiting = await createOrder();
    const paid = await paidOrder();

    const page = await list('status=AWAITING_PAYMENT&gateway=stripe&limit=200');

    expect(page.orders.every((order) => order.status === 'AWAITING_PAYMENT' && order.gateway === 'stripe')).toBe(true);
    const ids = page.orders.map((order) => order.orderId);
    expect(ids).toContain(waiting);
    expect(ids).not.toContain(paid);
  });

  test('when filtered by needsAttention, then only flagged orders come back', async () => {
    const flagged = await paidOrder();
    gateway.refundFails(flagged);
    expect((await refund(flagged, { amount: 100, reason: 'x' }, uniqueId('key'))).status).toBe(502);
    const calm = await paidOrder();

    const page = await list('needsAttention=true&limit=200');

    expect(page.orders.every((order) => order.needsAttention)).toBe(true);
    expect(page.orders.map((order) => order.orderId)).toContain(flagged);
    expect(page.orders.map((order) => order.orderId)).not.toContain(calm);
  });

  test('when filtered by age, then only older orders come back, oldest first, in pages that lose no row', async () => {
    // Three orders created far in the past, one microsecond apart: a cursor that kept only milliseconds would
    // skip or repeat them.
    const old = [await createOrder(), await createOrder(), await createOrder()];
    await pool.query(
      `UPDATE orders SET created_at = timestamptz '2024-01-01T00:00:00Z' + (array_position($1::text[], order_id) * interval '1 microsecond')
        WHERE order_id = ANY($1)`,
      [old],
    );
    const fresh = await createOrder();

    const first = await list('olderThan=400d&limit=2');
    expect(first.orders.map((order) => order.orderId)).toEqual(old.slice(0, 2));
    expect(first.nextCursor).not.toBeNull();
    const second = await list(`olderThan=400d&limit=2&cursor=${first.nextCursor}`);
    expect(second.orders.map((order) => order.orderId)).toEqual(old.slice(2));
    expect(second.nextCursor).toBeNull();

    const recent = await list('olderThan=1h&limit=200');
    expect(recent.orders.map((order) => order.orderId)).not.toContain(fresh);
  });

  test.each([
    ['an unknown status', 'status=LOST'],
    ['an unknown gateway', 'gateway=paypal'],
    ['an age that is not a duration', 'olderThan=yesterday'],
    ['needsAttention that is not a boolean', 'needsAttention=yes'],
    ['a limit of zero', 'limit=0'],
    ['a forged cursor', 'cursor=bm90LWEtY3Vyc29y'],
    ['an unknown parameter', 'stauts=PAID'],
    ['a repeated parameter', 'status=PAID&status=FAILED'],
  ])('when the query has %s, then 400 validation_failed', async (_case, query) => {
    expectError(await http(api.url, 'GET', `/admin/orders?${query}`, { headers: admin }), 400, 'validation_failed');
  });
});
