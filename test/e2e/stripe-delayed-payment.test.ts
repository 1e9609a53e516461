// End to end with real processes and Stripe's delayed payment methods switched on (STRIPE_DELAYED_PAYMENT_METHODS):
// the payer chooses a bank debit on the sandbox page, the session completes unpaid (the order keeps waiting), and the
// bank's later answer, checkout.session.async_payment_succeeded or _failed, settles the order through the signed
// webhook, the API and the order workflow.
import { createPool, type Pool } from '../../db/pool';
import { startStack, waitForPaidOrder, type Stack } from '../support/stack';
import { eventually } from '../support/processes';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

let stack: Stack;
let db: Pool;

beforeAll(async () => {
  // Polls are an hour apart, so only webhooks move the orders within the test.
  stack = await startStack(
    { POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h' },
    { STRIPE_DELAYED_PAYMENT_METHODS: 'true' },
  );
  db = createPool(String(process.env.DATABASE_URL));
});

afterAll(async () => {
  await stack?.stop();
  await db?.end();
});

async function checkout(orderId: string): Promise<{ paymentUrl: string; intentId: string }> {
  const response = await stack.fetch('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orderId, amount: 9_900, currency: 'USD', gateway: 'stripe', description: 'A sofa' }),
  });
  expect(response.status).toBe(201);
  const { paymentUrl } = (await response.json()) as { paymentUrl: string };
  const intentId = paymentUrl.split('/').pop() ?? '';
  return { paymentUrl, intentId };
}

async function orderOf(orderId: string) {
  const response = await stack.fetch(`/orders/${orderId}`);
  return (await response.json()) as {
    status: string;
    capturedAmount?: number;
    attempts: { number: number; status: string; failureReason: string | null }[];
  };
}

async function payByBankDebit(paymentUrl: string): Promise<void> {
  const answer = await fetch(`${paymentUrl}/pay-later`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'outcome=pay-later',
    redirect: 'manual',
  });
  expect(answer.status).toBe(303);
}

async function bankAnswers(intentId: string, outcome: 'succeeded' | 'failed'): Promise<void> {
  const answer = await fetch(`${stack.sandboxUrl}/_sandbox/sessions/${intentId}/async-payment`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ outcome }),
  });
  expect(answer.status).toBe(200);
}

/** Waits until the API has stored and delivered the order's webhook of this type to its workflow. */
async function delivered(orderId: string, eventType: string): Promise<void> {
  await eventually(
    async () => {
      const { rows } = await db.query<{ outcome: string }>(
        'SELECT outcome FROM webhook_events WHERE order_id = $1 AND event_type = $2',
        [orderId, eventType],
      );
      return rows.some((row) => row.outcome === 'delivered') ? true : undefined;
    },
    { what: `${eventType} of ${orderId} delivered` },
  );
}

describe('a Stripe delayed payment across real processes', () => {
  it('when the bank debit succeeds days later, then async_payment_succeeded makes the order PAID', async () => {
    const orderId = uniqueId('e2e-ach');
    const { paymentUrl, intentId } = await checkout(orderId);
    expect(await (await fetch(paymentUrl)).text()).toContain('Pay by bank debit');

    await payByBankDebit(paymentUrl);
    await delivered(orderId, 'checkout.session.completed');
    // Completed unpaid is not money: the order still waits.
    expect((await orderOf(orderId)).status).toBe('AWAITING_PAYMENT');

    await bankAnswers(intentId, 'succeeded');

    const order = await waitForPaidOrder(stack, orderId);
    expect(order.status).toBe('PAID');
    expect(order.timeline.find((entry) => entry.status === 'PAID')?.reason).toMatch(/webhook/);
  });

  it('when the bank debit fails, then async_payment_failed ends the attempt and the payer may start a new one', async () => {
    const orderId = uniqueId('e2e-achf');
    const { paymentUrl, intentId } = await checkout(orderId);
    await payByBankDebit(paymentUrl);

    await delivered(orderId, 'checkout.session.completed');
    await bankAnswers(intentId, 'failed');

    // Stripe sends payment_intent.payment_failed too, in either order; once both are in, the completed session takes
    // no further try: no attempt is open on it, and the pay link offers a new one.
    await delivered(orderId, 'checkout.session.async_payment_failed');
    await delivered(orderId, 'payment_intent.payment_failed');
    // When payment_intent.payment_failed comes first, the declined attempt is recorded a moment before the next one
    // opens on the session and the closing event ends it: no open attempt is read twice, a second apart, to be settled.
    const noneOpen = async () => {
      const current = await orderOf(orderId);
      return current.attempts.length > 0 && current.attempts.every((attempt) => attempt.status !== 'open')
        ? current
        : undefined;
    };
    const order = await eventually(
      async () => {
        if (!(await noneOpen())) return undefined;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return noneOpen();
      },
      { what: `order ${orderId} with its attempt ended` },
    );
    expect(order.status).toBe('AWAITING_PAYMENT');
    expect(order.attempts[0]).toMatchObject({ number: 1, status: 'declined', failureReason: 'payment_declined' });
    const payLink = await stack.fetch(`/pay/${orderId}`);
    expect(await payLink.text()).toContain(`/pay/${orderId}/attempts`);
  });
});
