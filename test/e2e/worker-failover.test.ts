// Failover: two workers share the task queue; one is SIGKILLed while it holds orders in its cache. Every order must
// still move within a few seconds of its payment: a task on the dead worker's sticky queue waits only
// WORKER_STICKY_TIMEOUT before the server hands it to the survivor (with the SDK's default of 10s every killed
// worker's orders stalled for 10s, which checkout callers saw as 503 checkout_pending).
import { createPool, type Pool } from '../../db/pool';
import { eventually } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { uniqueId } from '../support/temporal';

const ORDERS = 12;
/** WORKER_STICKY_TIMEOUT's default plus the webhook, the workflow task and the database write, on two busy cores. */
const FAILOVER_LIMIT_MS = 7_000;

jest.setTimeout(180_000);

let stack: Stack;
let db: Pool;

beforeAll(async () => {
  // No status polls, so only the payment's webhook can move an order; the sticky timeout is the worker's default
  // unless WORKER_STICKY_TIMEOUT is set for this run (how the figures in docs/configuration.md were measured).
  stack = await startStack(
    { CHECKOUT_TIMEOUT: '60s', POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h' },
    process.env.WORKER_STICKY_TIMEOUT ? { WORKER_STICKY_TIMEOUT: process.env.WORKER_STICKY_TIMEOUT } : {},
  );
  db = createPool(String(process.env.DATABASE_URL));
});

afterAll(async () => {
  await stack?.stop();
  await db?.end();
});

async function status(orderId: string): Promise<string | undefined> {
  const result = await db.query<{ status: string }>('SELECT status FROM orders WHERE order_id = $1', [orderId]);
  return result.rows[0]?.status;
}

describe('worker failover', () => {
  it('when one of two workers is SIGKILLed with orders in its cache, then every order is PAID within a few seconds of its payment', async () => {
    const second = stack.startWorker();
    // Both workers poll before the orders start, so the orders' first tasks spread over the two caches.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const orders = await Promise.all(
      Array.from({ length: ORDERS }, async (_, index) => {
        const orderId = uniqueId(`failover-${index}`);
        const response = await stack.fetch('/orders', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ orderId, amount: 1_000 + index, currency: 'EUR', gateway: 'stripe' }),
        });
        expect(response.status).toBe(201);
        return { orderId, paymentUrl: ((await response.json()) as { paymentUrl: string }).paymentUrl };
      }),
    );

    await second.stop('SIGKILL');
    const latencies = await Promise.all(
      orders.map(async ({ orderId, paymentUrl }) => {
        const paidAt = Date.now();
        const page = await fetch(`${paymentUrl}/pay`, { method: 'POST', redirect: 'manual' });
        expect(page.status).toBe(303);
        await eventually(async () => ((await status(orderId)) === 'PAID' ? true : undefined), {
          timeoutMs: 60_000,
          intervalMs: 100,
          what: `${orderId} PAID`,
        });
        return Date.now() - paidAt;
      }),
    );
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      `worker failover: payment → PAID after a SIGKILL, ${ORDERS} orders: ` +
        `median ${sorted[Math.floor(ORDERS / 2)]} ms, max ${sorted[ORDERS - 1]} ms ` +
        `(WORKER_STICKY_TIMEOUT=${process.env.WORKER_STICKY_TIMEOUT ?? 'default'})`,
    );
    expect(Math.max(...latencies)).toBeLessThan(FAILOVER_LIMIT_MS);
  });
});
