// Proves the Stripe adapter, through the official SDK over real HTTP, drives the sandbox gateway through every
// path orderpay needs: one session per order however often it is asked, pay, decline, abandon, expire, refund,
// and the mapping of gateway faults to retryable or final errors.
import type { CreateIntentRequest, PaymentGateway } from '../../gateways/gateway';
import { GatewayRejectedError, GatewayUnavailableError } from '../../gateways/gateway-errors';
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import type { RunningSandbox } from '../../sandbox/server';
import { startTestSandbox, submitPaymentPage, TEST_STRIPE_KEY } from '../support/sandbox';
import { uniqueId } from '../support/temporal';

const SHOP_URL = 'http://shop.test';
const MINUTE = 60_000;

let running: RunningSandbox;
let gateway: PaymentGateway;

function gatewayFor(overrides: Partial<Parameters<typeof createStripeGateway>[0]> = {}): PaymentGateway {
  return createStripeGateway({
    apiBase: running.url,
    secretKey: TEST_STRIPE_KEY,
    timeoutMs: 2_000,
    publicBaseUrl: SHOP_URL,
    ...overrides,
  });
}

function intentRequest(overrides: Partial<CreateIntentRequest> = {}): CreateIntentRequest {
  const orderId = overrides.orderId ?? uniqueId('ord');
  return {
    orderId,
    amountMinor: 2_500,
    currency: 'USD',
    description: 'Two coffees',
    expiresAt: new Date(Date.now() + 15 * MINUTE),
    idempotencyKey: orderId,
    ...overrides,
  };
}

function sessionsOf(orderId: string) {
  return running.sandbox.sessions(orderId);
}

beforeEach(async () => {
  running = await startTestSandbox();
  gateway = gatewayFor();
});

afterEach(async () => {
  await running.stop();
});

describe('creating the checkout session', () => {
  test('when the same order is created twice, then the same session comes back and the sandbox holds one session for it', async () => {
    const request = intentRequest();
    const first = await gateway.createIntent(request);
    const second = await gateway.createIntent(request);

    expect(second).toEqual(first);
    expect(first.intentId).toMatch(/^cs_test_/);
    expect(first.paymentUrl).toBe(`${running.publicUrl}/pay/${first.intentId}`);
    const stats = running.sandbox.stats();
    expect(stats.sessionsByOrderId[request.orderId]).toBe(1);
    expect(stats.sessionsCreated).toBe(1);
    expect(stats.idempotentReplays).toBe(1);
  });

  test('when the order is created, then the session carries the order, the amount and the shop landing URL', async () => {
    const request = intentRequest({ customer: { email: 'payer@example.com' } });
    const { intentId } = await gateway.createIntent(request);

    const [session] = sessionsOf(request.orderId);
    expect(session).toMatchObject({
      id: intentId,
      amount_total: 2_500,
      currency: 'usd',
      client_reference_id: request.orderId,
      metadata: { orderId: request.orderId },
      customer_email: 'payer@example.com',
      success_url: `${SHOP_URL}/orders/${request.orderId}`,
      cancel_url: `${SHOP_URL}/orders/${request.orderId}`,
      status: 'open',
    });
    // 15 minutes is below Stripe's 30-minute minimum, so the gateway keeps its 24-hour default.
    expect(session?.expires_at).toBe((session?.created ?? 0) + 24 * 60 * 60);
  });

  test('when the order has a return URL, then the payer comes back to it with the order ID added', async () => {
    const request = intentRequest({ returnUrl: 'https://merchant.example/thanks?lang=en' });
    await gateway.createIntent(request);

    const [session] = sessionsOf(request.orderId);
    expect(session?.success_url).toBe(`https://merchant.example/thanks?lang=en&orderId=${request.orderId}`);
    expect(session?.cancel_url).toBe(session?.success_url);
  });

  test('when the order expires more than 30 minutes from now, then the gateway session expires with it', async () => {
    const expiresAt = new Date(Date.now() + 45 * MINUTE);
    const request = intentRequest({ expiresAt });
    await gateway.createIntent(request);

    expect(sessionsOf(request.orderId)[0]?.expires_at).toBe(Math.floor(expiresAt.getTime() / 1000));
  });

  test('when a retry crosses the 30-minute line for expires_at, then the session stored under the key is still returned', async () => {
    const request = intentRequest({ expiresAt: new Date(Date.now() + 40 * MINUTE) });
    const first = await gateway.createIntent(request);
    // The retry runs "15 minutes later": now only 25 minutes remain, so it would leave expires_at out.
    const later = gatewayFor({ now: () => new Date(Date.now() + 15 * MINUTE) });
    const retried = await later.createIntent(request);

    expect(retried).toEqual(first);
    expect(running.sandbox.stats().sessionsByOrderId[request.orderId]).toBe(1);
  });

  test('when the same key is reused for a different amount, then the gateway rejects it as an idempotency error', async () => {
    const request = intentRequest();
    await gateway.createIntent(request);

    const conflict = gateway.createIntent({ ...request, amountMinor: 9_999 });
    await expect(conflict).rejects.toBeInstanceOf(GatewayRejectedError);
    await expect(conflict).rejects.toMatchObject({ code: 'idempotency_error', httpStatus: 400 });
    expect(running.sandbox.stats().sessionsByOrderId[request.orderId]).toBe(1);
  });

  test('when the amount is not a positive integer of minor units, then nothing is sent', async () => {
    await expect(gateway.createIntent(intentRequest({ amountMinor: 12.5 }))).rejects.toMatchObject({
      code: 'invalid_amount',
    });
    expect(running.sandbox.stats().apiRequests).toBe(0);
  });
});

