// End to end with real processes (sandbox, worker, API over real HTTP, the test run's Temporal and PostgreSQL):
// issue #15's payment attempts as a payer lives them. A declined card is retried on the same Stripe page; five
// declines fail the order; a cancelled Khalti page and a failed eSewa payment lead back to the pay link and on to a
// new attempt with a new intent; a capture on a superseded attempt after another one paid is refunded once.
import { createPool, type Pool } from '../../db/pool';
import { eventually } from '../support/processes';
import {
  declinePaymentPage,
  pressEsewaPage,
  submitEsewaForm,
  submitKhaltiPage,
  submitPaymentPage,
} from '../support/sandbox';
import { startStack, waitForPaidOrder, type Stack } from '../support/stack';
import { uniqueId } from '../support/temporal';

jest.setTimeout(180_000);

let stack: Stack;
let db: Pool;

beforeAll(async () => {
  // Polls are an hour apart, so only what the payer does (webhooks, returns, the pay link) moves an order here.
  // ORDER_MAX_ATTEMPTS is left at its default: the five-declines test proves the default of 5.
  stack = await startStack({ POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h', ESEWA_FIRST_STATUS_CHECK: '1h' });
  db = createPool(String(process.env.DATABASE_URL));
});

afterAll(async () => {
  await stack?.stop();
  await db?.end();
});

interface AttemptView {
  number: number;
  gateway: string;
  status: string;
  failureReason: string | null;
  declineCode: string | null;
  intentId: string;
  paymentUrl: string;
  endedAt: string | null;
}

interface OrderView {
  status: string;
  gateway: string;
  intentId: string | null;
  failureReason: string | null;
  capturedAmount: number;
  refundedAmount: number;
  attempts: AttemptView[];
  timeline: { status: string; reason: string }[];
}

async function createOrder(body: Record<string, unknown>): Promise<{ paymentUrl: string }> {
  const response = await stack.fetch('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as { paymentUrl: string };
  expect({ status: response.status, answer }).toMatchObject({ status: 201, answer: { status: 'AWAITING_PAYMENT' } });
  return answer;
}

async function readOrder(orderId: string): Promise<OrderView> {
  const response = await stack.fetch(`/orders/${orderId}`);
  expect(response.status).toBe(200);
  return (await response.json()) as OrderView;
}

/** Reads the order until `ready` says it is there; on a timeout the processes' logs explain why. */
async function waitForOrder(orderId: string, what: string, ready: (order: OrderView) => boolean): Promise<OrderView> {
  let last: OrderView | undefined;
  return eventually(
    async () => {
      last = await readOrder(orderId);
      return ready(last) ? last : undefined;
    },
    { timeoutMs: 15_000, what },
  ).catch((error: unknown) => {
    console.error(`last order view: ${JSON.stringify(last)}\n${stack.logs()}`);
    throw error;
  });
}

function attemptStatuses(order: OrderView): string[] {
  return order.attempts.map((attempt) => `${attempt.number}:${attempt.status}`);
}

/** The pay link's "Try again" button, as the browser posts it; redirects are not followed. */
function pressTryAgain(orderId: string, gateway?: string): Promise<Response> {
  return fetch(`${stack.apiUrl}/pay/${orderId}/attempts`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(gateway ? { gateway } : {}).toString(),
    redirect: 'manual',
  });
}

function hiddenFields(html: string): Record<string, string> {
  return Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1],
      (m[2] ?? '').replace(/&#(\d+);/g, (_x, code: string) => String.fromCharCode(Number(code))),
    ]),
  );
}

/**
 * Loads the pay link as the browser does when it serves eSewa's self-submitting form, and posts that form to the
 * sandbox: the transaction it was signed for, now PENDING at eSewa.
 */
async function goToEsewaFromPayLink(orderId: string): Promise<{ transactionUuid: string; productCode: string }> {
  const page = await fetch(`${stack.apiUrl}/pay/${orderId}`);
  const html = await page.text();
  expect({ status: page.status, form: /<form id="esewa" method="POST"/.test(html) }).toEqual({
    status: 200,
    form: true,
  });
  const fields = hiddenFields(html);
  const submitted = await submitEsewaForm(stack.sandboxUrl, fields);
  expect(submitted.status).toBe(303);
  const transactionUuid = String(fields.transaction_uuid);
  expect(submitted.headers.get('location')).toBe(`${stack.sandboxUrl}/esewa/pay/${transactionUuid}`);
  return { transactionUuid, productCode: String(fields.product_code) };
}

