// Orders after their workflow has closed, over real HTTP against the real API, a real worker on the test Temporal
// server and the test database, with the fake gateway: a repeated checkout is answered from the order row without
// running anything again, and refunds (admin refunds and a cancel after payment) still go through, once, in an
// orderRefundWorkflow that the Temporal visibility API finds by OrderId in the order's current state.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { refundResponseSchema } from '../../api/admin/admin.schema';
import { checkoutBodySchema } from '../../api/orders/checkout.schema';
import { requestHash } from '../../api/http/request-hash';
import type { RunningApiServer } from '../../api/server';
import { orderSearchAttributes, orderWorkflowId, paymentEventSignal } from '../../contracts/order.contract';
import {
  ORDER_REFUND_WORKFLOW_TYPE,
  orderRefundWorkflowId,
  requestKeyOfOrderRefundId,
} from '../../contracts/order-refund.contract';
import type { Pool } from '../../db/pool';
import { http, postJson, startApiHarness, waitForOrderStatus, type ApiHarness } from '../support/api-harness';
import type { FakeGateway } from '../support/fake-gateway';
import { recordHistoryIfAsked } from '../support/histories';
import { eventually } from '../support/processes';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

const TOKEN = 'orders-after-close-token-0123';
const admin = { authorization: `Bearer ${TOKEN}`, 'x-admin-actor': 'bob@example.com' };

let harness: ApiHarness;
let pool: Pool;
let temporal: Client;
let gateway: FakeGateway;
/** Orders it starts close one second after their last status change: the grace window, made short. */
let api: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({ config: { ADMIN_API_TOKEN: TOKEN, ORDER_GRACE_PERIOD: '1s' } });
  ({ pool, temporal, gateway } = harness);
  api = await harness.startApi();
});

afterAll(() => harness?.stop());

function checkoutBody(orderId: string, amount = 5000) {
  return { orderId, amount, currency: 'USD', gateway: 'stripe', description: 'A teapot' };
}

async function workflowExists(workflowId: string): Promise<boolean> {
  try {
    await temporal.workflow.getHandle(workflowId).describe();
    return true;
  } catch {
    return false;
  }
}

/** A paid order whose workflow has closed after its (one-second) grace window. */
async function paidClosedOrder(amount = 5000): Promise<string> {
  const orderId = uniqueId('aft');
  expect((await postJson(api.url, '/orders', checkoutBody(orderId, amount))).status).toBe(201);
  gateway.payerPays(orderId);
  const workflow = temporal.workflow.getHandle(orderWorkflowId(orderId));
  await workflow.signal(paymentEventSignal, gateway.eventFor(orderId));
  await waitForOrderStatus(pool, orderId, 'PAID');
  await workflow.result();
  return orderId;
}

const refund = (orderId: string, body: unknown, key: string) =>
  postJson(api.url, `/admin/orders/${orderId}/refunds`, body, { ...admin, 'idempotency-key': key });

async function orderRow(orderId: string) {
  const { rows } = await pool.query(
    'SELECT status, captured_amount_minor, refunded_amount_minor, needs_attention FROM orders WHERE order_id = $1',
    [orderId],
  );
  return rows[0];
}

async function refundRows(orderId: string) {
  const { rows } = await pool.query(
    'SELECT refund_id, amount_minor, state FROM refunds WHERE order_id = $1 ORDER BY created_at',
    [orderId],
  );
  return rows;
}

async function timelineReasons(orderId: string): Promise<string[]> {
  const { rows } = await pool.query<{ reason: string }>(
    'SELECT reason FROM order_status_history WHERE order_id = $1 ORDER BY id',
    [orderId],
  );
  return rows.map((row) => row.reason);
}

/** The orderRefundWorkflow that made a refund, from its refund ID. */
function refundWorkflowOf(orderId: string, refundId: string) {
  const key = requestKeyOfOrderRefundId(orderId, refundId);
  if (key === undefined) throw new Error(`${refundId} was not made by an order refund workflow`);
  return temporal.workflow.getHandle(orderRefundWorkflowId(orderId, key));
}