describe('the payer on the hosted page', () => {
  test('when the payer pays, then they go to the success URL and the payment is captured', async () => {
    const request = intentRequest();
    const { intentId, paymentUrl } = await gateway.createIntent(request);

    const page = await fetch(paymentUrl);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('25.00 USD');
    expect(html).toContain(request.orderId);

    const paid = await submitPaymentPage(paymentUrl, 'pay');
    expect(paid.status).toBe(303);
    expect(paid.headers.get('location')).toBe(`${SHOP_URL}/orders/${request.orderId}`);

    const status = await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId });
    expect(status).toMatchObject({
      state: 'captured',
      amountMinor: 2_500,
      currency: 'USD',
      refundedAmountMinor: 0,
      gatewayStatus: expect.stringContaining('payment_status=paid'),
    });
    expect(status.paymentReference).toMatch(/^pi_/);
  });

  test('when the card is declined, then the payment is failed and the page stays open for another try', async () => {
    const request = intentRequest();
    const { intentId, paymentUrl } = await gateway.createIntent(request);

    const declined = await submitPaymentPage(paymentUrl, 'decline');
    expect(declined.status).toBe(303);
    const failed = await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId });
    expect(failed).toMatchObject({ state: 'failed', gatewayStatus: expect.stringContaining('card_declined') });

    const page = await fetch(paymentUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Your card was declined.');
    expect((await submitPaymentPage(paymentUrl, 'pay')).status).toBe(303);
    expect((await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId })).state).toBe('captured');
  });

  test('when the payer abandons the page, then they go to the cancel URL and the payment stays pending', async () => {
    const request = intentRequest();
    const { intentId, paymentUrl } = await gateway.createIntent(request);

    const abandoned = await submitPaymentPage(paymentUrl, 'abandon');
    expect(abandoned.status).toBe(303);
    expect(abandoned.headers.get('location')).toBe(`${SHOP_URL}/orders/${request.orderId}`);
    const status = await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId });
    expect(status.state).toBe('pending');
  });

  test('when the session does not exist, then the status is not_found', async () => {
    const status = await gateway.fetchPaymentStatus({ orderId: 'ord-x', intentId: 'cs_test_doesnotexist' });
    expect(status).toEqual({ state: 'not_found', gatewayStatus: 'resource_missing' });
  });

  test('when the session belongs to another order, then the lookup is rejected', async () => {
    const { intentId } = await gateway.createIntent(intentRequest());
    await expect(gateway.fetchPaymentStatus({ orderId: 'someone-else', intentId })).rejects.toMatchObject({
      code: 'intent_order_mismatch',
    });
  });
});