interface SandboxSession {
  id: string;
  status: string;
  payment_status: string;
}

async function sandboxSessions(orderId: string): Promise<SandboxSession[]> {
  const response = await fetch(`${stack.sandboxUrl}/_sandbox/sessions?orderId=${encodeURIComponent(orderId)}`);
  return ((await response.json()) as { data: SandboxSession[] }).data;
}

interface SandboxKhaltiPayment {
  pidx: string;
  status: string;
  transactionId: string | null;
  refundedAmount: number;
  refunds: { amount: number }[];
}

async function sandboxKhaltiPayments(orderId: string): Promise<SandboxKhaltiPayment[]> {
  const response = await fetch(`${stack.sandboxUrl}/_sandbox/khalti/payments?orderId=${encodeURIComponent(orderId)}`);
  return ((await response.json()) as { data: SandboxKhaltiPayment[] }).data;
}

async function setSandboxFaults(patch: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${stack.sandboxUrl}/_sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  });
  expect(response.status).toBe(200);
}

async function orderRow(orderId: string) {
  const rows = await db.query<{ status: string; gateway: string; intent_id: string; payment_reference: string }>(
    'SELECT status, gateway, intent_id, payment_reference FROM orders WHERE order_id = $1',
    [orderId],
  );
  return rows.rows[0];
}

async function attemptRows(orderId: string) {
  const rows = await db.query<{
    attempt_number: number;
    gateway: string;
    intent_id: string;
    status: string;
    failure_reason: string | null;
    decline_code: string | null;
  }>(
    `SELECT attempt_number, gateway, intent_id, status, failure_reason, decline_code
       FROM payment_attempts WHERE order_id = $1 ORDER BY attempt_number`,
    [orderId],
  );
  return rows.rows;
}

async function refundRows(orderId: string) {
  const rows = await db.query<{ amount_minor: number; reason: string; state: string; payment_reference: string }>(
    'SELECT amount_minor, reason, state, payment_reference FROM refunds WHERE order_id = $1 ORDER BY created_at',
    [orderId],
  );
  return rows.rows;
}

