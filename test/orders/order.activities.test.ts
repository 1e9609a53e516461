// The order activities against real PostgreSQL and the fake gateway, run through MockActivityEnvironment.
// Proves: each activity is safe to retry (no duplicate rows, no second gateway intent or refund), business
// outcomes are non-retryable ApplicationFailures with stable types, and transient faults stay retryable.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { createOrderActivities } from '../../activities/orders/order.activities';
import type {
  OrderActivities,
  RecordOrderInput,
  TransitionOrderInput,
} from '../../activities/orders/order-activity.types';
import type { PaymentAttemptState } from '../../contracts/order.contract';
import pino from 'pino';
import { createLogger, type Logger } from '../../config/logger';
import { createOrderActivityMetrics } from '../../config/metrics';
import type { CreateIntentRequest, PaymentGateway } from '../../gateways/gateway';
import { Registry } from 'prom-client';
import { createPool, type Pool } from '../../db/pool';
import { FakeGateway } from '../support/fake-gateway';
import { registrySum } from '../support/metrics';

const NOW = new Date('2030-01-02T03:04:05.000Z');
const logger = createLogger('order-activities-test', 'silent');

let pool: Pool;
beforeAll(() => {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is not set: is test/support/global-setup.ts configured?');
  pool = createPool(databaseUrl, { max: 4 });
});
afterAll(async () => {
  await pool.end();
});

function newOrderId(): string {
  return `act-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

function harness(
  options: { pool?: Pool; logger?: Logger; gateway?: ConstructorParameters<typeof FakeGateway>[0] } = {},
) {
  const gateway = new FakeGateway({ clock: () => NOW, ...options.gateway });
  const metrics = new Registry();
  const activities = createOrderActivities({
    pool: options.pool ?? pool,
    gateways: () => gateway,
    logger: options.logger ?? logger,
    metrics: createOrderActivityMetrics(metrics),
    clock: () => NOW,
  });
  // The SDK logs every failed activity; these tests fail activities on purpose.
  const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
  const run = <K extends keyof OrderActivities>(
    name: K,
    input: Parameters<OrderActivities[K]>[0],
  ): ReturnType<OrderActivities[K]> =>
    env.run(activities[name] as (arg: typeof input) => ReturnType<OrderActivities[K]>, input) as ReturnType<
      OrderActivities[K]
    >;
  return { gateway, run, metrics };
}

function recordInput(orderId: string, overrides: Partial<RecordOrderInput> = {}): RecordOrderInput {
  return {
    orderId,
    amountMinor: 12_345,
    currency: 'EUR',
    gateway: 'stripe',
    description: 'Two widgets',
    customer: { name: 'Ada', email: 'ada@example.test' },
    returnUrl: 'https://shop.example.test/return',
    requestHash: 'hash-a',
    expiresAt: '2030-01-02T03:19:05.000Z',
    ...overrides,
  };
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(error)}`);
  return error;
}

async function orderRow(orderId: string) {
  const result = await pool.query('SELECT * FROM orders WHERE order_id = $1', [orderId]);
  return result.rows[0] as Record<string, unknown> | undefined;
}

async function timeline(orderId: string) {
  const result = await pool.query<{ from_status: string | null; to_status: string; reason: string; at: Date }>(
    'SELECT from_status, to_status, reason, at FROM order_status_history WHERE order_id = $1 ORDER BY id',
    [orderId],
  );
  return result.rows.map((row) => ({ ...row, at: row.at.toISOString() }));
}

async function paymentAttempts(orderId: string) {
  const result = await pool.query(
    'SELECT gateway, intent_id, payment_url FROM payment_attempts WHERE order_id = $1 ORDER BY attempt_number',
    [orderId],
  );
  return result.rows;
}

async function attemptRows(orderId: string) {
  const result = await pool.query(
    `SELECT attempt_number, gateway, intent_id, status, failure_reason, decline_code, ended_at
       FROM payment_attempts WHERE order_id = $1 ORDER BY attempt_number`,
    [orderId],
  );
  return result.rows;
}

async function merchantEventTypes(orderId: string) {
  const result = await pool.query<{ type: string; reason: string | null }>(
    "SELECT type, data->>'reason' AS reason FROM merchant_events WHERE order_id = $1 ORDER BY sequence",
    [orderId],
  );
  return result.rows;
}

function attemptState(
  overrides: Partial<PaymentAttemptState> & Pick<PaymentAttemptState, 'intentId'>,
): PaymentAttemptState {
  return {
    number: 1,
    gateway: 'stripe',
    paymentUrl: `https://pay.fake.test/${overrides.intentId}`,
    status: 'open',
    failureReason: null,
    declineCode: null,
    startedAt: '2030-01-02T03:04:06.000Z',
    endedAt: null,
    ...overrides,
  };
}

/** Records the order, creates attempt 1's intent and moves the order to AWAITING_PAYMENT with that attempt. */
async function awaitingOrder(h: ReturnType<typeof harness>) {
  const orderId = newOrderId();
  const input = recordInput(orderId);
  await h.run('recordOrder', input);
  const intent = await h.run('createPaymentIntent', input);
  const attempt = attemptState({ intentId: intent.intentId, paymentUrl: intent.paymentUrl });
  await h.run(
    'transitionOrder',
    transition(orderId, {
      from: ['PENDING'],
      to: 'AWAITING_PAYMENT',
      reason: 'attempt_started:1',
      at: '2030-01-02T03:04:06.000Z',
      changes: { intentId: intent.intentId, paymentUrl: intent.paymentUrl },
      attempt,
    }),
  );
  return { orderId, input, intent, attempt };
}

async function refundRows(orderId: string) {
  const result = await pool.query(
    `SELECT refund_id, amount_minor, currency, reason, state, gateway_refund_id
     FROM refunds WHERE order_id = $1 ORDER BY refund_id`,
    [orderId],
  );
  return result.rows;
}

function transition(orderId: string, input: Omit<TransitionOrderInput, 'orderId'>): TransitionOrderInput {
  return { orderId, ...input };
}

/** Records the order, creates its intent and drives it to PAID, as the workflow would after a capture. */
async function paidOrder(h: ReturnType<typeof harness>) {
  const orderId = newOrderId();
  const input = recordInput(orderId);
  await h.run('recordOrder', input);
  const intent = await h.run('createPaymentIntent', input);
  await h.run(
    'transitionOrder',
    transition(orderId, {
      from: ['PENDING'],
      to: 'AWAITING_PAYMENT',
      reason: 'intent_created',
      at: '2030-01-02T03:04:06.000Z',
      changes: intent,
    }),
  );
  h.gateway.payerPays(orderId);
  const status = await h.run('fetchPaymentStatus', { orderId, gateway: 'stripe', intentId: intent.intentId });
  await h.run(
    'transitionOrder',
    transition(orderId, {
      from: ['AWAITING_PAYMENT'],
      to: 'PAID',
      reason: 'payment_captured',
      at: '2030-01-02T03:05:00.000Z',
      changes: {
        capturedAmountMinor: status.amountMinor,
        paymentReference: status.paymentReference,
        paidAt: '2030-01-02T03:05:00.000Z',
      },
    }),
  );
  return { orderId, intentId: intent.intentId, paymentReference: status.paymentReference };
}