describe('cancelling', () => {
  test('when the order is cancelled before payment, then the session is expired (closed for good) and paying afterwards is refused', async () => {
    const request = intentRequest();
    const { intentId, paymentUrl } = await gateway.createIntent(request);

    expect(await gateway.cancelIntent({ orderId: request.orderId, intentId })).toEqual({
      outcome: 'cancelled',
      closedAtGateway: true,
    });
    expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId })).toMatchObject({
      state: 'cancelled',
    });

    const late = await submitPaymentPage(paymentUrl, 'pay');
    expect(late.status).toBe(409);
    expect(await late.text()).toContain('expired');
    expect((await fetch(paymentUrl)).status).toBe(409);
    expect((await submitPaymentPage(paymentUrl, 'decline')).status).toBe(409);
    expect(running.sandbox.stats()).toMatchObject({ paymentsCaptured: 0, paymentsDeclined: 0 });
  });

  test('when the order is cancelled twice, then the second cancel also reports cancelled', async () => {
    const request = intentRequest();
    const { intentId } = await gateway.createIntent(request);
    await gateway.cancelIntent({ orderId: request.orderId, intentId });

    expect(await gateway.cancelIntent({ orderId: request.orderId, intentId })).toEqual({
      outcome: 'cancelled',
      closedAtGateway: true,
    });
  });

  test('when the payer paid before the cancel, then the cancel reports the capture instead', async () => {
    const request = intentRequest();
    const { intentId, paymentUrl } = await gateway.createIntent(request);
    await submitPaymentPage(paymentUrl, 'pay');

    const outcome = await gateway.cancelIntent({ orderId: request.orderId, intentId });
    expect(outcome).toEqual({
      outcome: 'already_captured',
      amountMinor: 2_500,
      currency: 'USD',
      paymentReference: expect.stringMatching(/^pi_/),
    });
    expect(sessionsOf(request.orderId)[0]?.status).toBe('complete');
  });
});

describe('refunding', () => {
  async function paidOrder() {
    const request = intentRequest();
    const { intentId, paymentUrl } = await gateway.createIntent(request);
    await submitPaymentPage(paymentUrl, 'pay');
    const status = await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId });
    return { orderId: request.orderId, intentId, paymentReference: status.paymentReference };
  }

  test('when the same refund is requested twice, then the gateway refunds once', async () => {
    const order = await paidOrder();
    const refund = {
      ...order,
      refundId: `refund-${order.orderId}-1`,
      amountMinor: 1_000,
      currency: 'USD',
      reason: 'x',
    };

    const first = await gateway.refund(refund);
    const second = await gateway.refund(refund);

    expect(first).toEqual({ gatewayRefundId: expect.stringMatching(/^re_/), state: 'succeeded' });
    expect(second).toEqual(first);
    expect(running.sandbox.stats()).toMatchObject({ refundsCreated: 1, refundedAmountMinor: 1_000 });
    const status = await gateway.fetchPaymentStatus(order);
    expect(status.refundedAmountMinor).toBe(1_000);
  });

  test('when refunds exceed what was captured, then the excess refund is rejected and nothing more is refunded', async () => {
    const order = await paidOrder();
    const base = { ...order, currency: 'USD', reason: 'x' };
    await gateway.refund({ ...base, refundId: `refund-${order.orderId}-1`, amountMinor: 2_000 });

    const excess = gateway.refund({ ...base, refundId: `refund-${order.orderId}-2`, amountMinor: 501 });
    await expect(excess).rejects.toBeInstanceOf(GatewayRejectedError);
    await expect(excess).rejects.toMatchObject({ code: 'amount_too_large', httpStatus: 400 });
    expect(running.sandbox.stats()).toMatchObject({ refundsCreated: 1, refundedAmountMinor: 2_000 });
  });

  test('when the payment reference is unknown to the caller, then the refund finds it from the session', async () => {
    const order = await paidOrder();
    const result = await gateway.refund({
      orderId: order.orderId,
      intentId: order.intentId,
      refundId: `refund-${order.orderId}-1`,
      amountMinor: 2_500,
      currency: 'USD',
      reason: 'customer asked',
    });

    expect(result.state).toBe('succeeded');
    expect(running.sandbox.stats().refundedAmountMinor).toBe(2_500);
  });

  test('when the session was never paid, then the refund is rejected', async () => {
    const request = intentRequest();
    const { intentId } = await gateway.createIntent(request);
    const refund = gateway.refund({
      orderId: request.orderId,
      intentId,
      refundId: `refund-${request.orderId}-1`,
      amountMinor: 100,
      currency: 'USD',
      reason: 'x',
    });
    await expect(refund).rejects.toMatchObject({ code: 'no_captured_payment' });
  });
});