describe('Stripe: a declined card is retried on the same hosted page', () => {
  it('when the payer is declined for insufficient funds and then pays on the same session, then the order is PAID with two attempts on one intent', async () => {
    const orderId = uniqueId('e2e-attempts-stripe');
    const { paymentUrl } = await createOrder({ orderId, amount: 2_500, currency: 'USD', gateway: 'stripe' });

    const declined = await declinePaymentPage(paymentUrl, 'insufficient_funds');
    expect(declined.status).toBe(303);
    const afterDecline = await waitForOrder(
      orderId,
      'attempt 1 declined, attempt 2 open',
      (order) => attemptStatuses(order).join() === '1:declined,2:open',
    );
    expect(afterDecline.status).toBe('AWAITING_PAYMENT');
    // The session stays open: Stripe's page lets the payer try another card.
    expect((await fetch(paymentUrl)).status).toBe(200);

    const paid = await submitPaymentPage(paymentUrl, 'pay');
    expect(paid.status).toBe(303);
    await waitForPaidOrder(stack, orderId);
    const order = await waitForOrder(orderId, 'attempt 2 paid', (view) =>
      view.attempts.some((attempt) => attempt.status === 'paid'),
    );

    const sessionId = String(afterDecline.attempts[0]?.intentId);
    expect(order.attempts).toEqual([
      expect.objectContaining({
        number: 1,
        gateway: 'stripe',
        status: 'declined',
        failureReason: 'payment_declined',
        declineCode: 'insufficient_funds',
        intentId: sessionId,
      }),
      expect.objectContaining({ number: 2, gateway: 'stripe', status: 'paid', intentId: sessionId }),
    ]);
    expect(order).toMatchObject({ status: 'PAID', intentId: sessionId, capturedAmount: 2_500 });
    expect(order.timeline.map((entry) => entry.reason)).toContain('attempt_declined:1');
    expect(await attemptRows(orderId)).toEqual([
      expect.objectContaining({ attempt_number: 1, status: 'declined', decline_code: 'insufficient_funds' }),
      expect.objectContaining({ attempt_number: 2, status: 'paid', intent_id: sessionId }),
    ]);
    expect(await sandboxSessions(orderId)).toEqual([
      expect.objectContaining({ id: sessionId, status: 'complete', payment_status: 'paid' }),
    ]);
    expect(await refundRows(orderId)).toEqual([]);
  });

  it('when the payer is declined five times (the default ORDER_MAX_ATTEMPTS), then the order is FAILED too_many_attempts and the session can no longer be paid', async () => {
    const orderId = uniqueId('e2e-attempts-5');
    const { paymentUrl } = await createOrder({ orderId, amount: 1_800, currency: 'USD', gateway: 'stripe' });

    for (let declines = 1; declines <= 5; declines += 1) {
      const declined = await declinePaymentPage(paymentUrl, declines % 2 === 0 ? 'insufficient_funds' : 'expired_card');
      expect(declined.status).toBe(303);
      // The payer reads the page again before the next card, so each decline is recorded before the next try.
      await waitForOrder(orderId, `decline ${declines} recorded`, (order) =>
        declines < 5
          ? order.attempts.length === declines + 1 && order.attempts.at(-1)?.status === 'open'
          : order.status === 'FAILED',
      );
    }

    const order = await readOrder(orderId);
    expect(order).toMatchObject({ status: 'FAILED', failureReason: 'too_many_attempts', capturedAmount: 0 });
    expect(attemptStatuses(order)).toEqual(['1:declined', '2:declined', '3:declined', '4:declined', '5:declined']);
    expect(new Set(order.attempts.map((attempt) => attempt.intentId)).size).toBe(1);
    expect(order.timeline.at(-1)).toMatchObject({ status: 'FAILED', reason: 'too_many_attempts' });

    // Stripe closed the session: the sixth card is refused and no money moves.
    await eventually(async () => ((await sandboxSessions(orderId))[0]?.status === 'expired' ? true : undefined), {
      timeoutMs: 15_000,
      what: 'session expired at the sandbox',
    });
    const sixth = await submitPaymentPage(paymentUrl, 'pay');
    expect(sixth.status).toBe(409);
    expect(await sandboxSessions(orderId)).toEqual([
      expect.objectContaining({ status: 'expired', payment_status: 'unpaid' }),
    ]);
    const tryAgain = await pressTryAgain(orderId);
    expect(tryAgain.status).toBe(409);
    expect(await refundRows(orderId)).toEqual([]);
    expect((await readOrder(orderId)).status).toBe('FAILED');
  });
});

