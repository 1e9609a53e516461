// An operator's refund that the order workflow made, asked for again with the same Idempotency-Key after the
// workflow closed and after its stored answer was lost (the API died between the refund and storing its answer; a
// chaos run found it): the answer is the refund already made, and the gateway is never asked for a second one.
// Real HTTP against the real API, a real worker on the test Temporal server, the test database, the fake gateway.
import type { Client } from '@temporalio/client';
import { refundResponseSchema } from '../../api/admin/admin.schema';
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId, paymentEventSignal } from '../../contracts/order.contract';
import type { Pool } from '../../db/pool';
import { postJson, startApiHarness, waitForOrderStatus, type ApiHarness } from '../support/api-harness';
import type { FakeGateway } from '../support/fake-gateway';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

const TOKEN = 'refund-request-after-close-token';
const admin = { authorization: `Bearer ${TOKEN}`, 'x-admin-actor': 'carol@example.com' };

let harness: ApiHarness;
let pool: Pool;
let temporal: Client;
let gateway: FakeGateway;
let api: RunningApiServer;

beforeAll(async () => {
  // Long enough for the first refund to reach the open order workflow, short enough to wait for it to close.
  harness = await startApiHarness({ config: { ADMIN_API_TOKEN: TOKEN, ORDER_GRACE_PERIOD: '6s' } });
  ({ pool, temporal, gateway } = harness);
  api = await harness.startApi();
});

afterAll(() => harness?.stop());

const refund = (orderId: string, key: string) =>
  postJson(
    api.url,
    `/admin/orders/${orderId}/refunds`,
    { amount: 1_000, reason: 'customer_request' },
    { ...admin, 'idempotency-key': key },
  );

describe('a refund request repeated after the order workflow closed', () => {
  it('when the order workflow refunded under a key whose stored answer was lost, then the same key after close answers that refund and refunds nothing more', async () => {
    const orderId = uniqueId('lost-answer');
    const checkout = { orderId, amount: 5_000, currency: 'USD', gateway: 'stripe', description: 'A lamp' };
    expect((await postJson(api.url, '/orders', checkout)).status).toBe(201);
    gateway.payerPays(orderId);
    const workflow = temporal.workflow.getHandle(orderWorkflowId(orderId));
    await workflow.signal(paymentEventSignal, gateway.eventFor(orderId));
    await waitForOrderStatus(pool, orderId, 'PAID');

    const key = uniqueId('refund-key');
    const first = await refund(orderId, key);
    expect(first.status).toBe(201);
    const made = refundResponseSchema.parse(first.body).refund;
    // Made by the order workflow itself (refund-<orderId>-<n>), not by a refund workflow after close.
    expect(made.refundId).toBe(`refund-${orderId}-1`);

    // The answer never got stored, and the order workflow closes at the end of its grace window.
    await pool.query('DELETE FROM idempotency_records WHERE idempotency_key = $1', [key]);
    await workflow.result();

    const again = await refund(orderId, key);
    expect(again.status).toBe(201);
    expect(refundResponseSchema.parse(again.body).refund).toMatchObject({
      refundId: made.refundId,
      amount: 1_000,
      state: 'succeeded',
    });
    expect(gateway.callsTo('refund', orderId)).toHaveLength(1);
    const { rows } = await pool.query<{ refunded_amount_minor: string; n: number }>(
      `SELECT o.refunded_amount_minor, (SELECT count(*)::int FROM refunds r WHERE r.order_id = o.order_id) AS n
         FROM orders o WHERE o.order_id = $1`,
      [orderId],
    );
    expect(rows[0]).toEqual({ refunded_amount_minor: 1_000, n: 1 });
  });
});