describe('gateway faults', () => {
  test('when every API call fails with a 5xx, then the call is retryable and nothing was created', async () => {
    running.sandbox.setFaults({ apiErrorRate: 1 });
    const request = intentRequest();

    const failing = gateway.createIntent(request);
    await expect(failing).rejects.toBeInstanceOf(GatewayUnavailableError);
    await expect(failing).rejects.toMatchObject({ httpStatus: 500 });
    expect(running.sandbox.stats().sessionsCreated).toBe(0);

    running.sandbox.setFaults({ apiErrorRate: 0 });
    await gateway.createIntent(request);
    expect(running.sandbox.stats().sessionsByOrderId[request.orderId]).toBe(1);
  });

  test('when the answer is lost after the session was made, then the retry gets that same session', async () => {
    running.sandbox.setFaults({ apiErrorAfterCommitRate: 1 });
    const request = intentRequest();

    await expect(gateway.createIntent(request)).rejects.toBeInstanceOf(GatewayUnavailableError);
    const [made] = sessionsOf(request.orderId);

    running.sandbox.setFaults({ apiErrorAfterCommitRate: 0 });
    const retried = await gateway.createIntent(request);
    expect(retried.intentId).toBe(made?.id);
    expect(running.sandbox.stats().sessionsByOrderId[request.orderId]).toBe(1);
  });

  test('when the gateway answers slower than the timeout, then the call is retryable', async () => {
    running.sandbox.setFaults({ apiLatencyMs: 500 });
    const impatient = gatewayFor({ timeoutMs: 100 });

    await expect(impatient.fetchPaymentStatus({ orderId: 'o', intentId: 'cs_test_x' })).rejects.toBeInstanceOf(
      GatewayUnavailableError,
    );
  });

  test('when nothing listens at the API base, then the call is retryable', async () => {
    const nowhere = createStripeGateway({
      apiBase: 'http://127.0.0.1:9',
      secretKey: TEST_STRIPE_KEY,
      timeoutMs: 1_000,
      publicBaseUrl: SHOP_URL,
    });
    await expect(nowhere.createIntent(intentRequest())).rejects.toBeInstanceOf(GatewayUnavailableError);
  });

  test('when the secret key is wrong, then the call is rejected as unauthorised', async () => {
    const wrongKey = gatewayFor({ secretKey: 'sk_test_wrong' });

    const rejected = wrongKey.createIntent(intentRequest());
    await expect(rejected).rejects.toBeInstanceOf(GatewayRejectedError);
    await expect(rejected).rejects.toMatchObject({ httpStatus: 401, code: 'api_key_invalid' });
    expect(running.sandbox.stats().sessionsCreated).toBe(0);
  });
});

describe('configuration', () => {
  const valid = { secretKey: TEST_STRIPE_KEY, timeoutMs: 1_000, publicBaseUrl: SHOP_URL };

  test('when the API base carries a path, then construction fails instead of the SDK silently dropping it', () => {
    expect(() => createStripeGateway({ ...valid, apiBase: 'http://127.0.0.1:12111/stripe' })).toThrow(/scheme/);
  });

  test('when the API base is not http(s) or the timeout is not a positive integer, then construction fails', () => {
    expect(() => createStripeGateway({ ...valid, apiBase: 'ftp://127.0.0.1:12111' })).toThrow();
    expect(() => createStripeGateway({ ...valid, apiBase: 'http://127.0.0.1:12111', timeoutMs: 0 })).toThrow();
  });

  test('when the API base ends with a slash, then it is accepted', () => {
    expect(createStripeGateway({ ...valid, apiBase: `${running.url}/` }).name).toBe('stripe');
  });
});
