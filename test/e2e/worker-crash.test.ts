// Durability: the worker process is SIGKILLed mid-flight and a new one takes over. The order must still end
// correctly, with exactly one intent at the gateway and no duplicate rows in the database.
import { createPool, type Pool } from '../../db/pool';
import { eventually } from '../support/processes';
import { sessionCount, startStack, type Stack } from '../support/stack';
import { uniqueId } from '../support/temporal';

jest.setTimeout(180_000);

let stack: Stack;
let db: Pool;

beforeAll(async () => {
  stack = await startStack({ CHECKOUT_TIMEOUT: '90s', POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h' });
  db = createPool(String(process.env.DATABASE_URL));
});

afterAll(async () => {
  await stack?.stop();
  await db?.end();
});

async function setFaults(faults: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${stack.sandboxUrl}/_sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  expect(response.ok).toBe(true);
}

async function orderStatus(orderId: string): Promise<string | undefined> {
  const response = await stack.fetch(`/orders/${orderId}`);
  if (response.status !== 200) return undefined;
  return ((await response.json()) as { status: string }).status;
}

async function countRows(table: string, orderId: string): Promise<number> {
  const result = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE order_id = $1`, [
    orderId,
  ]);
  return result.rows[0]?.n ?? 0;
}

describe('worker SIGKILL mid-flight', () => {
  it('when the worker dies while the intent is being created, then a new worker completes checkout with exactly one intent', async () => {
    const orderId = uniqueId('crash-intent');
    await setFaults({ apiLatencyMs: 3_000 });
    const checkout = stack.fetch(`/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ orderId, amount: 1_000, currency: 'EUR', gateway: 'stripe' }),
    });
    // The order row is written before the intent is requested; once it exists the gateway call is in flight.
    await eventually(async () => ((await countRows('orders', orderId)) === 1 ? true : undefined), {
      what: 'order row',
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await stack.killWorkers();
    await setFaults({ apiLatencyMs: 0 });
    stack.startWorker();

    const response = await checkout;
    const body = (await response.json()) as { status: string; paymentUrl: string };
    expect(response.status).toBe(201);
    expect(body.status).toBe('AWAITING_PAYMENT');

    const paid = await fetch(`${body.paymentUrl}/pay`, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    await eventually(async () => ((await orderStatus(orderId)) === 'PAID' ? true : undefined), {
      timeoutMs: 30_000,
      what: 'order PAID',
    });

    expect(await sessionCount(stack.sandboxUrl, orderId)).toBe(1);
    expect(await countRows('orders', orderId)).toBe(1);
    expect(await countRows('payment_attempts', orderId)).toBe(1);
    const history = await db.query<{ to_status: string }>(
      'SELECT to_status FROM order_status_history WHERE order_id = $1 ORDER BY id',
      [orderId],
    );
    expect(history.rows.map((row) => row.to_status)).toEqual(['PENDING', 'AWAITING_PAYMENT', 'PAID']);
  });

  it('when the payer pays while no worker runs, then the next worker makes the order PAID from the stored signal', async () => {
    const orderId = uniqueId('crash-wait');
    const response = await stack.fetch(`/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ orderId, amount: 4_200, currency: 'GBP', gateway: 'stripe' }),
    });
    const body = (await response.json()) as { paymentUrl: string };
    expect(response.status).toBe(201);

    await stack.killWorkers();
    const paid = await fetch(`${body.paymentUrl}/pay`, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    // The webhook is verified, stored and signalled while no worker is running.
    await eventually(
      async () => {
        const rows = await db.query<{ outcome: string }>(
          "SELECT outcome FROM webhook_events WHERE order_id = $1 AND outcome = 'delivered'",
          [orderId],
        );
        return rows.rows.length > 0 ? true : undefined;
      },
      { what: 'webhook delivered' },
    );
    expect(await orderStatus(orderId)).toBe('AWAITING_PAYMENT');

    stack.startWorker();
    await eventually(async () => ((await orderStatus(orderId)) === 'PAID' ? true : undefined), {
      timeoutMs: 30_000,
      what: 'order PAID',
    });
    expect(await sessionCount(stack.sandboxUrl, orderId)).toBe(1);
  });
});
