// refundPayment with the real Stripe and Khalti adapters over HTTP against the sandbox, and real PostgreSQL.
// Proves: a Stripe refund held pending while the gateway forgets idempotency keys is created exactly once (retries
// retrieve it) and is handed back as pending past REFUND_PENDING_LIMIT, then settles through the control endpoint;
// a Khalti refund whose worker died after Khalti committed it (or whose attempt overlapped its retry) is paid once.
import type { GatewayRegistry } from '../../activities/orders/order.activities';
import { createPool, type Pool } from '../../db/pool';
import type { PaymentGateway, RefundRequest } from '../../gateways/gateway';
import { createKhaltiGateway } from '../../gateways/khalti/khalti.gateway';
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import type { RunningSandbox } from '../../sandbox/server';
import { orderInput, paidOrder, refundHarness, refundRows } from '../support/refund-activities';
import {
  startTestSandbox,
  submitKhaltiPage,
  submitPaymentPage,
  TEST_KHALTI_KEY,
  TEST_STRIPE_KEY,
} from '../support/sandbox';

const HOUR = 60 * 60_000;
const SHOP_URL = 'http://shop.test';

let pool: Pool;
let running: RunningSandbox;
beforeAll(() => {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is not set: is test/support/global-setup.ts configured?');
  pool = createPool(databaseUrl, { max: 4 });
});
afterAll(async () => {
  await pool.end();
});
beforeEach(async () => {
  running = await startTestSandbox();
});
afterEach(async () => {
  await running.stop();
});

function stripe(): PaymentGateway {
  return createStripeGateway({
    apiBase: running.url,
    secretKey: TEST_STRIPE_KEY,
    timeoutMs: 2_000,
    publicBaseUrl: SHOP_URL,
  });
}

function khalti(): PaymentGateway {
  return createKhaltiGateway({
    baseUrl: `${running.url}/api/v2/`,
    secretKey: TEST_KHALTI_KEY,
    timeoutMs: 2_000,
    publicBaseUrl: SHOP_URL,
  });
}

async function settle(gatewayRefundId: string, status: 'succeeded' | 'failed'): Promise<number> {
  const response = await fetch(`${running.url}/_sandbox/refunds/${gatewayRefundId}/settle`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status }),
  });
  return response.status;
}

async function outcomeOf<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((error: unknown) => error as Error);
}

describe('Stripe: a refund pending while the gateway forgets idempotency keys', () => {
  it('when retries run past the key lifetime and the pending limit, then exactly one refund is created and it comes back pending', async () => {
    const gateway = stripe();
    const h = refundHarness({ pool, gateways: () => gateway, refundPendingLimitMs: 72 * HOUR });
    const order = await paidOrder(h, orderInput('stripe'), async ({ paymentUrl }) => {
      expect((await submitPaymentPage(paymentUrl, 'pay')).status).toBeLessThan(400);
    });
    running.sandbox.setFaults({ refundsPending: true, forgetIdempotencyKeys: true });
    const input = {
      orderId: order.orderId,
      gateway: 'stripe' as const,
      intentId: order.intentId,
      paymentReference: order.paymentReference,
      refundId: `refund-${order.orderId}-1`,
      amountMinor: 40_000,
      currency: 'EUR',
      reason: 'customer_request',
    };

    const outcomes = [];
    for (let attempt = 0; attempt < 4; attempt += 1) {
      outcomes.push(await outcomeOf(h.run('refundPayment', input)));
      h.advance(25 * HOUR);
    }

    expect(outcomes.slice(0, 3).map((outcome) => (outcome as { type?: string }).type)).toEqual([
      'RefundPending',
      'RefundPending',
      'RefundPending',
    ]);
    const [rows] = [await refundRows(pool, order.orderId)];
    const gatewayRefundId = rows[0]?.gateway_refund_id ?? '';
    expect(gatewayRefundId).toMatch(/^re_/);
    expect(outcomes[3]).toEqual({ state: 'pending', gatewayRefundId });
    expect(running.sandbox.stats()).toMatchObject({ refundsCreated: 1 });

    // The refund settles later at the gateway; asking again records it, still without creating anything.
    expect(await settle(gatewayRefundId, 'succeeded')).toBe(200);
    await expect(h.run('refundPayment', input)).resolves.toEqual({ state: 'succeeded', gatewayRefundId });
    expect(running.sandbox.stats()).toMatchObject({ refundsCreated: 1, refundedAmountMinor: 40_000 });
    expect(await refundRows(pool, order.orderId)).toEqual([
      expect.objectContaining({ state: 'succeeded', gateway_refund_id: gatewayRefundId }),
    ]);
  });

  it('when the pending refund fails at the gateway, then it is recorded as failed and its amount is refundable again', async () => {
    const gateway = stripe();
    const h = refundHarness({ pool, gateways: () => gateway });
    const order = await paidOrder(h, orderInput('stripe'), async ({ paymentUrl }) => {
      await submitPaymentPage(paymentUrl, 'pay');
    });
    running.sandbox.setFaults({ refundsPending: true });
    const input = {
      orderId: order.orderId,
      gateway: 'stripe' as const,
      intentId: order.intentId,
      paymentReference: order.paymentReference,
      refundId: `refund-${order.orderId}-1`,
      amountMinor: 150_000,
      currency: 'EUR',
      reason: 'customer_request',
    };
    await outcomeOf(h.run('refundPayment', input));
    const [row] = await refundRows(pool, order.orderId);

    expect(await settle(row?.gateway_refund_id ?? '', 'failed')).toBe(200);
    const failed = await h.run('refundPayment', input);
    running.sandbox.setFaults({ refundsPending: false });
    const again = await h.run('refundPayment', { ...input, refundId: `refund-${order.orderId}-2` });

    expect(failed.state).toBe('failed');
    expect(again.state).toBe('succeeded');
    expect(running.sandbox.stats()).toMatchObject({ refundsCreated: 2, refundedAmountMinor: 150_000 });
  });
});