describe('recordOrder', () => {
  it('when an order is recorded for the first time, then the row is stored in PENDING with one creation timeline row', async () => {
    const h = harness();
    const orderId = newOrderId();

    const result = await h.run('recordOrder', recordInput(orderId));

    expect(result).toEqual({ created: true });
    expect(await orderRow(orderId)).toMatchObject({
      status: 'PENDING',
      amount_minor: 12_345,
      currency: 'EUR',
      gateway: 'stripe',
      description: 'Two widgets',
      customer: { name: 'Ada', email: 'ada@example.test' },
      return_url: 'https://shop.example.test/return',
      request_hash: 'hash-a',
      expires_at: new Date('2030-01-02T03:19:05.000Z'),
      created_at: NOW,
      captured_amount_minor: 0,
      refunded_amount_minor: 0,
    });
    expect(await timeline(orderId)).toEqual([
      { from_status: null, to_status: 'PENDING', reason: 'order_created', at: NOW.toISOString() },
    ]);
  });

  it('when this run recorded the order and moved it to AWAITING_PAYMENT, then recording again says so; for another run it does not', async () => {
    const h = harness();
    const orderId = newOrderId();
    const input = recordInput(orderId, { workflowRunId: 'run-1' });
    await h.run('recordOrder', input);
    const { requestHash: _hash, workflowRunId: _run, ...intent } = input;
    await h.run('startPayment', { intent, at: '2030-01-02T03:04:06.000Z' });

    const again = await h.run('recordOrder', input);
    const otherRun = await h.run('recordOrder', { ...input, workflowRunId: 'run-2' });
    const olderInput = await h.run('recordOrder', recordInput(orderId));

    expect(again).toEqual({
      created: false,
      status: 'AWAITING_PAYMENT',
      expiresAt: input.expiresAt,
      recordedByThisRun: true,
    });
    expect(otherRun).toEqual({ created: false, status: 'AWAITING_PAYMENT', expiresAt: input.expiresAt });
    expect(olderInput).toEqual(otherRun);
    expect(await orderRow(orderId)).toMatchObject({ workflow_run_id: 'run-1' });
  });

  it('when the same order is recorded again with the same request hash, then it reports not created with the recorded expiry and writes nothing', async () => {
    const h = harness();
    const orderId = newOrderId();
    await h.run('recordOrder', recordInput(orderId));

    // A retried first workflow task computes a later expiry; the row keeps the first.
    const again = await h.run('recordOrder', recordInput(orderId, { expiresAt: '2030-01-02T03:19:17.000Z' }));

    expect(again).toEqual({ created: false, status: 'PENDING', expiresAt: '2030-01-02T03:19:05.000Z' });
    expect(await timeline(orderId)).toHaveLength(1);
  });

  it('when the order ID is recorded with a different request hash, then it fails non-retryable and keeps the first order', async () => {
    const h = harness();
    const orderId = newOrderId();
    await h.run('recordOrder', recordInput(orderId));

    const failure = await failureOf(
      h.run('recordOrder', recordInput(orderId, { requestHash: 'hash-b', amountMinor: 1 })),
    );

    expect(failure.type).toBe('OrderRecordConflict');
    expect(failure.nonRetryable).toBe(true);
    expect(await orderRow(orderId)).toMatchObject({ request_hash: 'hash-a', amount_minor: 12_345 });
    expect(await timeline(orderId)).toHaveLength(1);
  });

  it('when the database refuses the values, then it fails non-retryable instead of retrying forever', async () => {
    const h = harness();

    const failure = await failureOf(h.run('recordOrder', recordInput(newOrderId(), { currency: 'euro' })));

    expect(failure.type).toBe('InvalidOrderData');
    expect(failure.nonRetryable).toBe(true);
  });

  it('when the database is unreachable, then the error is rethrown as-is so Temporal retries it', async () => {
    const unreachable = createPool('postgres://postgres@127.0.0.1:1/orderpay', { max: 1 });
    try {
      const h = harness({ pool: unreachable });

      const error = await h.run('recordOrder', recordInput(newOrderId())).then(
        () => undefined,
        (caught: unknown) => caught,
      );

      expect(error).not.toBeInstanceOf(ApplicationFailure);
      expect((error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    } finally {
      await unreachable.end();
    }
  });
});

describe('transitionOrder', () => {
  it('when the order is in an expected status, then it moves with its changes and writes one timeline row', async () => {
    const h = harness();
    const orderId = newOrderId();
    await h.run('recordOrder', recordInput(orderId));

    const result = await h.run(
      'transitionOrder',
      transition(orderId, {
        from: ['PENDING'],
        to: 'AWAITING_PAYMENT',
        reason: 'intent_created',
        at: '2030-01-02T03:04:06.000Z',
        changes: { intentId: `pi_${orderId}`, paymentUrl: 'https://pay.example.test/x' },
      }),
    );

    expect(result).toEqual({ applied: true, status: 'AWAITING_PAYMENT' });
    expect(await orderRow(orderId)).toMatchObject({
      status: 'AWAITING_PAYMENT',
      intent_id: `pi_${orderId}`,
      payment_url: 'https://pay.example.test/x',
    });
    expect((await timeline(orderId)).slice(1)).toEqual([
      {
        from_status: 'PENDING',
        to_status: 'AWAITING_PAYMENT',
        reason: 'intent_created',
        at: '2030-01-02T03:04:06.000Z',
      },
    ]);
  });

  it('when a committed transition is retried, then it reports not applied and writes no second timeline row', async () => {
    const h = harness();
    const { orderId } = await paidOrder(h);
    const before = await orderRow(orderId);

    const retry = await h.run(
      'transitionOrder',
      transition(orderId, {
        from: ['AWAITING_PAYMENT'],
        to: 'PAID',
        reason: 'payment_captured',
        at: '2030-01-02T03:05:00.000Z',
        changes: { capturedAmountMinor: 12_345, paidAt: '2030-01-02T03:05:00.000Z' },
      }),
    );

    expect(retry).toEqual({ applied: false, status: 'PAID' });
    expect(await orderRow(orderId)).toEqual(before);
    expect((await timeline(orderId)).map((row) => row.to_status)).toEqual(['PENDING', 'AWAITING_PAYMENT', 'PAID']);
  });

  it('when the order is in an unexpected status, then it fails non-retryable with the current and expected statuses', async () => {
    const h = harness();
    const orderId = newOrderId();
    await h.run('recordOrder', recordInput(orderId));

    const failure = await failureOf(
      h.run(
        'transitionOrder',
        transition(orderId, {
          from: ['AWAITING_PAYMENT'],
          to: 'PAID',
          reason: 'payment_captured',
          at: NOW.toISOString(),
        }),
      ),
    );

    expect(failure.type).toBe('InvalidTransition');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.details).toEqual([{ orderId, current: 'PENDING', expected: ['AWAITING_PAYMENT'], to: 'PAID' }]);
    expect(await orderRow(orderId)).toMatchObject({ status: 'PENDING' });
    expect(await timeline(orderId)).toHaveLength(1);
  });

  it('when the order does not exist, then it fails non-retryable with OrderNotFound', async () => {
    const h = harness();

    const failure = await failureOf(
      h.run(
        'transitionOrder',
        transition(newOrderId(), { from: ['PENDING'], to: 'CANCELLED', reason: 'cancelled', at: NOW.toISOString() }),
      ),
    );

    expect(failure.type).toBe('OrderNotFound');
    expect(failure.nonRetryable).toBe(true);
  });

  it('when a self-transition carries a new refunded amount, then it applies once and its retry is a no-op', async () => {
    const h = harness();
    const { orderId } = await paidOrder(h);
    const partialRefund = (refundedAmountMinor: number, at: string) =>
      transition(orderId, {
        from: ['PAID', 'PARTIALLY_REFUNDED'],
        to: 'PARTIALLY_REFUNDED',
        reason: 'refund_succeeded',
        at,
        changes: { refundedAmountMinor },
      });

    const first = await h.run('transitionOrder', partialRefund(1_000, '2030-01-02T04:00:00.000Z'));
    const second = await h.run('transitionOrder', partialRefund(3_000, '2030-01-02T05:00:00.000Z'));
    const secondRetried = await h.run('transitionOrder', partialRefund(3_000, '2030-01-02T05:00:00.000Z'));

    expect([first, second, secondRetried]).toEqual([
      { applied: true, status: 'PARTIALLY_REFUNDED' },
      { applied: true, status: 'PARTIALLY_REFUNDED' },
      { applied: false, status: 'PARTIALLY_REFUNDED' },
    ]);
    expect(await orderRow(orderId)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount_minor: 3_000 });
    expect((await timeline(orderId)).slice(3)).toEqual([
      {
        from_status: 'PAID',
        to_status: 'PARTIALLY_REFUNDED',
        reason: 'refund_succeeded',
        at: '2030-01-02T04:00:00.000Z',
      },
      {
        from_status: 'PARTIALLY_REFUNDED',
        to_status: 'PARTIALLY_REFUNDED',
        reason: 'refund_succeeded',
        at: '2030-01-02T05:00:00.000Z',
      },
    ]);
  });

  it('when a transition stores a captured payment, then the amounts, reference and paid time are in the row', async () => {
    const h = harness();

    const { orderId, paymentReference } = await paidOrder(h);

    expect(await orderRow(orderId)).toMatchObject({
      status: 'PAID',
      captured_amount_minor: 12_345,
      payment_reference: paymentReference,
      paid_at: new Date('2030-01-02T03:05:00.000Z'),
      needs_attention: false,
    });
  });
});