async function listWorkflows(query: string): Promise<WorkflowExecutionInfo[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const info of temporal.workflow.list({ query })) found.push(info);
  return found;
}

describe('POST /orders for an order already recorded', () => {
  test('when a PAID order row exists without any workflow, then 200 from the row, no workflow and no gateway call', async () => {
    // What Temporal's retention leaves behind: the order row, and no closed run to refuse a second start.
    const orderId = uniqueId('ret');
    const body = checkoutBody(orderId);
    await pool.query(
      `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, description, request_hash, intent_id,
                           payment_url, captured_amount_minor, expires_at, paid_at)
       VALUES ($1, 5000, 'USD', 'stripe', 'PAID', 'A teapot', $2, $3, 'https://pay.example/x', 5000,
               now() - interval '8 days', now() - interval '8 days')`,
      [orderId, requestHash(checkoutBodySchema.parse(body)), `cs_${orderId}`],
    );

    const result = await postJson(api.url, '/orders', body, { 'Idempotency-Key': uniqueId('after-retention') });

    expect(result.status).toBe(200);
    expect(result.headers.get('idempotent-replayed')).toBe('true');
    expect(result.body).toMatchObject({ orderId, status: 'PAID', amount: 5000, currency: 'USD', gateway: 'stripe' });
    expect(gateway.callsTo('createIntent', orderId)).toEqual([]);
    expect(await workflowExists(orderWorkflowId(orderId))).toBe(false);
    expect(await orderRow(orderId)).toMatchObject({ status: 'PAID' });
  });

  test('when the row exists and a different body comes under a new key, then 409 idempotency_conflict and nothing starts', async () => {
    const orderId = uniqueId('rcf');
    await pool.query(
      `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, request_hash, expires_at)
       VALUES ($1, 5000, 'USD', 'stripe', 'EXPIRED', $2, now() - interval '8 days')`,
      [orderId, requestHash(checkoutBodySchema.parse(checkoutBody(orderId)))],
    );

    const result = await postJson(api.url, '/orders', checkoutBody(orderId, 6000), {
      'Idempotency-Key': uniqueId('k'),
    });

    expect({ status: result.status, code: result.body?.error?.code }).toEqual({
      status: 409,
      code: 'idempotency_conflict',
    });
    expect(gateway.callsTo('createIntent', orderId)).toEqual([]);
    expect(await workflowExists(orderWorkflowId(orderId))).toBe(false);
  });
});

