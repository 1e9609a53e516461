// End to end with real processes for eSewa: the built api, worker and sandbox over real HTTP. Checkout, the
// self-submitting form at the API's /pay/:orderId, the sandbox's eSewa page, the signed success redirect back to
// the API and on to the shop, and the order PAID in the database and the workflow.
import type { Client } from '@temporalio/client';
import { orderStateQuery, orderWorkflowId } from '../../contracts/order.contract';
import { createPool, type Pool } from '../../db/pool';
import { startStack, waitForPaidOrder, type Stack } from '../support/stack';
import { connectTestClient, uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

let stack: Stack;
let temporal: Client;
let db: Pool;

beforeAll(async () => {
  // Polls are an hour apart, so only the callback can make the order PAID within the test.
  stack = await startStack({ ESEWA_FIRST_STATUS_CHECK: '1h', POLL_MAX_INTERVAL: '1h' });
  temporal = await connectTestClient();
  db = createPool(String(process.env.DATABASE_URL));
});

afterAll(async () => {
  await stack?.stop();
  await temporal?.connection.close();
  await db?.end();
});

function hiddenFields(html: string): Record<string, string> {
  return Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1],
      (m[2] ?? '').replace(/&#(\d+);/g, (_x, code: string) => String.fromCharCode(Number(code))),
    ]),
  );
}

describe('eSewa checkout to PAID across real processes', () => {
  it('when the payer pays on the sandbox eSewa page, then the signed redirect makes the order PAID and the payer returns to the shop', async () => {
    const orderId = uniqueId('e2e-esewa');
    const created = await stack.fetch(`/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        orderId,
        amount: 1_500_50,
        currency: 'NPR',
        gateway: 'esewa',
        returnUrl: 'https://shop.example/done',
      }),
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { paymentUrl: string };
    expect(body.paymentUrl).toBe(`${stack.apiUrl}/pay/${orderId}`);

    // The browser loads orderpay's page and its script posts the form to eSewa (here: the sandbox).
    const page = await fetch(body.paymentUrl);
    const html = await page.text();
    const action = /<form id="esewa" method="POST" action="([^"]+)"/.exec(html)?.[1];
    expect(action).toBe(`${stack.sandboxUrl}/api/epay/main/v2/form`);
    const form = await fetch(String(action), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(hiddenFields(html)).toString(),
      redirect: 'manual',
    });
    expect(form.status).toBe(303);
    const hostedPage = String(form.headers.get('location'));
    expect(await (await fetch(hostedPage)).text()).toContain('1500.50 NPR');

    const paid = await fetch(`${hostedPage}/pay`, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    const callback = String(paid.headers.get('location'));
    expect(callback.startsWith(`${stack.apiUrl}/callbacks/esewa/success?data=`)).toBe(true);

    const back = await fetch(callback, { redirect: 'manual' });
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe(
      `https://shop.example/done?orderId=${orderId}&gateway=esewa&outcome=paid`,
    );

    const order = await waitForPaidOrder(stack, orderId);
    expect(order.timeline.find((entry) => entry.status === 'PAID')?.reason).toBe('payment_captured:webhook:captured');
    expect(await temporal.workflow.getHandle(orderWorkflowId(orderId)).query(orderStateQuery)).toMatchObject({
      status: 'PAID',
      capturedAmountMinor: 1_500_50,
      pollCount: 0,
    });
    const rows = await db.query<{ status: string; captured_amount_minor: string }>(
      'SELECT status, captured_amount_minor FROM orders WHERE order_id = $1',
      [orderId],
    );
    expect(rows.rows).toEqual([{ status: 'PAID', captured_amount_minor: 1_500_50 }]);
    const events = await db.query<{ outcome: string }>(
      "SELECT outcome FROM webhook_events WHERE gateway = 'esewa' AND order_id = $1",
      [orderId],
    );
    expect(events.rows).toEqual([{ outcome: 'delivered' }]);
  });
});