describe('payment attempts in transitions', () => {
  it('when an order is recorded with the gateways the payer may choose from, then they are stored; without, NULL', async () => {
    const h = harness();
    const withChoice = newOrderId();
    const without = newOrderId();

    await h.run(
      'recordOrder',
      recordInput(withChoice, { gateway: 'esewa', currency: 'NPR', gateways: ['esewa', 'khalti'] }),
    );
    await h.run('recordOrder', recordInput(without));

    expect(await orderRow(withChoice)).toMatchObject({ allowed_gateways: ['esewa', 'khalti'] });
    expect(await orderRow(without)).toMatchObject({ allowed_gateways: null });
  });

  it('when a declined try keeps the order awaiting payment and the transition is retried, then it is applied once: one timeline row, the attempt updated, no merchant event', async () => {
    const h = harness();
    const { orderId, attempt } = await awaitingOrder(h);
    const declined = transition(orderId, {
      from: ['AWAITING_PAYMENT'],
      to: 'AWAITING_PAYMENT',
      reason: 'attempt_declined:1',
      at: '2030-01-02T03:04:30.000Z',
      attempt: {
        ...attempt,
        status: 'declined',
        failureReason: 'payment_declined',
        declineCode: 'insufficient_funds',
        endedAt: '2030-01-02T03:04:30.000Z',
      },
    });

    const first = await h.run('transitionOrder', declined);
    const retry = await h.run('transitionOrder', declined);

    expect(first).toEqual({ applied: true, status: 'AWAITING_PAYMENT' });
    expect(retry).toEqual({ applied: false, status: 'AWAITING_PAYMENT' });
    expect((await timeline(orderId)).map((row) => row.reason)).toEqual([
      'order_created',
      'attempt_started:1',
      'attempt_declined:1',
    ]);
    expect(await attemptRows(orderId)).toEqual([
      {
        attempt_number: 1,
        gateway: 'stripe',
        intent_id: attempt.intentId,
        status: 'declined',
        failure_reason: 'payment_declined',
        decline_code: 'insufficient_funds',
        ended_at: new Date('2030-01-02T03:04:30.000Z'),
      },
    ]);
    // The merchant sees no new status: only the order's start was announced.
    expect(await merchantEventTypes(orderId)).toEqual([
      { type: 'order.awaiting_payment', reason: 'attempt_started:1' },
    ]);
  });

  it('when a Stripe session takes the next try, then attempt 2 is recorded on the same intent by the transition alone', async () => {
    const h = harness();
    const { orderId, attempt } = await awaitingOrder(h);
    await h.run(
      'transitionOrder',
      transition(orderId, {
        from: ['AWAITING_PAYMENT'],
        to: 'AWAITING_PAYMENT',
        reason: 'attempt_declined:1',
        at: '2030-01-02T03:04:30.000Z',
        attempt: {
          ...attempt,
          status: 'declined',
          failureReason: 'payment_declined',
          endedAt: '2030-01-02T03:04:30.000Z',
        },
      }),
    );

    const started = await h.run(
      'transitionOrder',
      transition(orderId, {
        from: ['AWAITING_PAYMENT'],
        to: 'AWAITING_PAYMENT',
        reason: 'attempt_started:2',
        at: '2030-01-02T03:04:31.000Z',
        attempt: { ...attempt, number: 2, startedAt: '2030-01-02T03:04:31.000Z' },
      }),
    );

    expect(started.applied).toBe(true);
    expect(await attemptRows(orderId)).toEqual([
      expect.objectContaining({ attempt_number: 1, intent_id: attempt.intentId, status: 'declined' }),
      expect.objectContaining({ attempt_number: 2, intent_id: attempt.intentId, status: 'open', ended_at: null }),
    ]);
  });

  it('when the last allowed attempt is declined, then FAILED too_many_attempts is announced as order.failed, once', async () => {
    const h = harness();
    const { orderId, attempt } = await awaitingOrder(h);
    const failed = transition(orderId, {
      from: ['AWAITING_PAYMENT'],
      to: 'FAILED',
      reason: 'too_many_attempts',
      at: '2030-01-02T03:05:00.000Z',
      changes: { failureReason: 'too_many_attempts' },
      attempt: {
        ...attempt,
        status: 'declined',
        failureReason: 'payment_declined',
        endedAt: '2030-01-02T03:05:00.000Z',
      },
    });

    await h.run('transitionOrder', failed);
    const retry = await h.run('transitionOrder', failed);

    expect(retry).toEqual({ applied: false, status: 'FAILED' });
    expect(await merchantEventTypes(orderId)).toEqual([
      { type: 'order.awaiting_payment', reason: 'attempt_started:1' },
      { type: 'order.failed', reason: 'too_many_attempts' },
    ]);
  });

  it('when a change that keeps the status finds the row moved on, then nothing is written and the answer names the row’s status', async () => {
    const h = harness();
    const { orderId, attempt } = await paidOrderWithAttempt(h);

    // A discarded try of a workflow task moved the row to PAID; the run, still awaiting payment, must catch up.
    const answer = await h.run(
      'transitionOrder',
      transition(orderId, {
        from: ['AWAITING_PAYMENT'],
        to: 'AWAITING_PAYMENT',
        reason: 'attempt_expired:1',
        at: '2030-01-02T03:06:00.000Z',
        attempt: {
          ...attempt,
          status: 'expired',
          failureReason: 'expired_at_gateway',
          endedAt: '2030-01-02T03:06:00.000Z',
        },
      }),
    );

    expect(answer).toEqual({ applied: false, status: 'PAID' });
    expect(await attemptRows(orderId)).toEqual([expect.objectContaining({ attempt_number: 1, status: 'paid' })]);
    expect((await timeline(orderId)).map((row) => row.reason)).not.toContain('attempt_expired:1');
  });

  it('when a transition to another status finds the order in a status it does not lead from, then it fails non-retryable and writes nothing', async () => {
    const h = harness();
    const { orderId } = await paidOrderWithAttempt(h);

    const failure = await failureOf(
      h.run(
        'transitionOrder',
        transition(orderId, {
          from: ['AWAITING_PAYMENT'],
          to: 'EXPIRED',
          reason: 'ttl_elapsed',
          at: '2030-01-02T03:06:00.000Z',
        }),
      ),
    );

    expect(failure.type).toBe('InvalidTransition');
    expect(failure.nonRetryable).toBe(true);
    expect(await attemptRows(orderId)).toEqual([expect.objectContaining({ attempt_number: 1, status: 'paid' })]);
  });
});

