// Proves the Khalti adapter, over real HTTP, drives the sandbox's Khalti mode through every path orderpay needs:
// initiate, the hosted page (pay, pending, cancel, abandon) and its return to the merchant in Khalti's callback
// format, lookups (including the HTTP 400 statuses), expiry, full and partial refunds made safe to retry, and the
// mapping of faults to retryable or final errors.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CreateIntentRequest, PaymentGateway } from '../../gateways/gateway';
import { GatewayRejectedError, GatewayUnavailableError } from '../../gateways/gateway-errors';
import { parseKhaltiCallback } from '../../gateways/khalti/khalti.callback';
import { createKhaltiGateway } from '../../gateways/khalti/khalti.gateway';
import type { RunningSandbox } from '../../sandbox/server';
import {
  eventually,
  startTestSandbox,
  submitKhaltiPage,
  TEST_KHALTI_KEY,
  type TestSandboxOptions,
} from '../support/sandbox';
import { uniqueId } from '../support/temporal';

const SHOP_URL = 'http://shop.test';
const MINUTE = 60_000;

let running: RunningSandbox;
let gateway: PaymentGateway;
let clock: number;

function gatewayFor(overrides: Partial<Parameters<typeof createKhaltiGateway>[0]> = {}): PaymentGateway {
  return createKhaltiGateway({
    baseUrl: `${running.url}/api/v2/`,
    secretKey: TEST_KHALTI_KEY,
    timeoutMs: 2_000,
    publicBaseUrl: SHOP_URL,
    ...overrides,
  });
}

function intentRequest(overrides: Partial<CreateIntentRequest> = {}): CreateIntentRequest {
  const orderId = overrides.orderId ?? uniqueId('ord');
  return {
    orderId,
    amountMinor: 150_000,
    currency: 'NPR',
    description: 'Two plates of momo',
    expiresAt: new Date(clock + 15 * MINUTE),
    idempotencyKey: orderId,
    ...overrides,
  };
}

async function start(options: TestSandboxOptions = {}): Promise<void> {
  running = await startTestSandbox({ now: () => clock, ...options });
  gateway = gatewayFor();
}