describe('Khalti: a cancelled wallet page leads back to the pay link', () => {
  it('when the payer cancels on Khalti, tries again from the pay link and pays, then attempt 2 with a new pidx pays the order', async () => {
    const orderId = uniqueId('e2e-attempts-khalti');
    const { paymentUrl } = await createOrder({ orderId, amount: 1_200, currency: 'NPR', gateway: 'khalti' });
    const firstPidx = String(new URL(paymentUrl).searchParams.get('pidx'));

    const cancelled = await submitKhaltiPage(paymentUrl, 'cancel');
    expect(cancelled.status).toBe(303);
    const returned = await fetch(String(cancelled.headers.get('location')), { redirect: 'manual' });
    const returnedPage = await returned.text();
    expect(returned.status).toBe(200);
    expect(returnedPage).toContain(`<form method="POST" action="/pay/${orderId}/attempts">`);

    // The return is answered before the workflow's lookup of the pidx ends attempt 1; until then the pay link still
    // shows the open attempt. The payer here reaches the pay link once it has ended (see the slow-Khalti test).
    await waitForOrder(orderId, 'attempt 1 cancelled', (order) => attemptStatuses(order).join() === '1:cancelled');
    const payLink = await fetch(`${stack.apiUrl}/pay/${orderId}`);
    const payLinkPage = await payLink.text();
    expect(payLink.status).toBe(200);
    expect(payLinkPage).toContain('Your last payment was cancelled; nothing was charged.');
    expect(payLinkPage).toContain(`<form method="POST" action="/pay/${orderId}/attempts">`);

    const tryAgain = await pressTryAgain(orderId);
    expect(tryAgain.status).toBe(303);
    const secondPaymentUrl = String(tryAgain.headers.get('location'));
    expect(secondPaymentUrl.startsWith(`${stack.sandboxUrl}/khalti-pay/?pidx=`)).toBe(true);
    const secondPidx = String(new URL(secondPaymentUrl).searchParams.get('pidx'));
    expect(secondPidx).not.toBe(firstPidx);

    const paid = await submitKhaltiPage(secondPaymentUrl, 'pay');
    expect(paid.status).toBe(303);
    const paidReturn = await fetch(String(paid.headers.get('location')), { redirect: 'manual' });
    expect(paidReturn.status).toBeLessThan(400);
    await waitForPaidOrder(stack, orderId);
    const order = await waitForOrder(orderId, 'attempt 2 paid', (view) => view.attempts.at(-1)?.status === 'paid');

    expect(order.attempts).toEqual([
      expect.objectContaining({
        number: 1,
        gateway: 'khalti',
        status: 'cancelled',
        failureReason: 'cancelled_at_gateway',
        intentId: firstPidx,
      }),
      expect.objectContaining({ number: 2, gateway: 'khalti', status: 'paid', intentId: secondPidx }),
    ]);
    expect(order).toMatchObject({ status: 'PAID', intentId: secondPidx, capturedAmount: 1_200 });

    // The payment is the second pidx's, and the first pidx was never taken for it: it has no transaction at all.
    const payments = await sandboxKhaltiPayments(orderId);
    const first = payments.find((payment) => payment.pidx === firstPidx);
    const second = payments.find((payment) => payment.pidx === secondPidx);
    expect(payments).toHaveLength(2);
    expect(first).toMatchObject({ status: 'User canceled', transactionId: null, refundedAmount: 0 });
    expect(second).toMatchObject({ status: 'Completed', refundedAmount: 0 });
    expect(await orderRow(orderId)).toEqual({
      status: 'PAID',
      gateway: 'khalti',
      intent_id: secondPidx,
      payment_reference: second?.transactionId,
    });
    expect(await refundRows(orderId)).toEqual([]);
  });
  it('when the payer presses Try again while the workflow is still looking up the cancelled pidx (a slow Khalti), then a new pidx is opened and the payer is never sent back to the cancelled one', async () => {
    const orderId = uniqueId('e2e-attempts-khalti-slow');
    const { paymentUrl } = await createOrder({ orderId, amount: 1_200, currency: 'NPR', gateway: 'khalti' });
    const firstPidx = String(new URL(paymentUrl).searchParams.get('pidx'));

    const cancelled = await submitKhaltiPage(paymentUrl, 'cancel');
    expect(cancelled.status).toBe(303);
    // Khalti answers slowly from here on: the lookup that the return asks for is still under way when the payer,
    // straight from the return's page, presses Try again.
    await setSandboxFaults({ apiLatencyMs: 1_500 });
    try {
      const returned = await fetch(String(cancelled.headers.get('location')), { redirect: 'manual' });
      expect(returned.status).toBe(200);
      const tryAgain = await pressTryAgain(orderId);
      expect(tryAgain.status).toBe(303);
      const next = new URL(String(tryAgain.headers.get('location')));
      expect(`${next.origin}${next.pathname}`).toBe(`${stack.sandboxUrl}/khalti-pay/`);
      expect(next.searchParams.get('pidx')).not.toBe(firstPidx);
    } finally {
      await setSandboxFaults({ apiLatencyMs: 0 });
    }
    const order = await waitForOrder(
      orderId,
      'attempt 1 cancelled, attempt 2 open',
      (view) => attemptStatuses(view).join() === '1:cancelled,2:open',
    );
    expect(order.attempts[1]?.intentId).not.toBe(firstPidx);
  });
});

