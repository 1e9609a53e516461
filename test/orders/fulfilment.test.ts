// POST /orders with fulfilment confirmation and POST /orders/:orderId/fulfilment over real HTTP, against the real
// order workflow on the test Temporal server, the real activities on the test database and a fake gateway: the
// answer is idempotent, a contradicting one is a 409 in the one error shape, a failure and the timeout refund the
// payment, GET /orders/:orderId shows why, and after the workflow has closed the order's record answers.
import type { Client } from '@temporalio/client';
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId, paymentEventSignal } from '../../contracts/order.contract';
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
import { eventually } from '../support/processes';
import { uniqueId } from '../support/temporal';

jest.setTimeout(60_000);

let harness: ApiHarness;
let pool: Pool;
let temporal: Client;
let gateway: FakeGateway;
/** Orders close one second after their last status change (or their fulfilment answer). */
let api: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({ config: { ORDER_GRACE_PERIOD: '1s' } });
  ({ pool, temporal, gateway } = harness);
  api = await harness.startApi({ config: harness.config({ TEMPORAL_TASK_QUEUE: harness.worker.taskQueue }) });
});

afterAll(() => harness?.stop());

const CONFIRM = { mode: 'confirm', timeout: '30s' };

/** A checkout asking for `fulfilment`; null for an order that does not ask. */
function checkout(orderId: string, fulfilment: unknown = CONFIRM) {
  const order = { orderId, amount: 2599, currency: 'USD', gateway: 'stripe' };
  return postJson(api.url, '/orders', fulfilment === null ? order : { ...order, fulfilment });
}

const answer = (orderId: string, body: unknown) => postJson(api.url, `/orders/${orderId}/fulfilment`, body);
const getOrder = (orderId: string) => http(api.url, 'GET', `/orders/${orderId}`);

function expectError(result: HttpResult, status: number, code: string): void {
  expect({ status: result.status, code: result.body?.error?.code }).toEqual({ status, code });
  expect(Object.keys(result.body)).toEqual(['error']);
}

/** The payer paid at the gateway; a hint makes the workflow look, as the return URL does. */
async function paidOrder(prefix: string, fulfilment: unknown = CONFIRM): Promise<string> {
  const orderId = uniqueId(prefix);
  gateway.payerPays(orderId);
  expect((await checkout(orderId, fulfilment)).status).toBe(201);
  await temporal.workflow.getHandle(orderWorkflowId(orderId)).signal(paymentEventSignal, {
    eventId: uniqueId('evt'),
    kind: 'captured',
    verified: false,
    occurredAt: new Date().toISOString(),
  });
  await waitForOrderStatus(pool, orderId, 'PAID');
  return orderId;
}

async function workflowClosed(orderId: string): Promise<void> {
  await eventually(
    async () => {
      const description = await temporal.workflow.getHandle(orderWorkflowId(orderId)).describe();
      return description.status.name === 'COMPLETED' ? true : undefined;
    },
    { what: `workflow of ${orderId} closed` },
  );
}

describe('POST /orders with fulfilment', () => {
  test('when the timeout is not a duration within 1s to 7d, then the checkout is refused as invalid', async () => {
    for (const timeout of ['soon', '0s', '8d', 30]) {
      const result = await checkout(uniqueId('ff-bad'), { mode: 'confirm', timeout });
      expectError(result, 400, 'validation_failed');
      expect(result.body.error.details).toEqual([expect.objectContaining({ field: 'fulfilment.timeout' })]);
    }
    expectError(await checkout(uniqueId('ff-bad'), { mode: 'ship', timeout: '1h' }), 400, 'validation_failed');
  });

  test('when an order asks for confirmation, then GET shows it awaiting payment and an early answer is a 409', async () => {
    const orderId = uniqueId('ff-early');
    expect((await checkout(orderId)).status).toBe(201);
    const order = await getOrder(orderId);
    expect(order.body.fulfilment).toEqual({
      mode: 'confirm',
      timeoutMs: 30_000,
      status: 'awaiting_payment',
      dueAt: null,
      reason: null,
      answeredAt: null,
    });
    expectError(await answer(orderId, { status: 'fulfilled' }), 409, 'invalid_transition');
    expectError(await answer(orderId, { status: 'failed' }), 400, 'validation_failed');
  });
});