async function paidOrderWithAttempt(h: ReturnType<typeof harness>) {
  const { orderId, attempt } = await awaitingOrder(h);
  const paid = { ...attempt, status: 'paid' as const, endedAt: '2030-01-02T03:05:00.000Z' };
  await h.run(
    'transitionOrder',
    transition(orderId, {
      from: ['AWAITING_PAYMENT'],
      to: 'PAID',
      reason: 'payment_captured',
      at: '2030-01-02T03:05:00.000Z',
      changes: { capturedAmountMinor: 12_345, paymentReference: `ch_${orderId}`, paidAt: '2030-01-02T03:05:00.000Z' },
      attempt: paid,
    }),
  );
  return { orderId, attempt: paid };
}

describe('createPaymentIntent', () => {
  it('when it runs twice for an order (a retry), then the gateway holds one intent and one payment attempt is recorded', async () => {
    const h = harness();
    const orderId = newOrderId();
    const input = recordInput(orderId);
    await h.run('recordOrder', input);

    const first = await h.run('createPaymentIntent', input);
    const second = await h.run('createPaymentIntent', input);

    expect(second).toEqual(first);
    expect(h.gateway.intents).toHaveLength(1);
    // The retry answers from the recorded attempt: the gateway is asked once.
    expect(h.gateway.callsTo('createIntent')).toEqual([
      expect.objectContaining({
        orderId,
        idempotencyKey: orderId,
        attemptNumber: 1,
        expiresAt: new Date(input.expiresAt),
      }),
    ]);
    expect(await paymentAttempts(orderId)).toEqual([
      { gateway: 'stripe', intent_id: first.intentId, payment_url: first.paymentUrl },
    ]);
  });

  it('when the gateway created the intent but the response was lost, then the retry records that same intent once', async () => {
    const h = harness();
    const orderId = newOrderId();
    const input = recordInput(orderId);
    await h.run('recordOrder', input);
    h.gateway.failNextCalls('createIntent', 1, { lostResponse: true });

    const failure = await failureOf(h.run('createPaymentIntent', input));
    expect(await paymentAttempts(orderId)).toEqual([]);
    const retried = await h.run('createPaymentIntent', input);

    expect(failure.type).toBe('GatewayUnavailable');
    expect(h.gateway.intents).toHaveLength(1);
    expect(retried.intentId).toBe(h.gateway.intentFor(orderId)?.intentId);
    expect(await paymentAttempts(orderId)).toEqual([
      { gateway: 'stripe', intent_id: retried.intentId, payment_url: retried.paymentUrl },
    ]);
  });

  it('when a concurrent run recorded the attempt while this one asked the gateway, then the recorded intent wins and the new one is logged as orphaned', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const gateway = new FakeGateway({ clock: () => NOW, idempotentIntents: false });
    const orderId = newOrderId();
    const recordedIntentId = `pi_recorded_${orderId}`;
    // The other run inserts its row between this run's look-up and its insert, while the gateway is being asked.
    const racingGateway: PaymentGateway = Object.assign(Object.create(gateway) as FakeGateway, {
      async createIntent(request: CreateIntentRequest) {
        await pool.query(
          `INSERT INTO payment_attempts (order_id, attempt_number, gateway, intent_id, payment_url)
           VALUES ($1, 1, 'stripe', $2, 'https://recorded.test')`,
          [orderId, recordedIntentId],
        );
        return gateway.createIntent(request);
      },
    });
    const activities = createOrderActivities({
      pool,
      gateways: () => racingGateway,
      logger: log,
      metrics: createOrderActivityMetrics(new Registry()),
      clock: () => NOW,
    });
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    const input = recordInput(orderId);
    await env.run(activities.recordOrder, input);

    const intent = await env.run(activities.createPaymentIntent, input);

    expect(intent).toEqual({ intentId: recordedIntentId, paymentUrl: 'https://recorded.test' });
    expect(await paymentAttempts(orderId)).toEqual([
      { gateway: 'stripe', intent_id: recordedIntentId, payment_url: 'https://recorded.test' },
    ]);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const orphanLog = entries.find((entry) => entry.level === 50);
    expect(orphanLog).toMatchObject({
      orderId,
      attemptNumber: 1,
      recordedIntentId,
      intentId: gateway.intents[0]?.intentId,
    });
    expect(lines.join('\n')).not.toContain('ada@example.test');
  });

  it('when attempt 2 is created and the activity is retried, then the gateway is asked once, with the key <orderId>:attempt-2, and both runs return that intent', async () => {
    const h = harness();
    const { orderId, input, intent: first } = await awaitingOrder(h);

    const second = await h.run('createPaymentIntent', { ...input, attemptNumber: 2 });
    const retried = await h.run('createPaymentIntent', { ...input, attemptNumber: 2 });

    expect(retried).toEqual(second);
    expect(second.intentId).not.toBe(first.intentId);
    expect(h.gateway.callsTo('createIntent').map((call) => [call.idempotencyKey, call.attemptNumber])).toEqual([
      [orderId, 1],
      [`${orderId}:attempt-2`, 2],
    ]);
    expect(await attemptRows(orderId)).toEqual([
      expect.objectContaining({ attempt_number: 1, intent_id: first.intentId, status: 'open' }),
      expect.objectContaining({ attempt_number: 2, intent_id: second.intentId, status: 'open' }),
    ]);
  });

  it('when a gateway without idempotency keys (Khalti) is retried after the attempt was recorded, then no second intent is created and its expiry comes back', async () => {
    const h = harness({ gateway: { name: 'khalti', idempotentIntents: false, intentLifetimeMs: 60 * 60_000 } });
    const orderId = newOrderId();
    const input = recordInput(orderId, { gateway: 'khalti', currency: 'NPR' });
    await h.run('recordOrder', input);

    const first = await h.run('createPaymentIntent', input);
    const retried = await h.run('createPaymentIntent', input);

    expect(first.expiresAt).toBe(new Date(NOW.getTime() + 60 * 60_000).toISOString());
    expect(retried).toEqual(first);
    expect(h.gateway.callsTo('createIntent')).toHaveLength(1);
    expect(h.gateway.orphanedIntents).toEqual([]);
  });

  it('when the attempt is recorded at another gateway than the one asked for, then it fails non-retryable and asks no gateway', async () => {
    const h = harness();
    const { input } = await awaitingOrder(h);

    const failure = await failureOf(h.run('createPaymentIntent', { ...input, gateway: 'khalti' }));

    expect(failure.type).toBe('OrderRecordConflict');
    expect(failure.nonRetryable).toBe(true);
    expect(h.gateway.callsTo('createIntent')).toHaveLength(1);
  });

  it('when the gateway is unavailable with Retry-After, then it fails retryable with that delay and records nothing', async () => {
    const h = harness();
    const orderId = newOrderId();
    const input = recordInput(orderId);
    await h.run('recordOrder', input);
    h.gateway.failNextCalls('createIntent', 1, { retryAfterMs: 1_500 });

    const failure = await failureOf(h.run('createPaymentIntent', input));

    expect(failure.type).toBe('GatewayUnavailable');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBe(1_500);
    expect(h.gateway.intents).toEqual([]);
    expect(await paymentAttempts(orderId)).toEqual([]);
  });

  it('when the gateway rejects the request, then it fails non-retryable with the gateway code in the details', async () => {
    const h = harness();
    const orderId = newOrderId();
    const input = recordInput(orderId);
    await h.run('recordOrder', input);
    h.gateway.rejectNextCalls('createIntent', 1, { code: 'currency_not_supported', message: 'EUR is not enabled' });

    const failure = await failureOf(h.run('createPaymentIntent', input));

    expect(failure.type).toBe('GatewayRejected');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe('EUR is not enabled');
    expect(failure.details).toEqual(['currency_not_supported']);
    expect(await paymentAttempts(orderId)).toEqual([]);
  });

  it('when the gateway throws an unclassified error, then it is rethrown as-is so Temporal retries it', async () => {
    const h = harness();
    const orderId = newOrderId();
    const input = recordInput(orderId);
    await h.run('recordOrder', input);
    const socketError = new Error('socket hang up');
    h.gateway.failNextCalls('createIntent', 1, { error: socketError });

    const error = await h.run('createPaymentIntent', input).then(
      () => undefined,
      (caught: unknown) => caught,
    );

    expect(error).toBe(socketError);
  });

  it('when the order was never recorded, then it fails non-retryable with OrderNotFound', async () => {
    const h = harness();

    const failure = await failureOf(h.run('createPaymentIntent', recordInput(newOrderId())));

    expect(failure.type).toBe('OrderNotFound');
    expect(failure.nonRetryable).toBe(true);
  });
});

