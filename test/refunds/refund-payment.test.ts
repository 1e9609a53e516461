// refundPayment against real PostgreSQL and the fake gateway. Proves the money rules: a refund recorded as final
// never reaches the gateway again; a refund known to the gateway is retrieved, never created again, even after the
// gateway forgot its idempotency key; a refund pending past REFUND_PENDING_LIMIT is handed back as pending; and the
// ledger (captured versus every other live refund of the same payment), checked under the order's row lock,
// refuses a refund that would pay back more than was captured, before any gateway call.
import { ApplicationFailure } from '@temporalio/common';
import { createPool, type Pool } from '../../db/pool';
import { FakeGateway } from '../support/fake-gateway';
import { orderInput, paidOrder, refundHarness, refundRows } from '../support/refund-activities';

const HOUR = 60 * 60_000;

let pool: Pool;
beforeAll(() => {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is not set: is test/support/global-setup.ts configured?');
  pool = createPool(databaseUrl, { max: 4 });
});
afterAll(async () => {
  await pool.end();
});

function setup(options: { refundPendingLimitMs?: number; gateway?: FakeGateway } = {}) {
  const gateway = options.gateway ?? new FakeGateway();
  const h = refundHarness({ pool, gateways: () => gateway, ...options });
  return { gateway, h };
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(error)}`);
  return error;
}

async function paid(setupResult: ReturnType<typeof setup>) {
  const { gateway, h } = setupResult;
  const input = orderInput('stripe');
  return paidOrder(h, input, () => gateway.payerPays(input.orderId));
}

function refundOf(
  order: { orderId: string; intentId: string; paymentReference?: string },
  seq: number,
  amountMinor: number,
  extra: { paymentReference?: string; capturedAmountMinor?: number } = {},
) {
  return {
    orderId: order.orderId,
    gateway: 'stripe' as const,
    intentId: order.intentId,
    paymentReference: order.paymentReference,
    refundId: `refund-${order.orderId}-${seq}`,
    amountMinor,
    currency: 'EUR',
    reason: 'customer_request',
    ...extra,
  };
}

describe('a refund already recorded as final', () => {
  it('when the same refund runs again after it succeeded, then the gateway sees exactly one refund call', async () => {
    const s = setup();
    const order = await paid(s);
    const input = refundOf(order, 1, 50_000);

    const first = await s.h.run('refundPayment', input);
    const again = await s.h.run('refundPayment', input);

    expect(again).toEqual(first);
    expect(s.gateway.callsTo('refund', order.orderId)).toHaveLength(1);
    expect(await refundRows(pool, order.orderId)).toEqual([
      expect.objectContaining({ state: 'succeeded', gateway_refund_id: first.gatewayRefundId }),
    ]);
  });

  it('when the gateway declined a refund, then running it again reports failed without asking again', async () => {
    const s = setup();
    const order = await paid(s);
    s.gateway.refundFails(order.orderId);
    const input = refundOf(order, 1, 50_000);

    await s.h.run('refundPayment', input);
    const again = await s.h.run('refundPayment', input);

    expect(again.state).toBe('failed');
    expect(s.gateway.callsTo('refund', order.orderId)).toHaveLength(1);
  });
});

describe('a refund pending at the gateway', () => {
  it('when the gateway forgot the idempotency key while the refund is pending, then retries retrieve it and one refund exists', async () => {
    const s = setup({ refundPendingLimitMs: 72 * HOUR });
    const order = await paid(s);
    s.gateway.refundStaysPending(order.orderId, 1_000);
    const input = refundOf(order, 1, 50_000);

    const first = await failureOf(s.h.run('refundPayment', input));
    s.h.advance(25 * HOUR);
    s.gateway.forgetIdempotencyKeys();
    const second = await failureOf(s.h.run('refundPayment', input));
    s.h.advance(25 * HOUR);
    const third = await failureOf(s.h.run('refundPayment', input));

    expect([first.type, second.type, third.type]).toEqual(['RefundPending', 'RefundPending', 'RefundPending']);
    expect(third.nonRetryable).toBe(false);
    const refunds = s.gateway.refundsFor(order.orderId);
    expect(refunds).toHaveLength(1);
    const calls = s.gateway.callsTo('refund', order.orderId);
    expect(calls.map((call) => call.gatewayRefundId)).toEqual([
      undefined,
      refunds[0]?.gatewayRefundId,
      refunds[0]?.gatewayRefundId,
    ]);
  });

  it('when a refund stays pending past the limit, then it is returned as pending instead of retried, and it was created once', async () => {
    const s = setup({ refundPendingLimitMs: 2 * HOUR });
    const order = await paid(s);
    s.gateway.refundStaysPending(order.orderId, 1_000);
    const input = refundOf(order, 1, 50_000);

    const beforeLimit = await failureOf(s.h.run('refundPayment', input));
    s.h.advance(HOUR);
    const stillBefore = await failureOf(s.h.run('refundPayment', input));
    s.h.advance(HOUR);
    const atLimit = await s.h.run('refundPayment', input);

    expect(beforeLimit.type).toBe('RefundPending');
    expect(stillBefore.type).toBe('RefundPending');
    const [refund] = s.gateway.refundsFor(order.orderId);
    expect(atLimit).toEqual({ state: 'pending', gatewayRefundId: refund?.gatewayRefundId });
    expect(s.gateway.refundsFor(order.orderId)).toHaveLength(1);
    expect(await refundRows(pool, order.orderId)).toEqual([
      expect.objectContaining({ state: 'pending', gateway_refund_id: refund?.gatewayRefundId }),
    ]);
  });

  it('when a pending refund fails at the gateway, then it is recorded as failed', async () => {
    const s = setup();
    const order = await paid(s);
    s.gateway.refundStaysPending(order.orderId, 1, 'failed');
    const input = refundOf(order, 1, 50_000);

    await failureOf(s.h.run('refundPayment', input));
    const settled = await s.h.run('refundPayment', input);

    expect(settled.state).toBe('failed');
    expect(await refundRows(pool, order.orderId)).toEqual([expect.objectContaining({ state: 'failed' })]);
  });
});

describe('the ledger', () => {
  it('when two refunds together exceed the capture, then the second is refused before the gateway and leaves no row', async () => {
    const s = setup();
    const order = await paid(s);

    await s.h.run('refundPayment', refundOf(order, 1, 100_000));
    const refused = await failureOf(s.h.run('refundPayment', refundOf(order, 2, 60_000)));

    expect(refused.type).toBe('RefundExceedsCaptured');
    expect(refused.nonRetryable).toBe(true);
    expect(s.gateway.callsTo('refund', order.orderId)).toHaveLength(1);
    expect((await refundRows(pool, order.orderId)).map((row) => row.refund_id)).toEqual([`refund-${order.orderId}-1`]);
  });

  it('when an earlier refund is still in flight, then it counts against the capture too', async () => {
    const s = setup();
    const order = await paid(s);
    s.gateway.refundStaysPending(order.orderId, 1_000);
    await failureOf(s.h.run('refundPayment', refundOf(order, 1, 100_000)));

    const refused = await failureOf(s.h.run('refundPayment', refundOf(order, 2, 50_001)));
    const fits = await failureOf(s.h.run('refundPayment', refundOf(order, 3, 50_000)));

    expect(refused.type).toBe('RefundExceedsCaptured');
    expect(fits.type).toBe('RefundPending');
    expect(s.gateway.callsTo('refund', order.orderId).map((call) => call.refundId)).toEqual([
      `refund-${order.orderId}-1`,
      `refund-${order.orderId}-3`,
    ]);
  });

  it('when a refund that passed the check is retried, then it passes again although the ledger is now full', async () => {
    const s = setup();
    const order = await paid(s);
    s.gateway.failNextCalls('refund', 1);
    const whole = refundOf(order, 1, 150_000);

    await failureOf(s.h.run('refundPayment', whole));
    const retried = await s.h.run('refundPayment', whole);

    expect(retried.state).toBe('succeeded');
    expect(s.gateway.refundsFor(order.orderId)).toHaveLength(1);
  });

  it('when a payment is captured after the order expired, then its refund records the capture on the order first', async () => {
    const s = setup();
    const input = orderInput('stripe');
    await s.h.run('recordOrder', input);
    const intent = await s.h.run('createPaymentIntent', input);
    await s.h.run('transitionOrder', {
      orderId: input.orderId,
      from: ['PENDING'],
      to: 'EXPIRED',
      reason: 'ttl',
      at: s.h.now().toISOString(),
      changes: { intentId: intent.intentId },
    });
    s.gateway.lateCapture(input.orderId);
    const capture = s.gateway.intentFor(input.orderId);
    const late = {
      orderId: input.orderId,
      intentId: intent.intentId,
      paymentReference: capture?.paymentReference,
    };

    const withoutCapture = await failureOf(s.h.run('refundPayment', refundOf(late, 1, 150_000)));
    const refunded = await s.h.run('refundPayment', refundOf(late, 1, 150_000, { capturedAmountMinor: 150_000 }));

    expect(withoutCapture.type).toBe('RefundExceedsCaptured');
    expect(refunded.state).toBe('succeeded');
    const row = await pool.query('SELECT captured_amount_minor, payment_reference FROM orders WHERE order_id = $1', [
      input.orderId,
    ]);
    expect(row.rows[0]).toEqual({ captured_amount_minor: 150_000, payment_reference: capture?.paymentReference });
    expect(s.gateway.callsTo('refund', input.orderId)).toHaveLength(1);
  });

  it('when a PAID order is captured a second time, then that refund counts against its own capture only', async () => {
    const s = setup();
    const order = await paid(s);
    await s.h.run('refundPayment', refundOf(order, 1, 150_000));
    const duplicate = { paymentReference: 'ch_duplicate_capture', capturedAmountMinor: 150_000 };

    const tooMuch = await failureOf(s.h.run('refundPayment', refundOf(order, 2, 150_001, duplicate)));
    const rows = await refundRows(pool, order.orderId);

    expect(tooMuch.type).toBe('RefundExceedsCaptured');
    expect(rows).toEqual([expect.objectContaining({ payment_reference: order.paymentReference })]);

    // Within the second capture: not blocked by the first payment's full refund. (The fake gateway knows one capture
    // per intent and refuses it; the ledger letting it through to the gateway is what this test is about.)
    const gatewayCallsBefore = s.gateway.callsTo('refund', order.orderId).length;
    await s.h.run('refundPayment', refundOf(order, 3, 150_000, duplicate)).catch(() => undefined);
    expect(s.gateway.callsTo('refund', order.orderId)).toHaveLength(gatewayCallsBefore + 1);
    expect(await refundRows(pool, order.orderId)).toEqual([
      expect.objectContaining({ payment_reference: order.paymentReference }),
      expect.objectContaining({ refund_id: `refund-${order.orderId}-3`, payment_reference: 'ch_duplicate_capture' }),
    ]);
  });
});

describe('manual refunds (no refund API)', () => {
  it('when an operator confirms a manual refund, then their reference becomes the gateway reference of the refund', async () => {
    const gateway = new FakeGateway({ name: 'esewa' });
    const s = setup({ gateway });
    const input = orderInput('esewa');
    const order = await paidOrder(s.h, input, () => gateway.payerPays(input.orderId));
    const manual = { ...refundOf(order, 1, 150_000), gateway: 'esewa' as const, currency: 'NPR' };
    jest
      .spyOn(gateway, 'refund')
      .mockResolvedValue({ gatewayRefundId: `manual-${manual.refundId}`, state: 'awaiting_manual' });

    const waiting = await s.h.run('refundPayment', manual);
    const rowsWhileWaiting = await refundRows(pool, order.orderId);
    await s.h.run('recordManualRefund', {
      orderId: order.orderId,
      refundId: manual.refundId,
      reference: '0007ABC',
      actor: 'ops@example.test',
      at: s.h.now().toISOString(),
    });

    expect(waiting.state).toBe('awaiting_manual');
    expect(rowsWhileWaiting).toEqual([expect.objectContaining({ state: 'awaiting_manual', gateway_refund_id: null })]);
    expect(await refundRows(pool, order.orderId)).toEqual([
      expect.objectContaining({ state: 'succeeded', gateway_refund_id: '0007ABC' }),
    ]);
  });
});