describe('Khalti: partial refunds and a worker that dies after Khalti committed', () => {
  /** The adapter, with the worker "killed" right after Khalti answered, before the answer is stored. */
  function crashingAfterRefund(adapter: PaymentGateway): { gateways: GatewayRegistry; crashNext(): void } {
    let crash = false;
    const wrapped: PaymentGateway = {
      ...adapter,
      async refund(request: RefundRequest) {
        const result = await adapter.refund(request);
        if (crash) {
          crash = false;
          throw new Error('worker killed before the refund was recorded');
        }
        return result;
      },
    };
    return {
      gateways: () => wrapped,
      crashNext: () => {
        crash = true;
      },
    };
  }

  it('when the worker dies between the Khalti refund and the DB write, then each retry sees the refund and none is paid twice', async () => {
    const adapter = khalti();
    const crashing = crashingAfterRefund(adapter);
    const h = refundHarness({ pool, gateways: crashing.gateways });
    const order = await paidOrder(h, orderInput('khalti'), async ({ paymentUrl }) => {
      expect((await submitKhaltiPage(paymentUrl, 'pay')).status).toBe(303);
    });
    const refund = (seq: number, amountMinor: number) => ({
      orderId: order.orderId,
      gateway: 'khalti' as const,
      intentId: order.intentId,
      paymentReference: order.paymentReference,
      refundId: `refund-${order.orderId}-${seq}`,
      amountMinor,
      currency: 'NPR',
      reason: 'customer_request',
    });

    crashing.crashNext();
    const crashedFirst = await outcomeOf(h.run('refundPayment', refund(1, 50_000)));
    const first = await h.run('refundPayment', refund(1, 50_000));
    const firstAgain = await h.run('refundPayment', refund(1, 50_000));
    crashing.crashNext();
    const crashedRest = await outcomeOf(h.run('refundPayment', refund(2, 100_000)));
    const rest = await h.run('refundPayment', refund(2, 100_000));

    expect(crashedFirst).toBeInstanceOf(Error);
    expect(crashedRest).toBeInstanceOf(Error);
    expect([first.state, firstAgain.state, rest.state]).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(running.sandbox.stats().khalti).toMatchObject({ refunds: 2, refundedAmount: 150_000 });
    const [payment] = running.sandbox.khalti.payments(order.orderId);
    expect(payment?.refunds.map((r) => r.amount)).toEqual([50_000, 100_000]);
    // The gateway reference is Khalti's transaction_id of the payment, the reference on Khalti's statements.
    expect(await refundRows(pool, order.orderId)).toEqual([
      expect.objectContaining({ state: 'succeeded', gateway_refund_id: payment?.transactionId }),
      expect.objectContaining({ state: 'succeeded', gateway_refund_id: payment?.transactionId }),
    ]);
  });

  it('when an attempt outlives its timeout and the retry starts meanwhile, then the retry waits its turn and Khalti refunds once', async () => {
    const adapter = khalti();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered: () => void = () => undefined;
    const atGateway = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let hold = true;
    const slow: PaymentGateway = {
      ...adapter,
      async refund(request: RefundRequest) {
        if (hold) {
          hold = false;
          entered();
          await held;
        }
        return adapter.refund(request);
      },
    };
    const h = refundHarness({ pool, gateways: () => slow });
    const order = await paidOrder(h, orderInput('khalti'), async ({ paymentUrl }) => {
      await submitKhaltiPage(paymentUrl, 'pay');
    });
    const input = {
      orderId: order.orderId,
      gateway: 'khalti' as const,
      intentId: order.intentId,
      paymentReference: order.paymentReference,
      refundId: `refund-${order.orderId}-1`,
      amountMinor: 50_000,
      currency: 'NPR',
      reason: 'customer_request',
    };

    const slowAttempt = h.run('refundPayment', input);
    // Once the slow attempt is talking to the gateway, start the retry Temporal would start after 15 s.
    await atGateway;
    const overlapping = await outcomeOf(h.run('refundPayment', input));
    release();
    const slowResult = await slowAttempt;
    const laterRetry = await h.run('refundPayment', input);

    expect((overlapping as { code?: string }).code).toBe('55P03');
    expect(slowResult.state).toBe('succeeded');
    expect(laterRetry).toEqual(slowResult);
    expect(running.sandbox.stats().khalti).toMatchObject({ refunds: 1, refundedAmount: 50_000 });
  });
});