/** The raw lookup, to see Khalti's HTTP status and body as they are on the wire. */
async function rawLookup(pidx: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${running.url}/api/v2/epayment/lookup/`, {
    method: 'POST',
    headers: { Authorization: `Key ${TEST_KHALTI_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ pidx }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function paidOrder(amountMinor = 150_000) {
  const request = intentRequest({ amountMinor });
  const intent = await gateway.createIntent(request);
  const answer = await submitKhaltiPage(intent.paymentUrl, 'pay');
  expect(answer.status).toBe(303);
  return { request, intent };
}

beforeEach(async () => {
  clock = Date.parse('2026-11-21T10:00:00.000Z');
  await start();
});

afterEach(async () => {
  await running.stop();
});

describe('initiating a payment', () => {
  test('when an order is initiated, then a pidx, the hosted page and Khalti expiry come back, and the sandbox holds the order', async () => {
    const request = intentRequest({ customer: { name: 'Sita', email: 'sita@example.com', phone: '9800000001' } });
    const intent = await gateway.createIntent(request);

    expect(intent.intentId).toMatch(/^[A-Za-z0-9]{22}$/);
    expect(intent.paymentUrl).toBe(`${running.publicUrl}/khalti-pay/?pidx=${intent.intentId}`);
    expect(intent.expiresAt?.toISOString()).toBe(new Date(clock + 60 * MINUTE).toISOString());
    const [payment] = running.sandbox.khalti.payments(request.orderId);
    expect(payment).toMatchObject({
      pidx: intent.intentId,
      status: 'Initiated',
      amount: 150_000,
      purchaseOrderId: request.orderId,
      purchaseOrderName: 'Two plates of momo',
      returnUrl: `${SHOP_URL}/callbacks/khalti`,
      websiteUrl: SHOP_URL,
      customerInfo: { name: 'Sita', email: 'sita@example.com', phone: '9800000001' },
    });
  });

  test('when the control API is asked for the Khalti payments of an order, then it lists them, and refuses a repeated orderId', async () => {
    const request = intentRequest();
    const intent = await gateway.createIntent(request);

    const listed = await fetch(`${running.url}/_sandbox/khalti/payments?orderId=${request.orderId}`);
    expect(await listed.json()).toMatchObject({
      object: 'list',
      data: [{ pidx: intent.intentId, status: 'Initiated' }],
    });
    const repeated = await fetch(`${running.url}/_sandbox/khalti/payments?orderId=a&orderId=b`);
    expect(repeated.status).toBe(400);
  });

  test('when initiate is called twice for one order, then Khalti makes a second pidx (it has no idempotency key)', async () => {
    const request = intentRequest();
    const first = await gateway.createIntent(request);
    const second = await gateway.createIntent(request);

    expect(second.intentId).not.toBe(first.intentId);
    expect(running.sandbox.stats().khalti.initiatedByOrderId[request.orderId]).toBe(2);
  });

  test('when the secret key is wrong, then initiate is rejected for good as unauthorized', async () => {
    const wrong = gatewayFor({ secretKey: 'live_secret_key_not_ours' });
    const error = await wrong.createIntent(intentRequest()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GatewayRejectedError);
    expect(error).toMatchObject({ code: 'khalti_unauthorized', httpStatus: 401 });
    expect(running.sandbox.stats().khalti.initiated).toBe(0);
  });

  test.each<[string, Partial<CreateIntentRequest>, string]>([
    ['a currency other than NPR', { currency: 'USD' }, 'unsupported_currency'],
    ['less than Rs 10', { amountMinor: 999 }, 'amount_below_minimum'],
  ])('when the order has %s, then it is rejected before Khalti is called', async (_label, overrides, code) => {
    const error = await gateway.createIntent(intentRequest(overrides)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRejectedError);
    expect(error).toMatchObject({ code });
    expect(running.sandbox.stats().khalti.api.requests).toBe(0);
  });

  test('when Khalti itself is sent less than Rs 10, then it answers 400 with its validation body', async () => {
    const response = await fetch(`${running.url}/api/v2/epayment/initiate/`, {
      method: 'POST',
      headers: { Authorization: `Key ${TEST_KHALTI_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        return_url: `${SHOP_URL}/callbacks/khalti`,
        website_url: SHOP_URL,
        amount: 999,
        purchase_order_id: 'ord-1',
        purchase_order_name: 'x',
      }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      amount: ['Amount should be greater than Rs. 10, that is 1000 paisa.'],
      error_key: 'validation_error',
    });
  });
});

describe('paying on the hosted page and looking the payment up', () => {
  test('when the payer pays, then the browser returns with the callback query and the lookup says Completed with the amount', async () => {
    const request = intentRequest();
    const intent = await gateway.createIntent(request);

    const answer = await submitKhaltiPage(intent.paymentUrl, 'pay');
    expect(answer.status).toBe(303);
    const location = new URL(answer.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(`${SHOP_URL}/callbacks/khalti`);
    const query = Object.fromEntries(location.searchParams);
    expect(query).toMatchObject({
      pidx: intent.intentId,
      status: 'Completed',
      amount: '150000',
      total_amount: '150000',
      purchase_order_id: request.orderId,
      purchase_order_name: 'Two plates of momo',
    });
    expect(query.transaction_id).toMatch(/^[A-Za-z0-9]{22}$/);
    expect(query.tidx).toBe(query.transaction_id);
    const hint = parseKhaltiCallback(query, new Date(clock));
    expect(hint).toMatchObject({ orderId: request.orderId, paymentEvent: { kind: 'captured', verified: false } });

    const status = await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId: intent.intentId });
    expect(status).toEqual({
      state: 'captured',
      amountMinor: 150_000,
      currency: 'NPR',
      paymentReference: query.transaction_id,
      gatewayStatus: 'Completed',
    });
  });

  test('when the payer cancels, then Khalti answers the lookup with HTTP 400 and a body, which is read as cancelled', async () => {
    const request = intentRequest();
    const intent = await gateway.createIntent(request);

    const answer = await submitKhaltiPage(intent.paymentUrl, 'cancel');
    const query = Object.fromEntries(new URL(answer.headers.get('location') ?? '').searchParams);
    expect(query).toMatchObject({ status: 'User canceled', transaction_id: '', tidx: '', mobile: '' });
    expect(await rawLookup(intent.intentId)).toEqual({
      status: 400,
      body: {
        pidx: intent.intentId,
        total_amount: 150_000,
        status: 'User canceled',
        transaction_id: null,
        fee: 0,
        refunded: false,
      },
    });

    const status = await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId: intent.intentId });
    expect(status).toEqual({ state: 'cancelled', gatewayStatus: 'User canceled', failure: { code: 'User canceled' } });
    await expect(gateway.cancelIntent({ orderId: request.orderId, intentId: intent.intentId })).resolves.toEqual({
      outcome: 'cancelled',
    });
  });

  test('when the link outlives its expiry unpaid, then the lookup answers 400 Expired (read as cancelled) and the page refuses', async () => {
    const request = intentRequest();
    const intent = await gateway.createIntent(request);
    expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId: intent.intentId })).toEqual({
      state: 'pending',
      gatewayStatus: 'Initiated',
    });

    clock += 60 * MINUTE;

    expect((await rawLookup(intent.intentId)).status).toBe(400);
    expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId: intent.intentId })).toEqual({
      state: 'cancelled',
      gatewayStatus: 'Expired',
      failure: { code: 'Expired' },
    });
    expect((await fetch(intent.paymentUrl)).status).toBe(409);
    const late = await fetch(`${running.url}/khalti-pay/${intent.intentId}/pay`, {
      method: 'POST',
      redirect: 'manual',
    });
    expect(late.status).toBe(409);
    expect(running.sandbox.stats().khalti.paid).toBe(0);
  });

  test('when the sandbox expiry is configured, then links expire after that time instead', async () => {
    await running.stop();
    await start({ khaltiExpiryMs: 5 * MINUTE });
    const intent = await gateway.createIntent(intentRequest());
    expect(intent.expiresAt?.getTime()).toBe(clock + 5 * MINUTE);
  });

  test('when the payment is left Pending, then the lookup holds it as pending with attention, cancel refuses, and paying later completes it', async () => {
    const request = intentRequest();
    const intent = await gateway.createIntent(request);
    const lookup = { orderId: request.orderId, intentId: intent.intentId };

    const answer = await submitKhaltiPage(intent.paymentUrl, 'pending');
    expect(new URL(answer.headers.get('location') ?? '').searchParams.get('status')).toBe('Pending');
    expect(await gateway.fetchPaymentStatus(lookup)).toEqual({
      state: 'pending',
      gatewayStatus: 'Pending',
      needsAttention: true,
    });
    const refused = await gateway.cancelIntent(lookup).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GatewayRejectedError);
    expect(refused).toMatchObject({ code: 'payment_pending' });

    await submitKhaltiPage(intent.paymentUrl, 'pay');
    expect(await gateway.fetchPaymentStatus(lookup)).toMatchObject({ state: 'captured', amountMinor: 150_000 });
  });

  test('when the payer abandons the page, then nothing returns to the merchant and the payment is still just initiated', async () => {
    const request = intentRequest();
    const intent = await gateway.createIntent(request);

    const answer = await submitKhaltiPage(intent.paymentUrl, 'abandon');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('location')).toBeNull();
    expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId: intent.intentId })).toEqual({
      state: 'pending',
      gatewayStatus: 'Initiated',
    });
    expect(running.sandbox.stats().khalti.returns.returned).toBe(0);
  });

  test('when the pidx is unknown, then the lookup says not_found', async () => {
    expect(await gateway.fetchPaymentStatus({ orderId: 'ord-x', intentId: 'NoSuchPidx0000000000000' })).toEqual({
      state: 'not_found',
      gatewayStatus: 'not_found',
    });
  });

  test('when the order is cancelled after the payer paid, then cancel reports the capture instead', async () => {
    const { request, intent } = await paidOrder();
    const outcome = await gateway.cancelIntent({ orderId: request.orderId, intentId: intent.intentId });
    expect(outcome).toMatchObject({ outcome: 'already_captured', amountMinor: 150_000, currency: 'NPR' });
  });

  test('when the order is cancelled before the payer did anything, then cancel reports cancelled', async () => {
    const request = intentRequest();
    const intent = await gateway.createIntent(request);
    expect(await gateway.cancelIntent({ orderId: request.orderId, intentId: intent.intentId })).toEqual({
      outcome: 'cancelled',
    });
  });
});

describe('refunds', () => {
  test('when the whole payment is refunded, then Khalti says Refunded, and a retried refund succeeds without refunding again', async () => {
    const { request, intent } = await paidOrder();
    const refund = {
      orderId: request.orderId,
      intentId: intent.intentId,
      refundId: `refund-${request.orderId}-1`,
      amountMinor: 150_000,
      currency: 'NPR',
      reason: 'customer_request',
    };

    const first = await gateway.refund(refund);
    const retried = await gateway.refund({ ...refund, previouslyAttempted: true });

    // Khalti gives refunds no ID: the reference is the refunded payment's transaction_id, as its statements show.
    const [payment] = running.sandbox.khalti.payments(request.orderId);
    expect(first).toEqual({ gatewayRefundId: payment?.transactionId, state: 'succeeded' });
    expect(retried).toEqual(first);
    expect(running.sandbox.stats().khalti).toMatchObject({ refunds: 1, refundedAmount: 150_000 });
    expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId: intent.intentId })).toMatchObject({
      state: 'captured',
      amountMinor: 150_000,
      refundedAmountMinor: 150_000,
      gatewayStatus: 'Refunded',
    });
  });

  test('when part of the payment is refunded and then the rest, then Khalti goes Partially Refunded, then Refunded', async () => {
    const { request, intent } = await paidOrder();
    const lookup = { orderId: request.orderId, intentId: intent.intentId };
    const refund = (seq: number, amountMinor: number) =>
      gateway.refund({
        ...lookup,
        refundId: `refund-${request.orderId}-${seq}`,
        amountMinor,
        currency: 'NPR',
        reason: 'r',
      });

    await expect(refund(1, 50_000)).resolves.toMatchObject({ state: 'succeeded' });
    const partly = await gateway.fetchPaymentStatus(lookup);
    expect(partly).toMatchObject({ state: 'captured', gatewayStatus: 'Partially Refunded' });
    // Khalti's lookup does not say how much of a partial refund went back.
    expect(partly.refundedAmountMinor).toBeUndefined();

    await expect(
      gateway.refund({
        ...lookup,
        refundId: `refund-${request.orderId}-2`,
        amountMinor: 100_000,
        currency: 'NPR',
        reason: 'r',
        refundedBeforeMinor: 50_000,
      }),
    ).resolves.toMatchObject({ state: 'succeeded' });
    expect(await gateway.fetchPaymentStatus(lookup)).toMatchObject({
      refundedAmountMinor: 150_000,
      gatewayStatus: 'Refunded',
    });
    const [payment] = running.sandbox.khalti.payments(request.orderId);
    expect(payment?.refunds.map((r) => r.amount)).toEqual([50_000, 100_000]);
  });

  test('when a refund exceeds what is left, then it is refused for good before anything is sent', async () => {
    const { request, intent } = await paidOrder();
    const lookup = { orderId: request.orderId, intentId: intent.intentId };
    await gateway.refund({ ...lookup, refundId: 'r1', amountMinor: 100_000, currency: 'NPR', reason: 'r' });

    const error = await gateway
      .refund({
        ...lookup,
        refundId: 'r2',
        amountMinor: 60_000,
        currency: 'NPR',
        reason: 'r',
        refundedBeforeMinor: 100_000,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRejectedError);
    expect(error).toMatchObject({ code: 'amount_too_large' });
    expect(running.sandbox.stats().khalti.refundedAmount).toBe(100_000);
  });

  test('when the payment was never made, then the refund is rejected as having nothing captured', async () => {
    const request = intentRequest();
    const intent = await gateway.createIntent(request);
    const error = await gateway
      .refund({
        orderId: request.orderId,
        intentId: intent.intentId,
        refundId: 'r1',
        amountMinor: 1_000,
        currency: 'NPR',
        reason: 'r',
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRejectedError);
    expect(error).toMatchObject({ code: 'no_captured_payment' });
  });

  test('when a full refund is applied but its answer is lost, then the retry sees Refunded and succeeds without a second refund', async () => {
    const { request, intent } = await paidOrder();
    const refund = {
      orderId: request.orderId,
      intentId: intent.intentId,
      refundId: 'r1',
      amountMinor: 150_000,
      currency: 'NPR',
      reason: 'r',
    };

    running.sandbox.setFaults({ apiErrorAfterCommitRate: 1 });
    const lost = await gateway.refund(refund).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(GatewayUnavailableError);
    running.sandbox.setFaults({ apiErrorAfterCommitRate: 0 });

    await expect(gateway.refund({ ...refund, previouslyAttempted: true })).resolves.toMatchObject({
      state: 'succeeded',
    });
    expect(running.sandbox.stats().khalti).toMatchObject({ refunds: 1, refundedAmount: 150_000 });
  });

  test('when the same partial refund is sent twice (its first answer lost), then Khalti gets exactly one refund call', async () => {
    const { request, intent } = await paidOrder();
    const refund = {
      orderId: request.orderId,
      intentId: intent.intentId,
      refundId: 'r1',
      amountMinor: 50_000,
      currency: 'NPR',
      reason: 'r',
      refundedBeforeMinor: 0,
    };
    running.sandbox.setFaults({ apiErrorAfterCommitRate: 1 });
    const lost = await gateway.refund(refund).catch((e: unknown) => e);
    running.sandbox.setFaults({ apiErrorAfterCommitRate: 0 });

    // Partially Refunded with nothing refunded by orderpay before: that can only be this refund.
    const retried = await gateway.refund({ ...refund, previouslyAttempted: true });

    expect(lost).toBeInstanceOf(GatewayUnavailableError);
    expect(retried).toMatchObject({ state: 'succeeded' });
    expect(running.sandbox.stats().khalti).toMatchObject({ refunds: 1, refundedAmount: 50_000 });
  });

  test('when a second partial refund lost its answer, then the amounts cannot tell and it fails for an operator', async () => {
    const { request, intent } = await paidOrder();
    const lookup = { orderId: request.orderId, intentId: intent.intentId };
    await gateway.refund({ ...lookup, refundId: 'r1', amountMinor: 30_000, currency: 'NPR', reason: 'r' });
    const second = {
      ...lookup,
      refundId: 'r2',
      amountMinor: 40_000,
      currency: 'NPR',
      reason: 'r',
      refundedBeforeMinor: 30_000,
    };
    running.sandbox.setFaults({ apiErrorAfterCommitRate: 1 });
    await gateway.refund({ ...second, previouslyAttempted: false }).catch(() => undefined);
    running.sandbox.setFaults({ apiErrorAfterCommitRate: 0 });

    // Partially Refunded fits both 30,000 and 70,000 refunded: never guess with money.
    const error = await gateway.refund({ ...second, previouslyAttempted: true }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GatewayRejectedError);
    expect(error).toMatchObject({ code: 'refund_outcome_unknown' });
    expect(running.sandbox.stats().khalti).toMatchObject({ refunds: 2, refundedAmount: 70_000 });
  });

  test('when the last part of a payment is refunded after its answer was lost, then the retry sees Refunded and sends nothing', async () => {
    const { request, intent } = await paidOrder();
    const lookup = { orderId: request.orderId, intentId: intent.intentId };
    await gateway.refund({ ...lookup, refundId: 'r1', amountMinor: 30_000, currency: 'NPR', reason: 'r' });
    const rest = {
      ...lookup,
      refundId: 'r2',
      amountMinor: 120_000,
      currency: 'NPR',
      reason: 'r',
      refundedBeforeMinor: 30_000,
    };
    running.sandbox.setFaults({ apiErrorAfterCommitRate: 1 });
    await gateway.refund(rest).catch(() => undefined);
    running.sandbox.setFaults({ apiErrorAfterCommitRate: 0 });

    await expect(gateway.refund({ ...rest, previouslyAttempted: true })).resolves.toMatchObject({
      state: 'succeeded',
    });
    expect(running.sandbox.stats().khalti).toMatchObject({ refunds: 2, refundedAmount: 150_000 });
  });

  test('when Khalti shows a refund orderpay never sent, then a first attempt refuses to guess', async () => {
    const { request, intent } = await paidOrder();
    const lookup = { orderId: request.orderId, intentId: intent.intentId };
    // Money went back outside orderpay (the merchant portal).
    await gateway.refund({ ...lookup, refundId: 'portal', amountMinor: 20_000, currency: 'NPR', reason: 'r' });

    const error = await gateway
      .refund({
        ...lookup,
        refundId: 'r1',
        amountMinor: 50_000,
        currency: 'NPR',
        reason: 'r',
        previouslyAttempted: false,
      })
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'refund_ledger_mismatch' });
    expect(running.sandbox.stats().khalti).toMatchObject({ refunds: 1, refundedAmount: 20_000 });
  });

  test.each<[string, boolean]>([
    ['a partial refund', false],
    ['a full refund', true],
  ])(
    'when %s is sent and the connection drops before the answer, then it is retried and the retry refunds nothing more',
    async (_label, whole) => {
      const { request, intent } = await paidOrder();
      // Khalti gets the request and acts on it; the answer never reaches us.
      const losingAnswers: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        if (String(input).includes('/refund/')) {
          await response.arrayBuffer();
          throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
        }
        return response;
      };
      const lossy = gatewayFor({ fetch: losingAnswers });
      const refund = {
        orderId: request.orderId,
        intentId: intent.intentId,
        refundId: 'r1',
        amountMinor: whole ? 150_000 : 50_000,
        currency: 'NPR',
        reason: 'r',
      };

      const error = await lossy.refund(refund).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(GatewayUnavailableError);
      await expect(gateway.refund({ ...refund, previouslyAttempted: true })).resolves.toMatchObject({
        state: 'succeeded',
      });
      expect(running.sandbox.stats().khalti).toMatchObject({ refunds: 1, refundedAmount: refund.amountMinor });
    },
  );

  test('when a partial refund cannot even connect, then it is retryable: nothing reached Khalti', async () => {
    const { request, intent } = await paidOrder();
    const refusing: typeof fetch = async (input, init) => {
      if (String(input).includes('/refund/')) {
        throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:443') });
      }
      return fetch(input, init);
    };
    const error = await gatewayFor({ fetch: refusing })
      .refund({
        orderId: request.orderId,
        intentId: intent.intentId,
        refundId: 'r1',
        amountMinor: 50_000,
        currency: 'NPR',
        reason: 'r',
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayUnavailableError);
    expect(running.sandbox.stats().khalti.refunds).toBe(0);
  });
});

describe('faults', () => {
  test('when Khalti answers 5xx, then initiate, lookup and refund fail as retryable', async () => {
    const { request, intent } = await paidOrder();
    running.sandbox.setFaults({ apiErrorRate: 1 });
    const lookup = { orderId: request.orderId, intentId: intent.intentId };

    for (const call of [
      () => gateway.createIntent(intentRequest()),
      () => gateway.fetchPaymentStatus(lookup),
      () => gateway.cancelIntent(lookup),
      () => gateway.refund({ ...lookup, refundId: 'r1', amountMinor: 150_000, currency: 'NPR', reason: 'r' }),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GatewayUnavailableError);
      expect(error).toMatchObject({ httpStatus: 500 });
    }
    expect(running.sandbox.stats().khalti.api.injectedErrors).toBe(4);
    expect(running.sandbox.stats().khalti.refunds).toBe(0);
  });

  test('when nothing listens at the Khalti address, then the call fails as retryable', async () => {
    const offline = gatewayFor({ baseUrl: 'http://127.0.0.1:9/api/v2/' });
    const error = await offline.fetchPaymentStatus({ orderId: 'o', intentId: 'p' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayUnavailableError);
  });

  test('when the lookup answers 200 with a body that is not a lookup, then it is retryable, never read as a status', async () => {
    const server = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const odd = gatewayFor({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/` });
      const error = await odd.fetchPaymentStatus({ orderId: 'o', intentId: 'p' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GatewayUnavailableError);
      expect(String(error)).toMatch(/unexpected response shape/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the return to the merchant under fault injection', () => {
  let shop: Server;
  let shopUrl: string;
  let returns: string[];

  beforeEach(async () => {
    returns = [];
    shop = createServer((req, res) => {
      returns.push(req.url ?? '');
      res.writeHead(302, { location: '/orders' }).end();
    });
    await new Promise<void>((resolve) => shop.listen(0, '127.0.0.1', resolve));
    shopUrl = `http://127.0.0.1:${(shop.address() as AddressInfo).port}`;
    gateway = gatewayFor({ publicBaseUrl: shopUrl });
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => shop.close(() => resolve()));
  });

  test('when returns are dropped, then the payer is not sent back, yet the lookup finds the payment', async () => {
    running.sandbox.setFaults({ webhookDropRate: 1 });
    const request = intentRequest();
    const intent = await gateway.createIntent(request);

    const answer = await submitKhaltiPage(intent.paymentUrl, 'pay');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('location')).toBeNull();
    expect(running.sandbox.stats().khalti.returns).toMatchObject({ dropped: 1, returned: 0 });
    expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId: intent.intentId })).toMatchObject({
      state: 'captured',
    });
  });

  test('when returns are duplicated, then the same callback URL reaches the merchant a second time', async () => {
    running.sandbox.setFaults({ webhookDuplicateRate: 1 });
    const intent = await gateway.createIntent(intentRequest());

    const answer = await submitKhaltiPage(intent.paymentUrl, 'pay');
    const location = new URL(answer.headers.get('location') ?? '');
    await eventually(() => expect(returns).toEqual([`${location.pathname}${location.search}`]));
    expect(running.sandbox.stats().khalti.returns).toMatchObject({ returned: 1, duplicated: 1, duplicatesAnswered: 1 });
  });
});

describe('sandbox state across a restart', () => {
  test('when the sandbox restarts with a state file, then Khalti payments keep their status and can still be refunded', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'khalti-state-'));
    const stateFile = path.join(dir, 'state.json');
    try {
      await running.stop();
      await start({ stateFile });
      const { request, intent } = await paidOrder();
      const open = await gateway.createIntent(intentRequest());
      await running.stop();

      await start({ stateFile });
      expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId: intent.intentId })).toMatchObject({
        state: 'captured',
        amountMinor: 150_000,
      });
      expect((await fetch(open.paymentUrl.replace(/^http:\/\/[^/]+/, running.url))).status).toBe(200);
      await expect(
        gateway.refund({
          orderId: request.orderId,
          intentId: intent.intentId,
          refundId: 'r1',
          amountMinor: 150_000,
          currency: 'NPR',
          reason: 'r',
        }),
      ).resolves.toMatchObject({ state: 'succeeded' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