describe('refunds after the order workflow closed', () => {
  test('when a refund is asked after the grace window, then it goes through once and a repeat replays it with 200', async () => {
    const orderId = await paidClosedOrder(5000);
    const key = uniqueId('late-refund');

    const first = await refund(orderId, { amount: 1500, reason: 'arrived broken' }, key);
    const again = await refund(orderId, { amount: 1500, reason: 'arrived broken' }, key);

    expect(first.status).toBe(201);
    const body = refundResponseSchema.parse(first.body);
    expect(body.refund).toMatchObject({ requestId: key, amount: 1500, reason: 'arrived broken', state: 'succeeded' });
    expect(body.refund.refundId).toMatch(new RegExp(`^refund-${orderId}-k[0-9a-f]{24}$`));
    expect(body.order).toMatchObject({ orderId, status: 'PARTIALLY_REFUNDED', refundedAmount: 1500 });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(gateway.refundsFor(orderId)).toEqual([expect.objectContaining({ amountMinor: 1500, state: 'succeeded' })]);
    expect(await refundRows(orderId)).toEqual([
      { refund_id: body.refund.refundId, amount_minor: 1500, state: 'succeeded' },
    ]);
    expect(await orderRow(orderId)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount_minor: 1500 });
    expect(await timelineReasons(orderId)).toContain('refund_succeeded:arrived broken');
    await recordHistoryIfAsked(refundWorkflowOf(orderId, body.refund.refundId), 'order-refund-after-close-partial');
  });

  test('when the stored answer is lost and the same key comes again, then the refund workflow answers and nothing is refunded twice', async () => {
    const orderId = await paidClosedOrder(5000);
    const key = uniqueId('lost-answer');
    const first = await refund(orderId, { reason: 'all of it' }, key);
    expect(first.status).toBe(201);
    await pool.query('DELETE FROM idempotency_records WHERE idempotency_key = $1', [key]);

    const again = await refund(orderId, { reason: 'all of it' }, key);

    expect(again.status).toBe(201);
    expect(again.body.refund).toEqual(first.body.refund);
    expect(gateway.refundsFor(orderId)).toHaveLength(1);
    expect(await orderRow(orderId)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 5000 });
  });

  test('when two full refunds with different keys come at once, then the ledger lets one through', async () => {
    const orderId = await paidClosedOrder(5000);

    const answers = await Promise.all([
      refund(orderId, { reason: 'first operator' }, uniqueId('race-a')),
      refund(orderId, { reason: 'second operator' }, uniqueId('race-b')),
    ]);

    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 422]);
    const refused = answers.find((answer) => answer.status === 422);
    expect(refused?.body.error).toMatchObject({
      code: 'refund_exceeds_refundable',
      details: { orderId, refundableAmount: 0 },
    });
    expect(gateway.refundsFor(orderId)).toEqual([expect.objectContaining({ amountMinor: 5000, state: 'succeeded' })]);
    expect(await orderRow(orderId)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 5000 });
  });

  test('when more than what is left is asked, then 422 and the gateway is not asked', async () => {
    const orderId = await paidClosedOrder(5000);
    expect((await refund(orderId, { amount: 4000, reason: 'most' }, uniqueId('k'))).status).toBe(201);

    const over = await refund(orderId, { amount: 1001, reason: 'too much' }, uniqueId('k'));

    expect(over.status).toBe(422);
    expect(over.body.error.details).toEqual({ orderId, refundableAmount: 1000 });
    const [refused] = await eventually(async () => {
      const found = await listWorkflows(`OrderId="${orderId}" AND ExecutionStatus="Completed"`);
      const refunds = found.filter((info) => info.type === ORDER_REFUND_WORKFLOW_TYPE);
      return refunds.length === 2 ? refunds.sort((a, b) => b.startTime.getTime() - a.startTime.getTime()) : undefined;
    });
    if (refused)
      await recordHistoryIfAsked(temporal.workflow.getHandle(refused.workflowId), 'order-refund-after-close-exceeds');
    expect(gateway.refundsFor(orderId)).toHaveLength(1);
  });

  test('when the gateway declines, then 502 refund_failed and the order is flagged, in the row and in Temporal', async () => {
    const orderId = await paidClosedOrder(5000);
    gateway.refundFails(orderId);

    const result = await refund(orderId, { amount: 100, reason: 'declined' }, uniqueId('k'));

    expect(result.status).toBe(502);
    expect(result.body.error.code).toBe('refund_failed');
    await recordHistoryIfAsked(
      refundWorkflowOf(orderId, result.body.error.details.refundId),
      'order-refund-after-close-declined',
    );
    expect(await orderRow(orderId)).toMatchObject({ status: 'PAID', needs_attention: true });
    expect(await timelineReasons(orderId)).toContain('needs_attention:refund_failed');
    await eventually(
      async () => {
        const found = await listWorkflows(`OrderId="${orderId}" AND NeedsAttention=true`);
        return found.length === 1 ? found : undefined;
      },
      { what: 'the refund workflow flagged in visibility' },
    );
  });

  test('when the gateway has no refund API (eSewa), then the refund waits for an operator and counts only once confirmed', async () => {
    const orderId = await paidClosedOrder(5000);
    gateway.refundsNeedAnOperator(orderId);

    const asked = await refund(orderId, { amount: 2000, reason: 'by hand' }, uniqueId('k'));

    expect(asked.status).toBe(201);
    expect(asked.body.refund).toMatchObject({ amount: 2000, state: 'awaiting_manual' });
    const { refundId } = asked.body.refund as { refundId: string };
    expect(await orderRow(orderId)).toMatchObject({ status: 'PAID', refunded_amount_minor: 0, needs_attention: true });
    expect(await refundRows(orderId)).toEqual([{ refund_id: refundId, amount_minor: 2000, state: 'awaiting_manual' }]);

    const confirm = () => postJson(api.url, `/admin/refunds/${refundId}/confirm`, { reference: 'ESW-REF-77' }, admin);
    const confirmed = await confirm();
    const confirmedAgain = await confirm();

    expect(confirmed.status).toBe(200);
    expect(confirmed.body.refund).toMatchObject({
      refundId,
      state: 'succeeded',
      manualReference: 'ESW-REF-77',
      changed: true,
    });
    expect(confirmedAgain.status).toBe(200);
    expect(confirmedAgain.body.refund).toMatchObject({ changed: false });
    expect(await orderRow(orderId)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount_minor: 2000 });
    const workflow = refundWorkflowOf(orderId, refundId);
    expect(await workflow.result()).toMatchObject({
      outcome: 'settled',
      refund: { refundId, state: 'succeeded', manualReference: 'ESW-REF-77' },
      status: 'PARTIALLY_REFUNDED',
    });
    await recordHistoryIfAsked(workflow, 'order-refund-after-close-manual');
  });

  test('when the order was never paid, then 409 invalid_transition and no refund workflow starts', async () => {
    const orderId = uniqueId('unp');
    expect((await postJson(api.url, '/orders', checkoutBody(orderId))).status).toBe(201);
    expect((await http(api.url, 'POST', `/orders/${orderId}/cancel`)).status).toBe(200);
    await temporal.workflow.getHandle(orderWorkflowId(orderId)).result();

    const result = await refund(orderId, { reason: 'nothing to refund' }, uniqueId('k'));

    expect(result.status).toBe(409);
    expect(result.body.error).toMatchObject({ code: 'invalid_transition', details: { orderId, status: 'CANCELLED' } });
    expect(await listWorkflows(`OrderId="${orderId}" AND WorkflowType="${ORDER_REFUND_WORKFLOW_TYPE}"`)).toEqual([]);
  });

  test('when a paid order is cancelled after the grace window, then the rest is refunded once and a repeat changes nothing', async () => {
    const orderId = await paidClosedOrder(5000);

    const cancelled = await http(api.url, 'POST', `/orders/${orderId}/cancel`);
    const again = await http(api.url, 'POST', `/orders/${orderId}/cancel`);

    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ orderId, status: 'REFUNDED', refundedAmount: 5000 });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'REFUNDED', refundedAmount: 5000 });
    expect(gateway.refundsFor(orderId)).toEqual([expect.objectContaining({ amountMinor: 5000, state: 'succeeded' })]);
  });

  test('when an operator searches Temporal by OrderId and OrderStatus, then the refund workflow shows the order as it is now', async () => {
    const orderId = await paidClosedOrder(5000);
    expect((await refund(orderId, { reason: 'returned' }, uniqueId('k'))).status).toBe(201);

    const [found] = await eventually(
      async () => {
        const matches = await listWorkflows(`OrderId="${orderId}" AND OrderStatus="REFUNDED"`);
        return matches.length === 1 ? matches : undefined;
      },
      { what: 'the refunded order in visibility' },
    );

    expect(found?.type).toBe(ORDER_REFUND_WORKFLOW_TYPE);
    const attributes = found?.typedSearchAttributes;
    expect({
      orderId: attributes?.get(orderSearchAttributes.orderId),
      gateway: attributes?.get(orderSearchAttributes.gateway),
      amountMinor: attributes?.get(orderSearchAttributes.amountMinor),
      currency: attributes?.get(orderSearchAttributes.currency),
      status: attributes?.get(orderSearchAttributes.orderStatus),
      needsAttention: attributes?.get(orderSearchAttributes.needsAttention),
    }).toEqual({
      orderId,
      gateway: 'stripe',
      amountMinor: 5000,
      currency: 'USD',
      status: 'REFUNDED',
      needsAttention: false,
    });
    // The order workflow keeps the status it closed with.
    const closed = await eventually(
      async () => {
        const matches = await listWorkflows(`OrderId="${orderId}" AND OrderStatus="PAID"`);
        return matches.length > 0 ? matches : undefined;
      },
      { what: 'the closed order workflow in visibility' },
    );
    expect(closed.map((info) => info.workflowId)).toEqual([orderWorkflowId(orderId)]);
  });
});
