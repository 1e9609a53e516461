// End to end with real processes: the built api, worker and sandbox talk over real HTTP to each other, to the
// test run's Temporal dev server and to PostgreSQL. Proves the checkout → hosted page → signed webhook → PAID path.
import type { Client } from '@temporalio/client';
import { createPool, type Pool } from '../../db/pool';
import { orderStateQuery, orderWorkflowId } from '../../contracts/order.contract';
import { sessionCount, startStack, waitForPaidOrder, type Stack } from '../support/stack';
import { connectTestClient, uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

let stack: Stack;
let temporal: Client;
let db: Pool;

beforeAll(async () => {
  // Polls are an hour apart here, so only the webhook can make the order PAID within the test.
  stack = await startStack({ POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h' });
  temporal = await connectTestClient();
  db = createPool(String(process.env.DATABASE_URL));
});

afterAll(async () => {
  await stack?.stop();
  await temporal?.connection.close();
  await db?.end();
});

async function createOrder(orderId: string) {
  const response = await stack.fetch(`/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orderId, amount: 2_500, currency: 'USD', gateway: 'stripe', description: 'Two tickets' }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('checkout to PAID across real processes', () => {
  it('when the payer pays on the sandbox page, then the signed webhook makes the order PAID in the database and the workflow', async () => {
    const orderId = uniqueId('e2e-paid');
    const created = await createOrder(orderId);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ orderId, status: 'AWAITING_PAYMENT' });
    const paymentUrl = String(created.body.paymentUrl);
    expect(paymentUrl.startsWith(stack.sandboxUrl)).toBe(true);

    const page = await fetch(paymentUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Pay');
    const paid = await fetch(`${paymentUrl}/pay`, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);

    const order = await waitForPaidOrder(stack, orderId);
    expect(order.timeline.find((entry) => entry.status === 'PAID')?.reason).toMatch(/webhook/);

    const workflowState = await temporal.workflow.getHandle(orderWorkflowId(orderId)).query(orderStateQuery);
    expect(workflowState).toMatchObject({ status: 'PAID', capturedAmountMinor: 2_500 });

    const rows = await db.query<{ status: string; captured_amount_minor: number }>(
      'SELECT status, captured_amount_minor FROM orders WHERE order_id = $1',
      [orderId],
    );
    expect(rows.rows).toEqual([{ status: 'PAID', captured_amount_minor: 2_500 }]);
    const webhooks = await db.query<{ outcome: string }>('SELECT outcome FROM webhook_events WHERE order_id = $1', [
      orderId,
    ]);
    // Stripe reports the payment twice (the session's event and the payment intent's): one signal, the other closed
    // as the same payment.
    expect(webhooks.rows.map((row) => row.outcome).sort()).toEqual(['delivered', 'ignored']);
  });

  it('when the same checkout request is sent again, then the stored response is replayed and no second intent exists', async () => {
    const orderId = uniqueId('e2e-replay');
    const first = await createOrder(orderId);
    const second = await stack.fetch(`/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ orderId, amount: 2_500, currency: 'USD', gateway: 'stripe', description: 'Two tickets' }),
    });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.json()).toEqual(first.body);
    expect(await sessionCount(stack.sandboxUrl, orderId)).toBe(1);
  });
});