describe('POST /orders/:orderId/fulfilment', () => {
  test('when the merchant confirms, then the same answer is 200 again, failed is a 409, also after close', async () => {
    const orderId = await paidOrder('ff-ok');
    const first = await answer(orderId, { status: 'fulfilled' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      orderId,
      fulfilment: expect.objectContaining({ status: 'fulfilled', reason: null, answeredAt: expect.any(String) }),
    });
    const again = await answer(orderId, { status: 'fulfilled' });
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: first.body });
    const contradicting = await answer(orderId, { status: 'failed', reason: 'sold out' });
    expectError(contradicting, 409, 'fulfilment_conflict');
    expect(contradicting.body.error.details).toEqual({ orderId, fulfilment: 'fulfilled' });

    // The workflow closes one grace second after the answer; the order's record answers from then on.
    await workflowClosed(orderId);
    const afterClose = await answer(orderId, { status: 'fulfilled' });
    expect({ status: afterClose.status, body: afterClose.body }).toEqual({ status: 200, body: first.body });
    expectError(await answer(orderId, { status: 'failed', reason: 'sold out' }), 409, 'fulfilment_conflict');
    expect((await getOrder(orderId)).body).toMatchObject({ status: 'PAID', refundedAmount: 0, refunds: [] });
    expect(gateway.refundsFor(orderId)).toHaveLength(0);
  });

  test('when the merchant reports a failure, then the order is refunded and GET shows fulfilment_failed', async () => {
    const orderId = await paidOrder('ff-fail');
    const failed = await answer(orderId, { status: 'failed', reason: 'sold out' });
    expect(failed.status).toBe(200);
    expect(failed.body.fulfilment).toMatchObject({ status: 'failed', reason: 'sold out' });
    expectError(await answer(orderId, { status: 'fulfilled' }), 409, 'fulfilment_conflict');

    await waitForOrderStatus(pool, orderId, 'REFUNDED');
    const order = (await getOrder(orderId)).body;
    expect(order).toMatchObject({
      status: 'REFUNDED',
      refundedAmount: 2599,
      refunds: [expect.objectContaining({ reason: 'fulfilment_failed', state: 'succeeded', amount: 2599 })],
      fulfilment: { status: 'failed', reason: 'sold out' },
    });
    expect(order.timeline.map((entry: { reason: string }) => entry.reason).slice(-2)).toEqual([
      'fulfilment_failed',
      'refund_succeeded:fulfilment_failed',
    ]);
    // A repeat after close answers as the first did.
    await workflowClosed(orderId);
    const repeat = await answer(orderId, { status: 'failed', reason: 'sold out' });
    expect({ status: repeat.status, body: repeat.body }).toEqual({ status: 200, body: failed.body });
  });

  test('when no answer comes in time, then the order is refunded with fulfilment_timeout', async () => {
    const orderId = await paidOrder('ff-late', { mode: 'confirm', timeout: '2s' });
    await waitForOrderStatus(pool, orderId, 'REFUNDED');
    const order = (await getOrder(orderId)).body;
    expect(order.fulfilment).toMatchObject({ status: 'timed_out', reason: null });
    expect(order.timeline.map((entry: { reason: string }) => entry.reason)).toContain('fulfilment_timeout');
    expectError(await answer(orderId, { status: 'fulfilled' }), 409, 'fulfilment_conflict');
  });

  test('when the order never asked, or closed unpaid, then the answer is a 409 that says which', async () => {
    const plain = await paidOrder('ff-none', null);
    expectError(await answer(plain, { status: 'fulfilled' }), 409, 'fulfilment_not_requested');

    const cancelled = uniqueId('ff-cancel');
    expect((await checkout(cancelled)).status).toBe(201);
    expect((await http(api.url, 'POST', `/orders/${cancelled}/cancel`)).status).toBe(200);
    await workflowClosed(cancelled);
    expectError(await answer(cancelled, { status: 'fulfilled' }), 409, 'order_closed');
    expectError(await answer(uniqueId('ff-unknown'), { status: 'fulfilled' }), 404, 'order_not_found');
  });
});