describe('eSewa: a failed payment leads back to the pay link', () => {
  it('when the payer fails on eSewa, tries again from the pay link and pays, then attempt 2 with a new transaction_uuid pays the order', async () => {
    const orderId = uniqueId('e2e-attempts-esewa');
    const { paymentUrl } = await createOrder({ orderId, amount: 1_500_00, currency: 'NPR', gateway: 'esewa' });
    expect(paymentUrl).toBe(`${stack.apiUrl}/pay/${orderId}`);

    const first = await goToEsewaFromPayLink(orderId);
    const failed = await pressEsewaPage(stack.sandboxUrl, first.transactionUuid, 'fail');
    expect(failed.status).toBe(303);
    const failureReturn = String(failed.headers.get('location'));
    expect(failureReturn.startsWith(`${stack.apiUrl}/callbacks/esewa/failure/${first.transactionUuid}`)).toBe(true);
    const returned = await fetch(failureReturn, { redirect: 'manual' });
    const returnedPage = await returned.text();
    expect(returned.status).toBe(200);
    expect(returnedPage).toContain(`<form method="POST" action="/pay/${orderId}/attempts">`);

    // eSewa's status API names the failed transaction CANCELED (not NOT_FOUND): the lookup the return asks for ends
    // the attempt, so the pay link offers a new attempt rather than the failed transaction's form.
    const status = await fetch(
      `${stack.sandboxUrl}/api/epay/transaction/status/?${new URLSearchParams({
        product_code: first.productCode,
        total_amount: '1500',
        transaction_uuid: first.transactionUuid,
      }).toString()}`,
    );
    expect(await status.json()).toMatchObject({ transaction_uuid: first.transactionUuid, status: 'CANCELED' });
    await waitForOrder(orderId, 'attempt 1 cancelled', (order) => attemptStatuses(order).join() === '1:cancelled');

    const payLink = await fetch(`${stack.apiUrl}/pay/${orderId}`);
    const payLinkPage = await payLink.text();
    expect(payLink.status).toBe(200);
    expect(payLinkPage).toContain('Your last payment was cancelled; nothing was charged.');
    expect(payLinkPage).toContain(`<form method="POST" action="/pay/${orderId}/attempts">`);
    expect(payLinkPage).not.toContain(first.transactionUuid);

    const tryAgain = await pressTryAgain(orderId);
    expect(tryAgain.status).toBe(303);
    expect(tryAgain.headers.get('location')).toBe(`${stack.apiUrl}/pay/${orderId}`);
    const second = await goToEsewaFromPayLink(orderId);
    expect(second.transactionUuid).not.toBe(first.transactionUuid);

    const paid = await pressEsewaPage(stack.sandboxUrl, second.transactionUuid, 'pay');
    expect(paid.status).toBe(303);
    const successReturn = String(paid.headers.get('location'));
    expect(successReturn.startsWith(`${stack.apiUrl}/callbacks/esewa/success?data=`)).toBe(true);
    expect((await fetch(successReturn, { redirect: 'manual' })).status).toBeLessThan(400);
    await waitForPaidOrder(stack, orderId);
    const order = await waitForOrder(orderId, 'attempt 2 paid', (view) => view.attempts.at(-1)?.status === 'paid');

    expect(order.attempts).toEqual([
      expect.objectContaining({
        number: 1,
        gateway: 'esewa',
        status: 'cancelled',
        failureReason: 'cancelled_at_gateway',
        intentId: first.transactionUuid,
      }),
      expect.objectContaining({ number: 2, gateway: 'esewa', status: 'paid', intentId: second.transactionUuid }),
    ]);
    expect(order).toMatchObject({ status: 'PAID', intentId: second.transactionUuid, capturedAmount: 1_500_00 });
    expect(await attemptRows(orderId)).toEqual([
      expect.objectContaining({ attempt_number: 1, intent_id: first.transactionUuid, status: 'cancelled' }),
      expect.objectContaining({ attempt_number: 2, intent_id: second.transactionUuid, status: 'paid' }),
    ]);
    expect(await refundRows(orderId)).toEqual([]);
  });
});