describe('startPayment', () => {
  const at = '2030-01-02T03:04:06.000Z';

  async function recordedOrder(h: ReturnType<typeof harness>) {
    const orderId = newOrderId();
    const input = recordInput(orderId);
    await h.run('recordOrder', input);
    return { orderId, input };
  }

  it('when the order is recorded, then its intent is created and it awaits payment on attempt 1 in one call', async () => {
    const h = harness();
    const { orderId, input } = await recordedOrder(h);

    const intent = await h.run('startPayment', { intent: input, at });

    expect(h.gateway.callsTo('createIntent')).toHaveLength(1);
    expect(await orderRow(orderId)).toMatchObject({
      status: 'AWAITING_PAYMENT',
      intent_id: intent.intentId,
      payment_url: intent.paymentUrl,
      expires_at: new Date(input.expiresAt),
    });
    expect(await timeline(orderId)).toEqual([
      expect.objectContaining({ to_status: 'PENDING' }),
      { from_status: 'PENDING', to_status: 'AWAITING_PAYMENT', reason: 'intent_created', at },
    ]);
    expect(await attemptRows(orderId)).toEqual([
      expect.objectContaining({ attempt_number: 1, intent_id: intent.intentId, status: 'open', ended_at: null }),
    ]);
  });

  it('when it runs again, then the gateway is not asked again and nothing is recorded twice', async () => {
    const h = harness();
    const { orderId, input } = await recordedOrder(h);

    const first = await h.run('startPayment', { intent: input, at });
    const again = await h.run('startPayment', { intent: input, at });

    expect(again).toEqual(first);
    expect(h.gateway.callsTo('createIntent')).toHaveLength(1);
    expect(await timeline(orderId)).toHaveLength(2);
    expect(await attemptRows(orderId)).toHaveLength(1);
  });

  it('when an earlier try created the intent but did not move the order, then the retry moves it with that intent', async () => {
    const h = harness();
    const { orderId, input } = await recordedOrder(h);
    const created = await h.run('createPaymentIntent', input);

    const intent = await h.run('startPayment', { intent: input, at });

    expect(intent).toEqual(created);
    expect(h.gateway.callsTo('createIntent')).toHaveLength(1);
    expect(await orderRow(orderId)).toMatchObject({ status: 'AWAITING_PAYMENT', intent_id: created.intentId });
  });

  it("when the gateway's intent expires before the order, then the order's expiry is the intent's", async () => {
    const h = harness({ gateway: { intentLifetimeMs: 5 * 60_000 } });
    const { orderId, input } = await recordedOrder(h);

    const intent = await h.run('startPayment', { intent: input, at });

    expect(intent.expiresAt).toBe(new Date(NOW.getTime() + 5 * 60_000).toISOString());
    expect(await orderRow(orderId)).toMatchObject({ expires_at: new Date(NOW.getTime() + 5 * 60_000) });
  });

  it('when the gateway refuses the order data, then it fails non-retryable and the order stays PENDING', async () => {
    const h = harness();
    const { orderId, input } = await recordedOrder(h);
    h.gateway.rejectNextCalls('createIntent', 1);

    const failure = await failureOf(h.run('startPayment', { intent: input, at }));

    expect(failure.nonRetryable).toBe(true);
    expect(await orderRow(orderId)).toMatchObject({ status: 'PENDING', intent_id: null });
    expect(await attemptRows(orderId)).toEqual([]);
  });
});

