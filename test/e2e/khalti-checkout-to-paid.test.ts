// End to end with real processes for Khalti: checkout (the worker initiates at the sandbox's Khalti mode), the
// hosted page, the unsigned return to the API's /callbacks/khalti (a hint), the workflow's lookup, PAID.
import { createPool, type Pool } from '../../db/pool';
import { startStack, waitForPaidOrder, type Stack } from '../support/stack';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

let stack: Stack;
let db: Pool;

beforeAll(async () => {
  // Polls are an hour apart, so only the return (a hint answered by a lookup) can make the order PAID.
  stack = await startStack({ POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h' });
  db = createPool(String(process.env.DATABASE_URL));
});

afterAll(async () => {
  await stack?.stop();
  await db?.end();
});

describe('Khalti checkout to PAID across real processes', () => {
  it('when the payer pays on the sandbox Khalti page, then the unsigned return makes the workflow look it up and the order is PAID', async () => {
    const orderId = uniqueId('e2e-khalti');
    const created = await stack.fetch(`/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        orderId,
        amount: 1_000,
        currency: 'NPR',
        gateway: 'khalti',
        description: 'Tea',
        returnUrl: 'https://shop.example/done',
      }),
    });
    expect(created.status).toBe(201);
    const { paymentUrl } = (await created.json()) as { paymentUrl: string };
    expect(paymentUrl.startsWith(`${stack.sandboxUrl}/khalti-pay/?pidx=`)).toBe(true);
    const pidx = String(new URL(paymentUrl).searchParams.get('pidx'));

    const paid = await fetch(`${stack.sandboxUrl}/khalti-pay/${pidx}/pay`, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    const callback = String(paid.headers.get('location'));
    expect(callback.startsWith(`${stack.apiUrl}/callbacks/khalti?`)).toBe(true);

    const back = await fetch(callback, { redirect: 'manual' });
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe(
      `https://shop.example/done?orderId=${orderId}&gateway=khalti&outcome=processing`,
    );

    const order = await waitForPaidOrder(stack, orderId);
    expect(order.timeline.find((entry) => entry.status === 'PAID')?.reason).toBe('payment_captured:hint:Completed');
    const events = await db.query<{ outcome: string }>(
      "SELECT outcome FROM webhook_events WHERE gateway = 'khalti' AND order_id = $1",
      [orderId],
    );
    expect(events.rows).toEqual([{ outcome: 'delivered' }]);
  });
});
