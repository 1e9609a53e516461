// The retry paths a payer has at each gateway, through the adapters and the sandbox over real HTTP, as orderpay's
// payment attempts rely on them:
// - Stripe: declined tries on one Checkout Session, each a failed charge of its own (the ref the workflow tells tries
//   apart by), with Stripe's reasons; then paying completes the same session.
// - Khalti: cancelling on the page returns "User canceled"; a new initiate for the same purchase_order_id is a new
//   pidx, which can be paid, while the cancelled pidx never can.
// - eSewa: failing on the page goes to the merchant's failure_url; the next attempt's transaction UUID is a payment
//   of its own, and the status API answers for each UUID separately.
import { createEsewaCallbackHandler } from '../../gateways/esewa/esewa.callbacks';
import { createEsewaGateway } from '../../gateways/esewa/esewa.gateway';
import { ESEWA_UAT_PRODUCT_CODE, ESEWA_UAT_SECRET_KEY, buildEsewaForm } from '../../gateways/esewa/esewa.protocol';
import { parseKhaltiCallback } from '../../gateways/khalti/khalti.callback';
import { createKhaltiGateway } from '../../gateways/khalti/khalti.gateway';
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';
import type { CreateIntentRequest } from '../../gateways/gateway';
import type { RunningSandbox } from '../../sandbox/server';
import { paymentAttemptKey } from '../../domain/payment-attempts';
import {
  declinePaymentPage,
  eventually,
  pressEsewaPage,
  startTestSandbox,
  startWebhookReceiver,
  submitEsewaForm,
  submitKhaltiPage,
  submitPaymentPage,
  TEST_KHALTI_KEY,
  TEST_STRIPE_KEY,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../support/sandbox';
import { uniqueId } from '../support/temporal';

const SHOP_URL = 'http://shop.test';

let running: RunningSandbox;
let receiver: WebhookReceiver;

beforeEach(async () => {
  receiver = await startWebhookReceiver();
  running = await startTestSandbox({ webhookUrl: receiver.url });
});
afterEach(async () => {
  await running.stop();
  await receiver.close();
});

function intentRequest(orderId: string, currency: string, amountMinor: number, attemptNumber = 1): CreateIntentRequest {
  return {
    orderId,
    amountMinor,
    currency,
    expiresAt: new Date(Date.now() + 15 * 60_000),
    idempotencyKey: paymentAttemptKey(orderId, attemptNumber),
    attemptNumber,
  };
}

describe('Stripe: declined tries on one session', () => {
  const verifier = createStripeWebhookVerifier({ secrets: [TEST_WEBHOOK_SECRET], toleranceSeconds: 300 });
  const stripe = () =>
    createStripeGateway({
      apiBase: running.url,
      secretKey: TEST_STRIPE_KEY,
      timeoutMs: 2_000,
      publicBaseUrl: SHOP_URL,
    });

  test('when the payer is declined twice and then pays, then each decline has its own charge ref and the same session is paid', async () => {
    const orderId = uniqueId('retry-stripe');
    const gateway = stripe();
    const { intentId, paymentUrl } = await gateway.createIntent(intentRequest(orderId, 'USD', 2_500));
    const lookup = { orderId, intentId };

    expect((await declinePaymentPage(paymentUrl, 'insufficient_funds')).status).toBe(303);
    const first = await gateway.fetchPaymentStatus(lookup);
    expect(first).toMatchObject({
      state: 'failed',
      failure: { code: 'card_declined', declineCode: 'insufficient_funds', ref: expect.stringMatching(/^ch_/) },
    });
    // The page stays open and says why, in Stripe's words.
    const page = await fetch(paymentUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Your card has insufficient funds. You can try again.');
    // A later lookup before the next try still reports the same decline: same ref, so it is recorded once.
    expect((await gateway.fetchPaymentStatus(lookup)).failure).toEqual(first.failure);

    expect((await declinePaymentPage(paymentUrl, 'incorrect_cvc')).status).toBe(303);
    const second = await gateway.fetchPaymentStatus(lookup);
    expect(second).toMatchObject({ state: 'failed', failure: { code: 'incorrect_cvc' } });
    expect(second.failure).not.toHaveProperty('declineCode');
    expect(second.failure?.ref).toMatch(/^ch_/);
    expect(second.failure?.ref).not.toBe(first.failure?.ref);

    // The webhooks name the same failed charges as the lookups.
    await eventually(() => expect(receiver.received).toHaveLength(2));
    const refs = receiver.received.map(
      (webhook) => verifier.verify(webhook.rawBody, webhook.headers).paymentEvent?.failure?.ref,
    );
    expect(refs).toEqual([first.failure?.ref, second.failure?.ref]);

    expect((await submitPaymentPage(paymentUrl, 'pay')).status).toBe(303);
    const paid = await gateway.fetchPaymentStatus(lookup);
    expect(paid).toMatchObject({ state: 'captured', amountMinor: 2_500, currency: 'USD' });
    expect(paid.failure).toBeUndefined();
    expect(running.sandbox.stats()).toMatchObject({ paymentsDeclined: 2, paymentsCaptured: 1 });
    expect(running.sandbox.stats().sessionsByOrderId[orderId]).toBe(1);
  });

  test('when the page offers its decline reasons, then each is a choice, the default is generic and a made-up one is refused', async () => {
    const orderId = uniqueId('retry-reasons');
    const gateway = stripe();
    const { intentId, paymentUrl } = await gateway.createIntent(intentRequest(orderId, 'USD', 2_500));
    const html = await (await fetch(paymentUrl)).text();
    for (const reason of ['generic_decline', 'insufficient_funds', 'incorrect_cvc']) {
      expect(html).toContain(`<option value="${reason}"`);
    }

    expect((await declinePaymentPage(paymentUrl, 'nonsense' as 'generic_decline')).status).toBe(400);
    expect((await gateway.fetchPaymentStatus({ orderId, intentId })).state).toBe('pending');

    expect((await submitPaymentPage(paymentUrl, 'decline')).status).toBe(303);
    expect((await gateway.fetchPaymentStatus({ orderId, intentId })).failure).toMatchObject({
      code: 'card_declined',
      declineCode: 'generic_decline',
    });
  });

  test('when a declined charge is asked to be refunded, then the sandbox refuses it, as Stripe does', async () => {
    const orderId = uniqueId('retry-refund');
    const gateway = stripe();
    const { intentId, paymentUrl } = await gateway.createIntent(intentRequest(orderId, 'USD', 2_500));
    await declinePaymentPage(paymentUrl, 'generic_decline');
    const charge = (await gateway.fetchPaymentStatus({ orderId, intentId })).failure?.ref ?? '';
    const refused = await fetch(`${running.url}/v1/refunds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_STRIPE_KEY}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ charge }).toString(),
    });
    expect(refused.status).toBe(400);
  });
});

describe('Khalti: cancel, then a new pidx for the same order', () => {
  const khalti = () =>
    createKhaltiGateway({
      baseUrl: `${running.url}/api/v2/`,
      secretKey: TEST_KHALTI_KEY,
      timeoutMs: 2_000,
      publicBaseUrl: SHOP_URL,
    });

  test('when the payer cancels and a new attempt is initiated, then the new pidx can be paid and the old one never', async () => {
    const orderId = uniqueId('retry-khalti');
    const gateway = khalti();
    const first = await gateway.createIntent(intentRequest(orderId, 'NPR', 150_000));

    const cancelled = await submitKhaltiPage(first.paymentUrl, 'cancel');
    expect(cancelled.status).toBe(303);
    const location = new URL(String(cancelled.headers.get('location')));
    expect(`${location.origin}${location.pathname}`).toBe(`${SHOP_URL}/callbacks/khalti`);
    const returned = parseKhaltiCallback(Object.fromEntries(location.searchParams), new Date());
    expect(returned).toMatchObject({ orderId, pidx: first.intentId, claimedStatus: 'User canceled' });
    expect(await gateway.fetchPaymentStatus({ orderId, intentId: first.intentId })).toMatchObject({
      state: 'cancelled',
      failure: { code: 'User canceled' },
    });

    const second = await gateway.createIntent(intentRequest(orderId, 'NPR', 150_000, 2));
    expect(second.intentId).not.toBe(first.intentId);

    // The cancelled pidx stays closed: its page refuses, pressing pay there changes nothing.
    expect((await fetch(first.paymentUrl)).status).toBe(409);
    const pidxOf = (url: string) => new URL(url).searchParams.get('pidx');
    const latePay = await fetch(`${running.url}/khalti-pay/${pidxOf(first.paymentUrl)}/pay`, {
      method: 'POST',
      redirect: 'manual',
    });
    expect(latePay.status).toBe(409);

    expect((await submitKhaltiPage(second.paymentUrl, 'pay')).status).toBe(303);
    expect(await gateway.fetchPaymentStatus({ orderId, intentId: second.intentId })).toMatchObject({
      state: 'captured',
      amountMinor: 150_000,
    });
    expect(await gateway.fetchPaymentStatus({ orderId, intentId: first.intentId })).toMatchObject({
      state: 'cancelled',
      gatewayStatus: 'User canceled',
    });
  });
});

describe('eSewa: failure redirect, then a new transaction UUID for the same order', () => {
  const merchant = {
    formUrl: '',
    productCode: ESEWA_UAT_PRODUCT_CODE,
    secretKey: ESEWA_UAT_SECRET_KEY,
    publicBaseUrl: SHOP_URL,
  };
  const esewa = () =>
    createEsewaGateway({
      statusUrl: `${running.url}/api/epay/transaction/status/`,
      productCode: ESEWA_UAT_PRODUCT_CODE,
      publicBaseUrl: SHOP_URL,
      timeoutMs: 2_000,
    });
  const callbacks = createEsewaCallbackHandler({
    productCode: ESEWA_UAT_PRODUCT_CODE,
    secretKey: ESEWA_UAT_SECRET_KEY,
  });

  test('when the payer fails on eSewa and pays the next attempt, then each UUID has its own status', async () => {
    const orderId = uniqueId('retry.esewa');
    const gateway = esewa();
    const amountMinor = 2_000_00;
    const first = await gateway.createIntent(intentRequest(orderId, 'NPR', amountMinor));
    const second = await gateway.createIntent(intentRequest(orderId, 'NPR', amountMinor, 2));
    expect(second.paymentUrl).toBe(first.paymentUrl);
    expect(second.intentId).not.toBe(first.intentId);
    const lookup = (intentId: string) => ({ orderId, intentId, amountMinor, currency: 'NPR' });

    const form1 = buildEsewaForm(merchant, { orderId, amountMinor, transactionUuid: first.intentId });
    expect((await submitEsewaForm(running.url, { ...form1 })).status).toBe(303);
    const failed = await pressEsewaPage(running.url, first.intentId, 'fail');
    expect(failed.status).toBe(303);
    const failureUrl = String(failed.headers.get('location'));
    expect(failureUrl).toBe(form1.failure_url);
    const failurePath = new URL(failureUrl).pathname.split('/').slice(3);
    expect(callbacks.parse({ path: failurePath, query: {} })).toMatchObject({
      orderId,
      paymentEvent: { kind: 'failed', intentId: first.intentId },
    });
    expect(await gateway.fetchPaymentStatus(lookup(first.intentId))).toMatchObject({
      state: 'cancelled',
      failure: { code: 'CANCELED' },
    });
    // Nobody has submitted the second attempt yet: eSewa knows nothing of it.
    expect(await gateway.fetchPaymentStatus(lookup(second.intentId))).toMatchObject({ gatewayStatus: 'NOT_FOUND' });

    const form2 = buildEsewaForm(merchant, { orderId, amountMinor, transactionUuid: second.intentId });
    const submitted = await submitEsewaForm(running.url, { ...form2 });
    expect(submitted.status).toBe(303);
    expect(String(submitted.headers.get('location'))).toContain(`/esewa/pay/${second.intentId}`);
    const paid = await pressEsewaPage(running.url, second.intentId, 'pay');
    expect(paid.status).toBe(303);
    const success = new URL(String(paid.headers.get('location')));
    expect(
      callbacks.parse({ path: ['success'], query: { data: success.searchParams.get('data') ?? '' } }),
    ).toMatchObject({ orderId, paymentEvent: { kind: 'captured', verified: true, intentId: second.intentId } });

    expect(await gateway.fetchPaymentStatus(lookup(second.intentId))).toMatchObject({
      state: 'captured',
      amountMinor,
    });
    expect(await gateway.fetchPaymentStatus(lookup(first.intentId))).toMatchObject({ gatewayStatus: 'CANCELED' });
    // The failed attempt cannot be paid afterwards.
    expect((await pressEsewaPage(running.url, first.intentId, 'pay')).status).toBe(409);
  });
});