describe('fetchPaymentStatus and cancelPaymentIntent', () => {
  it('when the payer has paid, then the lookup returns the captured amount and reference from the gateway', async () => {
    const h = harness();
    const orderId = newOrderId();
    await h.run('recordOrder', recordInput(orderId));
    const { intentId } = await h.run('createPaymentIntent', recordInput(orderId));
    h.gateway.payerPays(orderId);

    const status = await h.run('fetchPaymentStatus', { orderId, gateway: 'stripe', intentId });

    expect(status).toMatchObject({
      state: 'captured',
      amountMinor: 12_345,
      currency: 'EUR',
      paymentReference: h.gateway.intentFor(orderId)?.paymentReference,
    });
    expect(h.gateway.callsTo('fetchPaymentStatus')).toEqual([{ orderId, intentId }]);
  });

  it('when the lookup fails without Retry-After, then it is retryable and leaves the delay to the retry policy', async () => {
    const h = harness();
    const orderId = newOrderId();
    await h.run('recordOrder', recordInput(orderId));
    const { intentId } = await h.run('createPaymentIntent', recordInput(orderId));
    h.gateway.failNextCalls('fetchPaymentStatus', 1);

    const failure = await failureOf(h.run('fetchPaymentStatus', { orderId, gateway: 'stripe', intentId }));

    expect(failure.type).toBe('GatewayUnavailable');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBeUndefined();
  });

  it('when the cancel races with a capture, then it reports already_captured with the captured amount', async () => {
    const h = harness();
    const orderId = newOrderId();
    await h.run('recordOrder', recordInput(orderId));
    const { intentId } = await h.run('createPaymentIntent', recordInput(orderId));
    h.gateway.cancelRacesWithCapture(orderId);

    const outcome = await h.run('cancelPaymentIntent', { orderId, gateway: 'stripe', intentId });

    expect(outcome).toEqual({
      outcome: 'already_captured',
      amountMinor: 12_345,
      currency: 'EUR',
      paymentReference: h.gateway.intentFor(orderId)?.paymentReference,
    });
    expect(h.gateway.callsTo('cancelIntent')).toEqual([{ orderId, intentId }]);
  });
});

describe('closePaymentAtExpiry', () => {
  async function openIntent(h: ReturnType<typeof harness>) {
    const orderId = newOrderId();
    await h.run('recordOrder', recordInput(orderId));
    const { intentId } = await h.run('createPaymentIntent', recordInput(orderId));
    return { orderId, intentId, lookup: { orderId, gateway: 'stripe' as const, intentId } };
  }

  it('when nobody paid, then it checks the status once and cancels the intent in the same call', async () => {
    const h = harness();
    const { orderId, intentId, lookup } = await openIntent(h);

    const closed = await h.run('closePaymentAtExpiry', lookup);

    expect(closed).toEqual({
      finalStatus: expect.objectContaining({ state: 'pending' }),
      cancel: { outcome: 'cancelled' },
    });
    expect(h.gateway.callsTo('fetchPaymentStatus')).toEqual([{ orderId, intentId }]);
    expect(h.gateway.callsTo('cancelIntent')).toEqual([{ orderId, intentId }]);
    expect(h.gateway.intentFor(orderId)?.state).toBe('cancelled');
  });

  it('when the final check finds the payment, then nothing is cancelled', async () => {
    const h = harness();
    const { orderId, lookup } = await openIntent(h);
    h.gateway.payerPays(orderId);

    const closed = await h.run('closePaymentAtExpiry', lookup);

    expect(closed).toEqual({ finalStatus: expect.objectContaining({ state: 'captured', amountMinor: 12_345 }) });
    expect(h.gateway.callsTo('cancelIntent')).toHaveLength(0);
  });

  it('when the payer pays between the check and the cancel, then the cancel reports the capture', async () => {
    const h = harness();
    const { orderId, lookup } = await openIntent(h);
    h.gateway.cancelRacesWithCapture(orderId);

    const closed = await h.run('closePaymentAtExpiry', lookup);

    expect(closed.finalStatus?.state).toBe('pending');
    expect(closed.cancel).toMatchObject({ outcome: 'already_captured', amountMinor: 12_345, currency: 'EUR' });
  });

  it('when the status cannot be fetched, then the intent is cancelled anyway and no status is reported', async () => {
    const h = harness();
    const { orderId, intentId, lookup } = await openIntent(h);
    h.gateway.failNextCalls('fetchPaymentStatus', 1);

    const closed = await h.run('closePaymentAtExpiry', lookup);

    expect(closed).toEqual({ cancel: { outcome: 'cancelled' } });
    expect(h.gateway.callsTo('cancelIntent')).toEqual([{ orderId, intentId }]);
  });

  it('when the cancel fails, then the call fails retryable, so the check and the cancel are tried again', async () => {
    const h = harness();
    const { lookup } = await openIntent(h);
    h.gateway.failNextCalls('cancelIntent', 1);

    const failure = await failureOf(h.run('closePaymentAtExpiry', lookup));

    expect(failure.type).toBe('GatewayUnavailable');
    expect(failure.nonRetryable).toBe(false);
  });
});