describe('a capture on a superseded attempt after another attempt paid', () => {
  it('when the payer switches from Khalti to eSewa, pays there, then also pays the old Khalti pidx, then that capture is refunded once and the order stays PAID', async () => {
    const orderId = uniqueId('e2e-attempts-dup');
    const amount = 2_000;
    const { paymentUrl: khaltiPageUrl } = await createOrder({
      orderId,
      amount,
      currency: 'NPR',
      gateway: 'khalti',
      gateways: ['khalti', 'esewa'],
    });
    const khaltiPidx = String(new URL(khaltiPageUrl).searchParams.get('pidx'));

    const switched = await pressTryAgain(orderId, 'esewa');
    expect(switched.status).toBe(303);
    expect(switched.headers.get('location')).toBe(`${stack.apiUrl}/pay/${orderId}`);
    const esewa = await goToEsewaFromPayLink(orderId);
    const paid = await pressEsewaPage(stack.sandboxUrl, esewa.transactionUuid, 'pay');
    expect(paid.status).toBe(303);
    expect((await fetch(String(paid.headers.get('location')), { redirect: 'manual' })).status).toBeLessThan(400);
    await waitForPaidOrder(stack, orderId);
    const paidOrder = await waitForOrder(orderId, 'attempt 2 paid', (view) => view.attempts.at(-1)?.status === 'paid');
    expect(paidOrder.attempts).toEqual([
      expect.objectContaining({ number: 1, gateway: 'khalti', status: 'superseded', intentId: khaltiPidx }),
      expect.objectContaining({ number: 2, gateway: 'esewa', status: 'paid', intentId: esewa.transactionUuid }),
    ]);

    // Khalti cannot cancel a pidx, so the superseded page can still take the payer's money.
    const latePay = await submitKhaltiPage(khaltiPageUrl, 'pay');
    expect(latePay.status).toBe(303);
    const khaltiReturn = String(latePay.headers.get('location'));
    expect(khaltiReturn.startsWith(`${stack.apiUrl}/callbacks/khalti?`)).toBe(true);
    // The browser loads the return twice at once (a refresh while the first load is under way).
    const returns = await Promise.all([1, 2].map(() => fetch(khaltiReturn, { redirect: 'manual' })));
    expect(returns.map((response) => response.status < 400)).toEqual([true, true]);

    const khaltiPayment = await eventually(
      async () => {
        const payment = (await sandboxKhaltiPayments(orderId)).find((candidate) => candidate.pidx === khaltiPidx);
        return payment?.status === 'Refunded' ? payment : undefined;
      },
      { timeoutMs: 15_000, what: 'the Khalti capture refunded' },
    ).catch((error: unknown) => {
      console.error(stack.logs());
      throw error;
    });
    expect(khaltiPayment).toMatchObject({ refundedAmount: amount, refunds: [{ amount }] });
    const refunds = await eventually(
      async () => {
        const rows = await refundRows(orderId);
        return rows.length > 0 && rows.every((row) => row.state === 'succeeded') ? rows : undefined;
      },
      { timeoutMs: 15_000, what: 'the duplicate capture refund recorded as succeeded' },
    );
    expect(refunds).toEqual([
      {
        amount_minor: amount,
        reason: 'duplicate_capture',
        state: 'succeeded',
        payment_reference: khaltiPayment.transactionId,
      },
    ]);

    // The payer's browser comes back with the same return again, after the refund: nothing more is refunded.
    expect((await fetch(khaltiReturn, { redirect: 'manual' })).status).toBeLessThan(400);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await refundRows(orderId)).toHaveLength(1);
    expect((await sandboxKhaltiPayments(orderId)).find((payment) => payment.pidx === khaltiPidx)?.refunds).toEqual([
      { amount, at: expect.any(Number) as number },
    ]);

    const order = await readOrder(orderId);
    expect(order).toMatchObject({
      status: 'PAID',
      gateway: 'esewa',
      intentId: esewa.transactionUuid,
      capturedAmount: amount,
      refundedAmount: 0,
    });
    expect(attemptStatuses(order)).toEqual(['1:superseded', '2:paid']);
    expect((await orderRow(orderId))?.status).toBe('PAID');
  });
});
