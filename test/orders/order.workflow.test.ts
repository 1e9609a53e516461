// Every path of the order workflow on the real Temporal dev server, with the real activities writing to real
// PostgreSQL and a scriptable in-memory gateway. Durations are short and configured, not skipped.
// With RECORD_HISTORIES=1 each path saves its history for the replay suite (test/replay).
import { type Client, WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { type ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { createOrderActivities } from '../../activities/orders/order.activities';
import {
  ORDER_WORKFLOW_TYPE,
  cancelOrderUpdate,
  checkoutUpdate,
  orderSearchAttributes,
  orderStateQuery,
  orderWorkflowId,
  paymentEventSignal,
  refundOrderUpdate,
  startPaymentAttemptUpdate,
  type GatewayName,
  type OrderState,
  type OrderWorkflowInput,
  type PollPolicy,
} from '../../contracts/order.contract';
import { createLogger } from '../../config/logger';
import { createOrderActivityMetrics } from '../../config/metrics';
import { Registry } from 'prom-client';
import { FakeGateway } from '../support/fake-gateway';
import { recordHistoryIfAsked } from '../support/histories';
import { eventually } from '../support/processes';
import { connectTestClient, type RunningTestWorker, startTestWorker, uniqueId } from '../support/temporal';

jest.setTimeout(60_000);

const RARE_POLLS: PollPolicy = { initialIntervalMs: 60_000, backoffCoefficient: 2, maxIntervalMs: 60_000 };
const FAST_POLLS: PollPolicy = { initialIntervalMs: 200, backoffCoefficient: 2, maxIntervalMs: 400 };

let pool: pg.Pool;
let gateway: FakeGateway;
let worker: RunningTestWorker;
let client: Client;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  gateway = new FakeGateway();
  const activities = createOrderActivities({
    pool,
    gateways: () => gateway,
    logger: createLogger('test', 'silent'),
    metrics: createOrderActivityMetrics(new Registry()),
  });
  worker = await startTestWorker(activities);
  client = await connectTestClient();
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await pool?.end();
});

interface StartOptions {
  ttlMs?: number;
  graceMs?: number;
  gracePollIntervalMs?: number;
  poll?: PollPolicy;
  amountMinor?: number;
  requestHash?: string;
  gateway?: GatewayName;
  gateways?: GatewayName[];
  maxAttempts?: number;
}