describe('refundPayment', () => {
  function refundInput(
    orderId: string,
    intentId: string,
    paymentReference: string | undefined,
    seq = 1,
    amountMinor = 5_000,
  ) {
    return {
      orderId,
      gateway: 'stripe' as const,
      intentId,
      paymentReference,
      refundId: `refund-${orderId}-${seq}`,
      amountMinor,
      currency: 'EUR',
      reason: 'customer_request',
    };
  }

  it('when the gateway reports the refund pending, then it fails retryable, and the retry after it settles succeeds with one row', async () => {
    const h = harness();
    const { orderId, intentId, paymentReference } = await paidOrder(h);
    h.gateway.refundStaysPending(orderId, 1);
    const input = refundInput(orderId, intentId, paymentReference);

    const pending = await failureOf(h.run('refundPayment', input));
    const rowsWhilePending = await refundRows(orderId);
    const settled = await h.run('refundPayment', input);

    expect(pending.type).toBe('RefundPending');
    expect(pending.nonRetryable).toBe(false);
    const [gatewayRefund] = h.gateway.refundsFor(orderId);
    expect(rowsWhilePending).toEqual([
      expect.objectContaining({
        refund_id: input.refundId,
        state: 'pending',
        gateway_refund_id: gatewayRefund?.gatewayRefundId,
      }),
    ]);
    expect(settled).toEqual({ gatewayRefundId: gatewayRefund?.gatewayRefundId, state: 'succeeded' });
    expect(await refundRows(orderId)).toEqual([
      {
        refund_id: input.refundId,
        amount_minor: 5_000,
        currency: 'EUR',
        reason: 'customer_request',
        state: 'succeeded',
        gateway_refund_id: gatewayRefund?.gatewayRefundId,
      },
    ]);
    expect(h.gateway.refundsFor(orderId)).toHaveLength(1);
    expect(h.gateway.callsTo('refund').map((call) => call.refundId)).toEqual([input.refundId, input.refundId]);
    expect(h.gateway.intentFor(orderId)?.refundedAmountMinor).toBe(5_000);
  });

  it('when the gateway declines the refund, then the row is failed and the result says so', async () => {
    const h = harness();
    const { orderId, intentId, paymentReference } = await paidOrder(h);
    h.gateway.refundFails(orderId);
    const input = refundInput(orderId, intentId, paymentReference);

    const result = await h.run('refundPayment', input);

    expect(result.state).toBe('failed');
    expect(await refundRows(orderId)).toEqual([
      expect.objectContaining({ state: 'failed', gateway_refund_id: result.gatewayRefundId }),
    ]);
  });

  it('when the gateway is unavailable, then it fails retryable and the row stays requested, never succeeded', async () => {
    const h = harness();
    const { orderId, intentId, paymentReference } = await paidOrder(h);
    h.gateway.failNextCalls('refund', 1, { retryAfterMs: 250 });

    const failure = await failureOf(h.run('refundPayment', refundInput(orderId, intentId, paymentReference)));

    expect(failure.type).toBe('GatewayUnavailable');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBe(250);
    expect(await refundRows(orderId)).toEqual([
      expect.objectContaining({ state: 'requested', gateway_refund_id: null }),
    ]);
  });

  it('when the gateway rejects the refund, then it fails non-retryable and the row is not marked final', async () => {
    const h = harness();
    const { orderId, intentId, paymentReference } = await paidOrder(h);
    h.gateway.rejectNextCalls('refund', 1, { code: 'charge_disputed' });

    const failure = await failureOf(h.run('refundPayment', refundInput(orderId, intentId, paymentReference)));

    expect(failure.type).toBe('GatewayRejected');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.details).toEqual(['charge_disputed']);
    expect(await refundRows(orderId)).toEqual([expect.objectContaining({ state: 'requested' })]);
  });

  it('when a refund ID is reused for a different amount, then it fails non-retryable without asking the gateway', async () => {
    const h = harness();
    const { orderId, intentId, paymentReference } = await paidOrder(h);
    await h.run('refundPayment', refundInput(orderId, intentId, paymentReference, 1, 5_000));

    const failure = await failureOf(h.run('refundPayment', refundInput(orderId, intentId, paymentReference, 1, 7_000)));

    expect(failure.type).toBe('RefundRecordConflict');
    expect(failure.nonRetryable).toBe(true);
    expect(h.gateway.callsTo('refund')).toHaveLength(1);
    expect(await refundRows(orderId)).toEqual([expect.objectContaining({ amount_minor: 5_000, state: 'succeeded' })]);
  });
});

describe('metrics', () => {
  it('when an order is started and paid, then payments started and paid count once each, retries included, and the checkout-to-PAID time is observed', async () => {
    const h = harness();
    const { orderId } = await paidOrder(h);
    // A retried transition whose first attempt committed must not count again.
    await h.run(
      'transitionOrder',
      transition(orderId, {
        from: ['AWAITING_PAYMENT'],
        to: 'PAID',
        reason: 'payment_captured',
        at: '2030-01-02T03:05:00.000Z',
      }),
    );

    expect(await registrySum(h.metrics, 'orderpay_payments_total', { gateway: 'stripe', outcome: 'started' })).toBe(1);
    expect(await registrySum(h.metrics, 'orderpay_payments_total', { gateway: 'stripe', outcome: 'paid' })).toBe(1);
    expect(await registrySum(h.metrics, 'orderpay_checkout_to_paid_seconds_count', { gateway: 'stripe' })).toBe(1);
    // Recorded at NOW (03:04:05), paid at 03:05:00.
    expect(await registrySum(h.metrics, 'orderpay_checkout_to_paid_seconds_sum', { gateway: 'stripe' })).toBe(55);
    expect(await registrySum(h.metrics, 'orderpay_payment_status_checks_total', { result: 'captured' })).toBe(1);
  });

  it('when an order expires, fails or is cancelled, then the outcome counts under its gateway, and a needs-attention self-transition counts nothing', async () => {
    const h = harness();
    for (const to of ['EXPIRED', 'FAILED', 'CANCELLED'] as const) {
      const orderId = newOrderId();
      await h.run('recordOrder', recordInput(orderId));
      await h.run(
        'transitionOrder',
        transition(orderId, { from: ['PENDING'], to: 'AWAITING_PAYMENT', reason: 'x', at: NOW.toISOString() }),
      );
      await h.run(
        'transitionOrder',
        transition(orderId, {
          from: ['AWAITING_PAYMENT'],
          to,
          reason: 'y',
          at: NOW.toISOString(),
          changes: { needsAttention: true },
        }),
      );
      await h.run(
        'transitionOrder',
        transition(orderId, {
          from: [to],
          to,
          reason: 'needs_attention:z',
          at: NOW.toISOString(),
          changes: { needsAttention: true },
        }),
      );
    }

    expect(await registrySum(h.metrics, 'orderpay_payments_total', { outcome: 'started' })).toBe(3);
    expect(await registrySum(h.metrics, 'orderpay_payments_total', { gateway: 'stripe', outcome: 'cancelled' })).toBe(
      1,
    );
    expect(await registrySum(h.metrics, 'orderpay_payments_total', { gateway: 'stripe', outcome: 'expired' })).toBe(1);
    expect(await registrySum(h.metrics, 'orderpay_payments_total', { gateway: 'stripe', outcome: 'failed' })).toBe(1);
    expect(await registrySum(h.metrics, 'orderpay_payments_total', { outcome: 'paid' })).toBe(0);
  });

  it('when attempts start, are declined and one pays, then each counts once per gateway, retries included, and the success rate per attempt is computable', async () => {
    const h = harness();
    const { orderId, input, attempt } = await awaitingOrder(h);
    // A retried createPaymentIntent and a retried transition count nothing again.
    await h.run('createPaymentIntent', input);
    const declined = transition(orderId, {
      from: ['AWAITING_PAYMENT'],
      to: 'AWAITING_PAYMENT',
      reason: 'attempt_declined:1',
      at: '2030-01-02T03:04:30.000Z',
      attempt: {
        ...attempt,
        status: 'declined',
        failureReason: 'payment_declined',
        declineCode: 'Insufficient Funds',
        endedAt: '2030-01-02T03:04:30.000Z',
      },
    });
    await h.run('transitionOrder', declined);
    await h.run('transitionOrder', declined);
    const second = { ...attempt, number: 2, startedAt: '2030-01-02T03:04:31.000Z' };
    const started = transition(orderId, {
      from: ['AWAITING_PAYMENT'],
      to: 'AWAITING_PAYMENT',
      reason: 'attempt_started:2',
      at: '2030-01-02T03:04:31.000Z',
      attempt: second,
    });
    await h.run('transitionOrder', started);
    await h.run('transitionOrder', started);
    const paid = transition(orderId, {
      from: ['AWAITING_PAYMENT'],
      to: 'PAID',
      reason: 'payment_captured',
      at: '2030-01-02T03:05:00.000Z',
      changes: { capturedAmountMinor: 12_345, paymentReference: `ch_${orderId}`, paidAt: '2030-01-02T03:05:00.000Z' },
      attempt: { ...second, status: 'paid', endedAt: '2030-01-02T03:05:00.000Z' },
    });
    await h.run('transitionOrder', paid);
    await h.run('transitionOrder', paid);

    const sum = (name: string, labels: Record<string, string> = {}) => registrySum(h.metrics, name, labels);
    expect(await sum('orderpay_payment_attempts_started_total', { gateway: 'stripe' })).toBe(2);
    expect(await sum('orderpay_payment_attempts_ended_total', { gateway: 'stripe', outcome: 'declined' })).toBe(1);
    expect(await sum('orderpay_payment_attempts_ended_total', { gateway: 'stripe', outcome: 'paid' })).toBe(1);
    expect(await sum('orderpay_payment_attempts_ended_total')).toBe(2);
    expect(await sum('orderpay_payment_declines_total', { gateway: 'stripe', reason: 'insufficient_funds' })).toBe(1);
    expect(await sum('orderpay_payment_declines_total')).toBe(1);
    expect(await sum('orderpay_payment_attempts_per_order_count', { gateway: 'stripe' })).toBe(1);
    expect(await sum('orderpay_payment_attempts_per_order_sum', { gateway: 'stripe' })).toBe(2);
    // Successful payments / attempts, as docs/operations.md computes it.
    const paidAttempts = await sum('orderpay_payment_attempts_ended_total', { gateway: 'stripe', outcome: 'paid' });
    expect(paidAttempts / (await sum('orderpay_payment_attempts_started_total', { gateway: 'stripe' }))).toBe(0.5);
  });

  it('when a status lookup fails, then it counts as an error result', async () => {
    const h = harness();
    const orderId = newOrderId();
    const input = recordInput(orderId);
    await h.run('recordOrder', input);
    const { intentId } = await h.run('createPaymentIntent', input);
    await h.run('fetchPaymentStatus', { orderId, gateway: 'stripe', intentId });
    h.gateway.failNextCalls('fetchPaymentStatus', 1);
    await h.run('fetchPaymentStatus', { orderId, gateway: 'stripe', intentId }).catch(() => undefined);

    expect(
      await registrySum(h.metrics, 'orderpay_payment_status_checks_total', { gateway: 'stripe', result: 'pending' }),
    ).toBe(1);
    expect(
      await registrySum(h.metrics, 'orderpay_payment_status_checks_total', { gateway: 'stripe', result: 'error' }),
    ).toBe(1);
  });

  it('when a refund goes pending then succeeds, then each state counts once under a bounded reason, retries included', async () => {
    const h = harness();
    const { orderId, intentId, paymentReference } = await paidOrder(h);
    h.gateway.refundStaysPending(orderId, 1);
    const input = {
      orderId,
      gateway: 'stripe' as const,
      intentId,
      paymentReference,
      refundId: `refund-${orderId}-1`,
      amountMinor: 1_000,
      currency: 'EUR',
      reason: 'the customer wrote a free-text reason',
    };
    await h.run('refundPayment', input).catch(() => undefined);
    await h.run('refundPayment', input);
    await h.run('refundPayment', input);
    const late = { ...input, refundId: `refund-${orderId}-2`, reason: 'late_capture_after_expired' };
    await h.run('refundPayment', late).catch(() => undefined);
    await h.run('refundPayment', late);

    const requested = { gateway: 'stripe', reason: 'requested' };
    expect(await registrySum(h.metrics, 'orderpay_refunds_total', { ...requested, state: 'pending' })).toBe(1);
    expect(await registrySum(h.metrics, 'orderpay_refunds_total', { ...requested, state: 'succeeded' })).toBe(1);
    expect(
      await registrySum(h.metrics, 'orderpay_refunds_total', {
        reason: 'late_capture_after_expired',
        state: 'succeeded',
      }),
    ).toBe(1);
    expect(await registrySum(h.metrics, 'orderpay_refunds_total')).toBe(4);
  });
});

describe('logging', () => {
  it('when an order goes through checkout and a failure, then logs name its IDs and states but no customer data', async () => {
    const lines: string[] = [];
    // Plain pino without the production redaction: the activities themselves must not hand customer data over.
    const capturing = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
    const h = harness({ logger: capturing });
    const orderId = newOrderId();
    const input = recordInput(orderId, {
      customer: { name: 'Zelda Quux', email: 'zelda@example.test', phone: '+15550100' },
    });

    await h.run('recordOrder', input);
    const { intentId } = await h.run('createPaymentIntent', input);
    h.gateway.failNextCalls('fetchPaymentStatus', 1);
    await failureOf(h.run('fetchPaymentStatus', { orderId, gateway: 'stripe', intentId }));

    const output = lines.join('');
    expect(output).toContain(orderId);
    expect(output).toContain(intentId);
    for (const secret of ['Zelda', 'zelda@example.test', '+15550100']) {
      expect(output).not.toContain(secret);
    }
  });
});