async function startOrder(prefix: string, options: StartOptions = {}) {
  const orderId = uniqueId(prefix);
  const input: OrderWorkflowInput = {
    orderId,
    amountMinor: options.amountMinor ?? 5_000,
    currency: 'USD',
    gateway: options.gateway ?? 'stripe',
    ...(options.gateways ? { gateways: options.gateways } : {}),
    description: 'Concert ticket',
    customer: { email: 'payer@example.com' },
    requestHash: options.requestHash ?? `hash-${orderId}`,
    policy: {
      ttlMs: options.ttlMs ?? 30_000,
      graceMs: options.graceMs ?? 1_000,
      poll: options.poll ?? RARE_POLLS,
      ...(options.gracePollIntervalMs ? { gracePollIntervalMs: options.gracePollIntervalMs } : {}),
      ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    },
  };
  const checkout = await client.workflow.executeUpdateWithStart(checkoutUpdate, {
    args: [{ requestHash: input.requestHash }],
    startWorkflowOperation: new WithStartWorkflowOperation(ORDER_WORKFLOW_TYPE, {
      workflowId: orderWorkflowId(orderId),
      taskQueue: worker.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });
  const handle = client.workflow.getHandle(orderWorkflowId(orderId));
  return { orderId, input, checkout, handle };
}

async function finish(order: Awaited<ReturnType<typeof startOrder>>, pathName: string): Promise<OrderState> {
  const state = (await order.handle.result()) as OrderState;
  await recordHistoryIfAsked(order.handle, pathName);
  return state;
}

async function dbOrder(orderId: string) {
  const order = await pool.query<{
    status: string;
    captured_amount_minor: number;
    refunded_amount_minor: number;
    needs_attention: boolean;
  }>('SELECT status, captured_amount_minor, refunded_amount_minor, needs_attention FROM orders WHERE order_id = $1', [
    orderId,
  ]);
  const history = await pool.query<{ to_status: string }>(
    'SELECT to_status FROM order_status_history WHERE order_id = $1 ORDER BY id',
    [orderId],
  );
  return { ...order.rows[0], history: history.rows.map((row) => row.to_status) };
}

async function waitForStatus(order: Awaited<ReturnType<typeof startOrder>>, status: string): Promise<OrderState> {
  return eventually(
    async () => {
      const state = await order.handle.query(orderStateQuery);
      return state.status === status ? state : undefined;
    },
    { what: `status ${status}` },
  );
}

describe('order workflow', () => {
  it('when a signed capture webhook arrives, then the order is PAID in the workflow and the database', async () => {
    const order = await startOrder('paid-webhook');
    expect(order.checkout).toMatchObject({ status: 'AWAITING_PAYMENT', intentId: expect.any(String) });
    expect(order.checkout.paymentUrl).toBe(gateway.intentFor(order.orderId)?.paymentUrl);

    gateway.payerPays(order.orderId);
    await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
    const state = await finish(order, 'paid-by-webhook');

    expect(state.status).toBe('PAID');
    expect(state.timeline.at(-1)?.reason).toMatch(/^payment_captured:webhook/);
    expect(state.capturedAmountMinor).toBe(5_000);
    expect(await dbOrder(order.orderId)).toMatchObject({
      status: 'PAID',
      captured_amount_minor: 5_000,
      history: ['PENDING', 'AWAITING_PAYMENT', 'PAID'],
    });
    expect(gateway.callsTo('createIntent', order.orderId)).toHaveLength(1);
    expect(gateway.callsTo('createIntent', order.orderId)[0]?.idempotencyKey).toBe(order.orderId);
  });

  it('when the webhook is lost, then the status poll finds the payment', async () => {
    const order = await startOrder('paid-poll', { poll: FAST_POLLS });
    gateway.payerPays(order.orderId, { afterPolls: 2 });
    const state = await finish(order, 'paid-by-poll');

    expect(state.status).toBe('PAID');
    expect(state.timeline.at(-1)?.reason).toMatch(/^payment_captured:poll/);
    expect(state.pollCount).toBe(2);
    expect((await dbOrder(order.orderId)).status).toBe('PAID');
  });

  it('when an unsigned event arrives, then it is only a hint and the status lookup decides', async () => {
    const order = await startOrder('hint');
    // The hint claims a capture, but the gateway says the payment is still pending: nothing changes.
    await order.handle.signal(paymentEventSignal, {
      ...gateway.eventFor(order.orderId, { kind: 'captured' }),
      verified: false,
    });
    await eventually(async () => ((await order.handle.query(orderStateQuery)).pollCount === 1 ? true : undefined));
    expect((await order.handle.query(orderStateQuery)).status).toBe('AWAITING_PAYMENT');

    gateway.payerPays(order.orderId);
    await order.handle.signal(paymentEventSignal, { ...gateway.eventFor(order.orderId), verified: false });
    const state = await finish(order, 'paid-after-hint');
    expect(state.status).toBe('PAID');
    expect(state.timeline.at(-1)?.reason).toMatch(/^payment_captured:hint/);
  });

  it('when a decline arrives for an order whose row a discarded try of a workflow task already moved to PAID, then the workflow looks the payment up and ends PAID instead of failing', async () => {
    const order = await startOrder('row-moved-on');
    gateway.payerDeclines(order.orderId, { declineCode: 'insufficient_funds' });
    const declined = gateway.eventFor(order.orderId);
    gateway.payerPays(order.orderId);
    // What such a try leaves: it saw the payment, its local transitionOrder committed PAID, and its commands were
    // discarded (its worker was killed, or a signal arrived while it ran), so this run never recorded the payment.
    await pool.query(`UPDATE orders SET status = 'PAID', captured_amount_minor = amount_minor WHERE order_id = $1`, [
      order.orderId,
    ]);
    await order.handle.signal(paymentEventSignal, declined);
    const state = await finish(order, 'row-moved-on-before-a-decline');

    expect(state.status).toBe('PAID');
    expect((await order.handle.describe()).status.name).toBe('COMPLETED');
    expect(state.timeline.at(-1)?.reason).toMatch(/^payment_captured:/);
  });

  it('when the payer is declined, then the attempt is recorded, the session stays open and a second card pays it', async () => {
    const order = await startOrder('declined-then-paid');
    gateway.payerDeclines(order.orderId, { declineCode: 'insufficient_funds' });
    await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
    await eventually(
      async () => ((await order.handle.query(orderStateQuery)).attempts?.length === 2 ? true : undefined),
      {
        what: 'a second attempt on the same session',
      },
    );
    gateway.payerPays(order.orderId);
    await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
    const state = await finish(order, 'attempt-declined-then-paid-on-same-session');

    expect(state.status).toBe('PAID');
    expect(state.attempts).toMatchObject([
      { number: 1, status: 'declined', failureReason: 'payment_declined', declineCode: 'insufficient_funds' },
      { number: 2, status: 'paid', intentId: state.attempts?.[0]?.intentId },
    ]);
    expect(state.timeline.map((entry) => entry.reason)).toEqual([
      'order_created',
      'intent_created',
      'attempt_declined:1',
      'attempt_started:2',
      'payment_captured:webhook:captured',
    ]);
    expect(gateway.callsTo('cancelIntent', order.orderId)).toHaveLength(0);
    expect(gateway.callsTo('createIntent', order.orderId)).toHaveLength(1);
  });

  it('when the order has used every attempt, then it FAILS with too_many_attempts and the session is closed', async () => {
    const order = await startOrder('attempts-exhausted', { maxAttempts: 2 });
    for (let declines = 1; declines <= 2; declines += 1) {
      gateway.payerDeclines(order.orderId);
      await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
      await eventually(
        async () => {
          const { attempts } = await order.handle.query(orderStateQuery);
          return attempts?.filter((attempt) => attempt.status === 'declined').length === declines ? true : undefined;
        },
        { what: `${declines} declined attempts` },
      );
    }
    const state = await finish(order, 'attempts-exhausted');

    expect(state).toMatchObject({ status: 'FAILED', failureReason: 'too_many_attempts' });
    expect(state.attempts?.map((attempt) => attempt.status)).toEqual(['declined', 'declined']);
    expect(gateway.callsTo('cancelIntent', order.orderId)).toHaveLength(1);
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'FAILED' });
  });

  it('when a wallet payer cancels, then a new attempt from the pay link gets a new intent, and paying it makes the order PAID', async () => {
    const order = await startOrder('wallet-retry', { gateway: 'khalti', poll: FAST_POLLS });
    const first = gateway.intentFor(order.orderId)?.intentId;
    gateway.payerCancels(order.orderId);
    await eventually(
      async () =>
        (await order.handle.query(orderStateQuery)).attempts?.[0]?.status === 'cancelled' ? true : undefined,
      { what: 'the first attempt cancelled' },
    );
    const lookupsBefore = gateway.callsTo('fetchPaymentStatus', order.orderId).length;
    const started = await order.handle.executeUpdate(startPaymentAttemptUpdate, { args: [{}] });
    expect(started).toMatchObject({ status: 'AWAITING_PAYMENT', attempt: { number: 2, gateway: 'khalti' } });
    expect(started.attempt?.intentId).not.toBe(first);
    // Asking again while it is open answers with the same attempt: a double click creates nothing.
    expect(await order.handle.executeUpdate(startPaymentAttemptUpdate, { args: [{}] })).toEqual(started);

    gateway.payerPays(order.orderId);
    const state = await finish(order, 'attempt-cancelled-then-new-attempt-paid');
    expect(state.status).toBe('PAID');
    expect(state.attempts?.map((attempt) => attempt.status)).toEqual(['cancelled', 'paid']);
    expect(gateway.callsTo('createIntent', order.orderId)).toHaveLength(2);
    // The first intent was never asked about again once the second attempt existed.
    const laterLookups = gateway.callsTo('fetchPaymentStatus', order.orderId).slice(lookupsBefore);
    expect(laterLookups.every((request) => request.intentId === started.attempt?.intentId)).toBe(true);
  });

  it('when the payer pays a superseded attempt after another attempt paid, then that capture is refunded once and the order stays PAID', async () => {
    const order = await startOrder('superseded-capture', {
      gateway: 'khalti',
      gateways: ['khalti', 'esewa'],
      graceMs: 4_000,
    });
    const first = gateway.intentFor(order.orderId)?.intentId ?? '';
    const switched = await order.handle.executeUpdate(startPaymentAttemptUpdate, { args: [{ gateway: 'esewa' }] });
    expect(switched.attempt).toMatchObject({ number: 2, gateway: 'esewa' });
    gateway.payerPays(order.orderId);
    await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
    await waitForStatus(order, 'PAID');

    // The payer had the first page open in another tab and paid there too; the return names that intent.
    gateway.lateCapture(order.orderId, { intentId: first });
    const hint = { ...gateway.eventFor(order.orderId, { intentId: first }), verified: false };
    await order.handle.signal(paymentEventSignal, hint);
    await order.handle.signal(paymentEventSignal, { ...hint, eventId: `${hint.eventId}-again` });
    const state = await finish(order, 'attempt-superseded-then-captured-refunded');

    expect(state.status).toBe('PAID');
    expect(state.attempts?.map((attempt) => attempt.status)).toEqual(['superseded', 'paid']);
    expect(state.refunds).toEqual([
      expect.objectContaining({ reason: 'duplicate_capture', amountMinor: 5_000, state: 'succeeded' }),
    ]);
    expect(gateway.refundsFor(order.orderId)).toEqual([
      expect.objectContaining({ intentId: first, amountMinor: 5_000, state: 'succeeded' }),
    ]);
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'PAID', refunded_amount_minor: 0 });
  });

  it('when the order is not awaiting payment or the gateway is not allowed, then a new attempt is refused', async () => {
    const order = await startOrder('attempt-refused');
    await expect(
      order.handle.executeUpdate(startPaymentAttemptUpdate, { args: [{ gateway: 'khalti' }] }),
    ).rejects.toMatchObject({ cause: { type: 'GatewayNotAllowed' } });
    await order.handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'x' }] });
    await expect(order.handle.executeUpdate(startPaymentAttemptUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { type: 'InvalidTransition' },
    });
    await order.handle.result();
  });

  it('when nothing happens before the TTL, then a final check runs, the intent is cancelled and the order EXPIRED', async () => {
    const order = await startOrder('expired', { ttlMs: 1_500 });
    const state = await finish(order, 'expired');

    expect(state.status).toBe('EXPIRED');
    const calls = gateway.calls.filter((call) => 'orderId' in call.request && call.request.orderId === order.orderId);
    // The last lookup of the grace window comes after the intent is cancelled: a payment whose webhooks were lost.
    expect(calls.map((call) => call.operation)).toEqual([
      'createIntent',
      'fetchPaymentStatus',
      'cancelIntent',
      'fetchPaymentStatus',
    ]);
    expect(gateway.intentFor(order.orderId)?.state).toBe('cancelled');
    expect(await dbOrder(order.orderId)).toMatchObject({
      status: 'EXPIRED',
      history: ['PENDING', 'AWAITING_PAYMENT', 'EXPIRED'],
    });
  });

  it('when an order expires, then its intent, final check and cancel ran inside its workflow tasks, not as activity tasks', async () => {
    const order = await startOrder('expired-local-calls', { ttlMs: 1_500 });
    const state = await finish(order, 'expired-gateway-calls-local');

    expect(state.status).toBe('EXPIRED');
    const events = (await order.handle.fetchHistory()).events ?? [];
    const activityTasks = events.filter((event) => event.activityTaskScheduledEventAttributes);
    const localActivities = events.filter(
      (event) => event.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    );
    // recordOrder, startPayment (the intent and the move to AWAITING_PAYMENT), closePaymentAtExpiry, the transition
    // to EXPIRED, and the grace window's last look.
    expect(activityTasks).toEqual([]);
    expect(localActivities.length).toBeGreaterThanOrEqual(5);
    // The checkout's workflow task: recordOrder and startPayment, two markers before the first timer.
    const firstTimer = events.findIndex((event) => event.timerStartedEventAttributes);
    const checkoutMarkers = events
      .slice(0, firstTimer)
      .filter((event) => event.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    expect(checkoutMarkers).toHaveLength(2);
    expect(gateway.callsTo('fetchPaymentStatus', order.orderId).length).toBeGreaterThanOrEqual(1);
    expect(gateway.intentFor(order.orderId)?.state).toBe('cancelled');
  });

  it('when the payer pays between the final check and the cancel at expiry, then the cancel finds it and the order is PAID', async () => {
    const order = await startOrder('expiry-race', { ttlMs: 1_000 });
    gateway.cancelRacesWithCapture(order.orderId);
    const state = await finish(order, 'expiry-cancel-finds-capture');

    expect(state.status).toBe('PAID');
    expect(state.timeline.at(-1)?.reason).toBe('payment_captured:cancel_found_capture');
    expect(gateway.callsTo('cancelIntent', order.orderId)).toHaveLength(1);
    expect(await dbOrder(order.orderId)).toMatchObject({
      status: 'PAID',
      captured_amount_minor: 5_000,
      history: ['PENDING', 'AWAITING_PAYMENT', 'PAID'],
    });
  });

  it('when the gateway refuses the cancel at expiry, then the order is flagged and EXPIRED', async () => {
    const order = await startOrder('expiry-gateway-down', { ttlMs: 1_000 });
    // Refused for good: the local activity fails at once, as it would after its retries.
    gateway.rejectNextCalls('cancelIntent', 1, { orderId: order.orderId });
    const state = await finish(order, 'expiry-cancel-refused');

    expect(state.status).toBe('EXPIRED');
    expect(state.needsAttention).toBe(true);
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'EXPIRED', needs_attention: true });
  });

  it('when the gateway closes the intent for good at expiry, then the grace window asks it nothing more', async () => {
    const order = await startOrder('expired-closed', {
      ttlMs: 1_500,
      graceMs: 2_000,
      gracePollIntervalMs: 300,
      poll: FAST_POLLS,
    });
    gateway.closesIntentsForGood(order.orderId);
    const state = await finish(order, 'expired-intent-closed-at-gateway');

    expect(state.status).toBe('EXPIRED');
    const operations = gateway.calls
      .filter((call) => 'orderId' in call.request && call.request.orderId === order.orderId)
      .map((call) => call.operation);
    // Polled while awaiting payment; then nothing in two seconds of grace with grace polls due every 0.3 s, nor a last
    // look at its end: a Stripe session that expired cannot be paid any more (its events still reach the window).
    expect(operations.filter((operation) => operation === 'fetchPaymentStatus').length).toBeGreaterThan(1);
    expect(operations.at(-1)).toBe('cancelIntent');
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'EXPIRED' });
  });

  it('when the payer pays just before the TTL, then the final check makes the order PAID instead of EXPIRED', async () => {
    const order = await startOrder('final-check', { ttlMs: 1_000 });
    gateway.payerPays(order.orderId, { afterPolls: 1 });
    const state = await finish(order, 'paid-by-final-check');
    expect(state.status).toBe('PAID');
    expect(state.timeline.at(-1)?.reason).toMatch(/^payment_captured:final_check/);
    expect(gateway.callsTo('cancelIntent', order.orderId)).toHaveLength(0);
  });

  it('when the order is cancelled before payment, then the intent is cancelled and the order CANCELLED', async () => {
    const order = await startOrder('cancel-before');
    const state = await order.handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'customer_changed_mind' }] });
    expect(state.status).toBe('CANCELLED');
    expect(gateway.intentFor(order.orderId)?.state).toBe('cancelled');
    await finish(order, 'cancelled-before-payment');
    expect((await dbOrder(order.orderId)).status).toBe('CANCELLED');
    expect(gateway.refundsFor(order.orderId)).toHaveLength(0);
  });

  it('when a cancel races with a capture, then the payment is refunded and the order REFUNDED', async () => {
    const order = await startOrder('cancel-race');
    gateway.cancelRacesWithCapture(order.orderId);
    const state = await order.handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'customer' }] });
    expect(state.status).toBe('REFUNDED');
    await finish(order, 'cancel-races-capture');
    expect(gateway.refundsFor(order.orderId)).toEqual([
      expect.objectContaining({ amountMinor: 5_000, state: 'succeeded' }),
    ]);
    expect(await dbOrder(order.orderId)).toMatchObject({
      status: 'REFUNDED',
      refunded_amount_minor: 5_000,
      history: ['PENDING', 'AWAITING_PAYMENT', 'PAID', 'REFUNDED'],
    });
  });

  it('when a paid order is cancelled, then it is refunded in full and REFUNDED', async () => {
    const order = await startOrder('cancel-after', { graceMs: 3_000 });
    gateway.payerPays(order.orderId);
    await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
    await waitForStatus(order, 'PAID');

    const state = await order.handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'customer' }] });
    expect(state.status).toBe('REFUNDED');
    await finish(order, 'cancelled-after-payment');
    const refunds = gateway.refundsFor(order.orderId);
    expect(refunds).toEqual([expect.objectContaining({ refundId: `refund-${order.orderId}-1`, amountMinor: 5_000 })]);
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 5_000 });
  });

  it('when a payment succeeds after the order expired, then it is refunded exactly once and the order REFUNDED', async () => {
    const order = await startOrder('late-capture', { ttlMs: 800, graceMs: 3_000 });
    await waitForStatus(order, 'EXPIRED');
    // The gateway captured anyway (e.g. the payer's bank confirmed late) and tells us twice, with two event IDs.
    gateway.lateCapture(order.orderId);
    const late = gateway.eventFor(order.orderId);
    expect(late.kind).toBe('captured');
    await order.handle.signal(paymentEventSignal, late);
    await order.handle.signal(paymentEventSignal, { ...late, eventId: `${late.eventId}-again` });
    const state = await finish(order, 'late-capture-refunded');

    expect(state.status).toBe('REFUNDED');
    expect(state.refunds).toEqual([expect.objectContaining({ amountMinor: 5_000, state: 'succeeded' })]);
    expect(gateway.callsTo('refund', order.orderId).map((r) => r.refundId)).toEqual([`refund-${order.orderId}-1`]);
    expect(await dbOrder(order.orderId)).toMatchObject({
      status: 'REFUNDED',
      captured_amount_minor: 5_000,
      refunded_amount_minor: 5_000,
      history: ['PENDING', 'AWAITING_PAYMENT', 'EXPIRED', 'REFUNDED'],
    });
    const refundRows = await pool.query('SELECT refund_id, state FROM refunds WHERE order_id = $1', [order.orderId]);
    expect(refundRows.rows).toEqual([{ refund_id: `refund-${order.orderId}-1`, state: 'succeeded' }]);
  });

  it('when events are duplicated and arrive out of order, then only the first capture counts', async () => {
    const order = await startOrder('dupes', { graceMs: 2_000 });
    gateway.payerPays(order.orderId);
    const captured = gateway.eventFor(order.orderId);
    await order.handle.signal(paymentEventSignal, captured);
    await order.handle.signal(paymentEventSignal, captured);
    await order.handle.signal(paymentEventSignal, { ...captured, eventId: `${captured.eventId}-pi` });
    // A decline and a cancellation that the gateway sent earlier arrive after the capture.
    await order.handle.signal(paymentEventSignal, { ...captured, eventId: 'evt-old-decline', kind: 'failed' });
    await order.handle.signal(paymentEventSignal, { ...captured, eventId: 'evt-old-expiry', kind: 'cancelled' });
    const state = await finish(order, 'duplicate-and-out-of-order-events');

    expect(state.status).toBe('PAID');
    expect(state.timeline.map((entry) => entry.status)).toEqual(['PENDING', 'AWAITING_PAYMENT', 'PAID']);
    expect(gateway.callsTo('cancelIntent', order.orderId)).toHaveLength(0);
    expect(gateway.callsTo('refund', order.orderId)).toHaveLength(0);
    expect((await dbOrder(order.orderId)).history).toEqual(['PENDING', 'AWAITING_PAYMENT', 'PAID']);
  });

  it('when a capture does not match the order amount, then the order FAILS, is flagged and the money refunded', async () => {
    const order = await startOrder('mismatch', { graceMs: 2_000 });
    gateway.payerPays(order.orderId, { amountMinor: 4_000 });
    await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
    const state = await finish(order, 'amount-mismatch');

    expect(state).toMatchObject({ status: 'REFUNDED', needsAttention: true, failureReason: 'capture_amount_mismatch' });
    expect(gateway.refundsFor(order.orderId)).toEqual([expect.objectContaining({ amountMinor: 4_000 })]);
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'REFUNDED', needs_attention: true });
    const described = await order.handle.describe();
    expect(described.typedSearchAttributes.get(orderSearchAttributes.needsAttention)).toBe(true);
  });

  it('when partial refunds are requested, then the order goes PARTIALLY_REFUNDED then REFUNDED, once per request ID', async () => {
    const order = await startOrder('partial', { graceMs: 5_000 });
    gateway.payerPays(order.orderId);
    gateway.refundStaysPending(order.orderId, 1);
    await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
    await waitForStatus(order, 'PAID');

    const first = await order.handle.executeUpdate(refundOrderUpdate, {
      args: [{ requestId: 'r1', amountMinor: 1_500, reason: 'damaged_item' }],
    });
    expect(first).toMatchObject({ status: 'PARTIALLY_REFUNDED', refundedAmountMinor: 1_500 });
    const repeated = await order.handle.executeUpdate(refundOrderUpdate, {
      args: [{ requestId: 'r1', amountMinor: 1_500, reason: 'damaged_item' }],
    });
    expect(repeated.refundedAmountMinor).toBe(1_500);
    await expect(
      order.handle.executeUpdate(refundOrderUpdate, {
        args: [{ requestId: 'r2', amountMinor: 9_000, reason: 'too_much' }],
      }),
    ).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    const rest = await order.handle.executeUpdate(refundOrderUpdate, { args: [{ requestId: 'r3', reason: 'rest' }] });
    expect(rest).toMatchObject({ status: 'REFUNDED', refundedAmountMinor: 5_000 });
    await finish(order, 'partial-then-full-refund');

    expect(gateway.refundsFor(order.orderId).map((r) => r.amountMinor)).toEqual([1_500, 3_500]);
    expect(await dbOrder(order.orderId)).toMatchObject({
      status: 'REFUNDED',
      refunded_amount_minor: 5_000,
      history: ['PENDING', 'AWAITING_PAYMENT', 'PAID', 'PARTIALLY_REFUNDED', 'REFUNDED'],
    });
  });

  it('when the gateway refuses the intent, then checkout answers FAILED and the order is FAILED', async () => {
    const orderId = uniqueId('rejected');
    gateway.rejectNextCalls('createIntent', 1, { orderId, code: 'currency_not_supported' });
    const input: OrderWorkflowInput = {
      orderId,
      amountMinor: 100,
      currency: 'USD',
      gateway: 'stripe',
      requestHash: 'h',
      policy: { ttlMs: 30_000, graceMs: 500, poll: RARE_POLLS },
    };
    const checkout = await client.workflow.executeUpdateWithStart(checkoutUpdate, {
      args: [{ requestHash: 'h' }],
      startWorkflowOperation: new WithStartWorkflowOperation(ORDER_WORKFLOW_TYPE, {
        workflowId: orderWorkflowId(orderId),
        taskQueue: worker.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
    expect(checkout).toMatchObject({ status: 'FAILED', failureReason: 'intent_rejected', paymentUrl: null });
    const handle = client.workflow.getHandle(orderWorkflowId(orderId));
    await handle.result();
    await recordHistoryIfAsked(handle, 'intent-rejected');
    expect((await dbOrder(orderId)).status).toBe('FAILED');
  });

  it('when checkout is retried with a different request for the same order, then the update is rejected as a conflict', async () => {
    const order = await startOrder('conflict');
    const retry = client.workflow.executeUpdateWithStart(checkoutUpdate, {
      args: [{ requestHash: 'another-request' }],
      startWorkflowOperation: new WithStartWorkflowOperation(ORDER_WORKFLOW_TYPE, {
        workflowId: orderWorkflowId(order.orderId),
        taskQueue: worker.taskQueue,
        args: [{ ...order.input, requestHash: 'another-request' }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
    const error = await retry.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(((error as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe('IdempotencyConflict');
    // The same request again is fine and answers the same intent.
    const same = await client.workflow.getHandle(orderWorkflowId(order.orderId)).executeUpdate(checkoutUpdate, {
      args: [{ requestHash: order.input.requestHash }],
    });
    expect(same.intentId).toBe(order.checkout.intentId);
    await order.handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'cleanup' }] });
    await finish(order, 'conflicting-checkout-then-cancel');
  });

  it('when a transition happens, then the OrderStatus search attribute follows it', async () => {
    const order = await startOrder('search-attributes');
    const described = await order.handle.describe();
    expect(described.typedSearchAttributes.get(orderSearchAttributes.orderStatus)).toBe('AWAITING_PAYMENT');
    expect(described.typedSearchAttributes.get(orderSearchAttributes.orderId)).toBe(order.orderId);
    expect(described.typedSearchAttributes.get(orderSearchAttributes.gateway)).toBe('stripe');
    await order.handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'x' }] });
    await order.handle.result();
    const closed = await order.handle.describe();
    expect(closed.typedSearchAttributes.get(orderSearchAttributes.orderStatus)).toBe('CANCELLED');
  });
});
