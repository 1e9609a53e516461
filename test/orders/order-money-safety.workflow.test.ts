// The order workflow's money-safety paths on the real Temporal dev server, with the real activities writing to
// real PostgreSQL and a scriptable in-memory gateway; an activity is stubbed per order where a test needs an answer
// the gateway or database cannot be made to give (a non-retryable refusal, a refund pending past its limit).
// With RECORD_HISTORIES=1 each path saves its history for the replay suite (test/replay).
import { type Client, WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createOrderActivities } from '../../activities/orders/order.activities';
import type { OrderActivities, RefundPaymentInput } from '../../activities/orders/order-activity.types';
import { createLogger } from '../../config/logger';
import { createOrderActivityMetrics } from '../../config/metrics';
import {
  ORDER_ERROR_TYPES,
  ORDER_WORKFLOW_TYPE,
  cancelOrderUpdate,
  checkoutUpdate,
  orderSearchAttributes,
  orderStateQuery,
  orderWorkflowId,
  paymentEventSignal,
  paymentHintUpdate,
  refundOrderUpdate,
  type OrderPolicy,
  type OrderState,
  type OrderWorkflowInput,
  type PollPolicy,
} from '../../contracts/order.contract';
import { FakeGateway } from '../support/fake-gateway';
import { recordHistoryIfAsked } from '../support/histories';
import { eventually } from '../support/processes';
import { connectTestClient, type RunningTestWorker, startTestWorker, uniqueId } from '../support/temporal';

jest.setTimeout(180_000);

const RARE_POLLS: PollPolicy = { initialIntervalMs: 60_000, backoffCoefficient: 2, maxIntervalMs: 60_000 };

let pool: pg.Pool;
let gateway: FakeGateway;
let worker: RunningTestWorker;
let client: Client;
/** The real activities, against the test database and the fake gateway. */
let real: OrderActivities;
/** Per order: activities that answer instead of the real ones. */
const stubs = new Map<string, Partial<OrderActivities>>();
/** Every refundPayment input the workflow sent, in order. */
const refundPaymentInputs: RefundPaymentInput[] = [];

function refundInputs(orderId: string): RefundPaymentInput[] {
  return refundPaymentInputs.filter((input) => input.orderId === orderId);
}

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  gateway = new FakeGateway();
  real = createOrderActivities({
    pool,
    gateways: () => gateway,
    logger: createLogger('test', 'silent'),
    metrics: createOrderActivityMetrics(new Registry()),
  });
  const stubbed: OrderActivities = {
    recordOrder: (input) => (stubs.get(input.orderId)?.recordOrder ?? real.recordOrder)(input),
    createPaymentIntent: (input) => (stubs.get(input.orderId)?.createPaymentIntent ?? real.createPaymentIntent)(input),
    startPayment: (input) => (stubs.get(input.intent.orderId)?.startPayment ?? real.startPayment)(input),
    fetchPaymentStatus: (input) => (stubs.get(input.orderId)?.fetchPaymentStatus ?? real.fetchPaymentStatus)(input),
    cancelPaymentIntent: (input) => (stubs.get(input.orderId)?.cancelPaymentIntent ?? real.cancelPaymentIntent)(input),
    closePaymentAtExpiry: (input) =>
      (stubs.get(input.orderId)?.closePaymentAtExpiry ?? real.closePaymentAtExpiry)(input),
    refundPayment: (input) => {
      refundPaymentInputs.push(input);
      return (stubs.get(input.orderId)?.refundPayment ?? real.refundPayment)(input);
    },
    recordManualRefund: (input) => (stubs.get(input.orderId)?.recordManualRefund ?? real.recordManualRefund)(input),
    transitionOrder: (input) => (stubs.get(input.orderId)?.transitionOrder ?? real.transitionOrder)(input),
  };
  worker = await startTestWorker(stubbed);
  client = await connectTestClient();
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await pool?.end();
});

function orderInput(prefix: string, policy: Partial<OrderPolicy> = {}): OrderWorkflowInput {
  const orderId = uniqueId(prefix);
  return {
    orderId,
    amountMinor: 5_000,
    currency: 'USD',
    gateway: 'stripe',
    description: 'Concert ticket',
    requestHash: `hash-${orderId}`,
    policy: { ttlMs: 30_000, graceMs: 1_000, poll: RARE_POLLS, ...policy },
  };
}

async function startOrder(input: OrderWorkflowInput) {
  const checkout = await client.workflow.executeUpdateWithStart(checkoutUpdate, {
    args: [{ requestHash: input.requestHash }],
    startWorkflowOperation: new WithStartWorkflowOperation(ORDER_WORKFLOW_TYPE, {
      workflowId: orderWorkflowId(input.orderId),
      taskQueue: worker.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });
  return { orderId: input.orderId, input, checkout, handle: client.workflow.getHandle(orderWorkflowId(input.orderId)) };
}
type Order = Awaited<ReturnType<typeof startOrder>>;

async function finish(order: Order, pathName: string): Promise<OrderState> {
  const state = (await order.handle.result()) as OrderState;
  await recordHistoryIfAsked(order.handle, pathName);
  return state;
}

function waitFor(order: Order, what: string, test: (state: OrderState) => boolean): Promise<OrderState> {
  return eventually(
    async () => {
      const state = await order.handle.query(orderStateQuery);
      return test(state) ? state : undefined;
    },
    { what, timeoutMs: 60_000 },
  );
}

async function dbOrder(orderId: string) {
  const order = await pool.query<{
    status: string;
    captured_amount_minor: number;
    refunded_amount_minor: number;
    needs_attention: boolean;
    failure_reason: string | null;
  }>(
    `SELECT status, captured_amount_minor, refunded_amount_minor, needs_attention, failure_reason
       FROM orders WHERE order_id = $1`,
    [orderId],
  );
  return order.rows[0];
}

async function refundRows(orderId: string) {
  const { rows } = await pool.query<{ refund_id: string; amount_minor: number; state: string }>(
    'SELECT refund_id, amount_minor, state FROM refunds WHERE order_id = $1 ORDER BY refund_id',
    [orderId],
  );
  return rows;
}

async function payByWebhook(order: Order): Promise<void> {
  gateway.payerPays(order.orderId);
  await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
  await waitFor(order, 'PAID', (state) => state.status === 'PAID');
}

async function historyLength(order: Order): Promise<number> {
  return (await order.handle.describe()).historyLength;
}

function updateFailureType(error: unknown): string | undefined {
  if (!(error instanceof WorkflowUpdateFailedError)) return undefined;
  return (error.cause as ApplicationFailure | undefined)?.type ?? undefined;
}

describe('order workflow: late payments during the grace window', () => {
  it('when a payment is captured after expiry and every webhook is lost, then a grace poll finds it and refunds it', async () => {
    const order = await startOrder(orderInput('grace-poll', { ttlMs: 800, graceMs: 6_000, gracePollIntervalMs: 500 }));
    await waitFor(order, 'EXPIRED', (state) => state.status === 'EXPIRED');
    gateway.lateCapture(order.orderId);
    const state = await finish(order, 'grace-poll-finds-late-capture');

    expect(state.status).toBe('REFUNDED');
    expect(state.refunds).toEqual([
      expect.objectContaining({ amountMinor: 5_000, reason: 'late_capture_after_expired', state: 'succeeded' }),
    ]);
    expect(state.timeline.at(-1)?.reason).toBe('refund_succeeded:late_capture_after_expired');
    const refundCalls = gateway.callsTo('refund', order.orderId);
    expect(refundCalls.map((call) => call.refundId)).toEqual([`refund-${order.orderId}-1`]);
    expect(refundInputs(order.orderId)).toEqual([expect.objectContaining({ capturedAmountMinor: 5_000 })]);
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 5_000 });
  });

  it('when a late capture lands between grace polls, then the last lookup before closing refunds it', async () => {
    // One lookup during the window at most: the poll interval is longer than the grace window.
    const order = await startOrder(
      orderInput('grace-final', { ttlMs: 800, graceMs: 2_500, gracePollIntervalMs: 60_000 }),
    );
    await waitFor(order, 'EXPIRED', (state) => state.status === 'EXPIRED');
    gateway.lateCapture(order.orderId);
    const state = await finish(order, 'grace-final-check-finds-late-capture');

    expect(state.status).toBe('REFUNDED');
    expect(gateway.callsTo('refund', order.orderId)).toHaveLength(1);
    expect(await refundRows(order.orderId)).toEqual([
      { refund_id: `refund-${order.orderId}-1`, amount_minor: 5_000, state: 'succeeded' },
    ]);
  });
});

describe('order workflow: one refund ledger', () => {
  it('when a cancel after payment and a full refund come at once, then exactly one refund reaches the gateway', async () => {
    const order = await startOrder(orderInput('cancel-and-refund', { graceMs: 5_000 }));
    await payByWebhook(order);
    // The cancel's refund stays pending at the gateway once, so it is in flight when the admin refund comes.
    gateway.refundStaysPending(order.orderId, 1);
    const cancel = order.handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'customer' }] });
    await waitFor(order, 'a refund in flight', (state) => state.refunds.some((refund) => refund.state === 'pending'));

    const refund = await order.handle
      .executeUpdate(refundOrderUpdate, { args: [{ requestId: 'admin-full', reason: 'admin' }] })
      .catch((error: unknown) => error);
    expect(updateFailureType(refund)).toBe(ORDER_ERROR_TYPES.refundExceedsCaptured);
    expect((await cancel).status).toBe('REFUNDED');
    const state = await finish(order, 'cancel-and-full-refund-at-once');
    // The validator refused it (the cancel's refund was in flight): the refund request never entered the history.
    const history = await order.handle.fetchHistory();
    const refundUpdates = (history.events ?? []).filter(
      (event) =>
        event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'refundOrderUpdate',
    );
    expect(refundUpdates).toHaveLength(0);

    expect(state).toMatchObject({ status: 'REFUNDED', refundedAmountMinor: 5_000 });
    expect(new Set(gateway.callsTo('refund', order.orderId).map((call) => call.refundId))).toEqual(
      new Set([`refund-${order.orderId}-1`]),
    );
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 5_000 });
  });
});

describe('order workflow: a second capture', () => {
  it('when a PAID order sees a capture with another payment reference, then that capture is refunded once and the order stays PAID', async () => {
    const order = await startOrder(orderInput('second-capture', { graceMs: 3_000 }));
    await payByWebhook(order);
    const first = await order.handle.query(orderStateQuery);
    const second = gateway.eventFor(order.orderId, { paymentReference: 'ch_second_capture', amountMinor: 5_000 });
    await order.handle.signal(paymentEventSignal, second);
    await order.handle.signal(paymentEventSignal, { ...second, eventId: `${second.eventId}-again` });
    const state = await finish(order, 'second-capture-refunded');

    expect(state).toMatchObject({
      status: 'PAID',
      capturedAmountMinor: 5_000,
      refundedAmountMinor: 0,
      paymentReference: first.paymentReference,
      needsAttention: true,
    });
    expect(state.refunds).toEqual([
      expect.objectContaining({
        amountMinor: 5_000,
        reason: 'duplicate_capture',
        state: 'succeeded',
        paymentReference: 'ch_second_capture',
      }),
    ]);
    const refundCalls = gateway.callsTo('refund', order.orderId);
    expect(refundCalls).toHaveLength(1);
    expect(refundCalls[0]).toMatchObject({ paymentReference: 'ch_second_capture' });
    expect(refundInputs(order.orderId)).toEqual([
      expect.objectContaining({ paymentReference: 'ch_second_capture', capturedAmountMinor: 5_000 }),
    ]);
    expect(await dbOrder(order.orderId)).toMatchObject({
      status: 'PAID',
      captured_amount_minor: 5_000,
      refunded_amount_minor: 0,
      needs_attention: true,
    });
  });
});

describe('order workflow: an order recorded before', () => {
  it('when the order row is already past PENDING, then no intent is created and checkout answers the recorded status', async () => {
    const input = orderInput('recorded-before', { graceMs: 300 });
    const earlier = await startOrder(input);
    await payByWebhook(earlier);
    await earlier.handle.result();

    // The earlier workflow is gone (retention); a new one starts for the same order.
    const again = await startOrder(input);
    expect(again.checkout).toMatchObject({ status: 'PAID', paymentUrl: null });
    const state = await finish(again, 'recorded-past-pending-no-intent');
    expect(state.status).toBe('PAID');
    expect(gateway.callsTo('createIntent', input.orderId)).toHaveLength(1);
    expect((await dbOrder(input.orderId))?.status).toBe('PAID');
  });
});

describe('order workflow: a first workflow task tried again', () => {
  it('when the order row was recorded by an earlier try of the first workflow task, then the checkout answer, the TTL and the search attribute keep the recorded expiry', async () => {
    const input = orderInput('first-task-again', { ttlMs: 10_000, graceMs: 300 });
    // What a first try leaves when its worker is killed after the local recordOrder: the row, with that try's clock.
    const recordedExpiry = new Date(Date.now() + 2_000).toISOString();
    const { policy: _policy, ...recordInput } = input;
    await real.recordOrder({ ...recordInput, expiresAt: recordedExpiry });

    const order = await startOrder(input);
    expect(order.checkout).toMatchObject({ status: 'AWAITING_PAYMENT', expiresAt: recordedExpiry });
    const described = await order.handle.describe();
    expect(described.typedSearchAttributes.get(orderSearchAttributes.expiresAt)?.toISOString()).toBe(recordedExpiry);
    // It expires at the recorded time, not at the 10-second TTL this try computed.
    const state = await finish(order, 'first-task-again-keeps-recorded-expiry');
    expect(state).toMatchObject({ status: 'EXPIRED', expiresAt: recordedExpiry });
    const row = await pool.query<{ expires_at: Date }>('SELECT expires_at FROM orders WHERE order_id = $1', [
      input.orderId,
    ]);
    expect(row.rows[0]?.expires_at.toISOString()).toBe(recordedExpiry);
  });
});

describe('order workflow: a first workflow task tried again after it started the payment', () => {
  it('when an earlier try of the run had moved the row to AWAITING_PAYMENT, then this try goes on with the same intent and the order can be paid', async () => {
    const input = orderInput('first-task-again-paying');
    // What a first try leaves when its worker is killed after its local activities: the row recorded by this run and
    // moved to AWAITING_PAYMENT with the intent, none of it in the history.
    stubs.set(input.orderId, {
      recordOrder: async (record) => {
        await real.recordOrder(record);
        const { requestHash: _hash, workflowRunId: _run, ...intent } = record;
        await real.startPayment({ intent, at: new Date().toISOString() });
        return real.recordOrder(record);
      },
    });

    const order = await startOrder(input);

    expect(order.checkout).toMatchObject({ status: 'AWAITING_PAYMENT', paymentUrl: expect.any(String) });
    expect(gateway.callsTo('createIntent', input.orderId)).toHaveLength(1);
    await payByWebhook(order);
    expect((await dbOrder(input.orderId))?.status).toBe('PAID');
  });

  it('when another run left the row AWAITING_PAYMENT, then no second payment starts', async () => {
    const input = orderInput('other-run-awaiting');
    const { policy: _policy, ...record } = input;
    const expiresAt = new Date(Date.now() + 30_000).toISOString();
    await real.recordOrder({ ...record, expiresAt, workflowRunId: 'an-earlier-run' });
    const { requestHash: _hash, ...intent } = record;
    await real.startPayment({ intent: { ...intent, expiresAt }, at: new Date().toISOString() });

    const order = await startOrder(input);

    expect(order.checkout).toMatchObject({ status: 'AWAITING_PAYMENT', paymentUrl: null });
    expect(gateway.callsTo('createIntent', input.orderId)).toHaveLength(1);
    expect((await order.handle.result()).status).toBe('AWAITING_PAYMENT');
  });
});

describe('order workflow: orders that cannot start', () => {
  it('when the database refuses the order, then checkout answers FAILED with order_not_recordable at once', async () => {
    const input = orderInput('not-recordable');
    stubs.set(input.orderId, {
      recordOrder: () =>
        Promise.reject(
          ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.invalidOrderData,
            message: 'refused',
            nonRetryable: true,
          }),
        ),
    });
    const order = await startOrder(input);
    expect(order.checkout).toMatchObject({ status: 'FAILED', failureReason: 'order_not_recordable' });
    const state = await finish(order, 'order-not-recordable');
    expect(state.status).toBe('FAILED');
    expect(gateway.callsTo('createIntent', input.orderId)).toHaveLength(0);
    expect(await dbOrder(input.orderId)).toBeUndefined();
  });

  it('when intent creation refuses the order data, then the order is FAILED with invalid_order_data', async () => {
    const input = orderInput('invalid-intent-data');
    const refused = () =>
      Promise.reject(
        ApplicationFailure.create({ type: ORDER_ERROR_TYPES.invalidOrderData, message: 'refused', nonRetryable: true }),
      );
    stubs.set(input.orderId, { createPaymentIntent: refused, startPayment: refused });
    const order = await startOrder(input);
    expect(order.checkout).toMatchObject({ status: 'FAILED', failureReason: 'invalid_order_data' });
    await finish(order, 'intent-invalid-order-data');
    expect(await dbOrder(input.orderId)).toMatchObject({ status: 'FAILED', failure_reason: 'invalid_order_data' });
  });
});

describe('order workflow: refunds that do not settle', () => {
  it('when a refund stays pending past its limit, then it stays pending, is not counted and the order is flagged', async () => {
    const input = orderInput('refund-pending', { graceMs: 1_500 });
    stubs.set(input.orderId, {
      refundPayment: () => Promise.resolve({ gatewayRefundId: 're_stuck', state: 'pending' as const }),
    });
    const order = await startOrder(input);
    await payByWebhook(order);
    const answer = await order.handle.executeUpdate(refundOrderUpdate, {
      args: [{ requestId: 'r1', amountMinor: 2_000, reason: 'damaged' }],
    });
    expect(answer).toMatchObject({ status: 'PAID', refundedAmountMinor: 0, needsAttention: true });
    // The pending refund still takes its share of the ledger: the rest is 3,000, not 5,000.
    const tooMuch = await order.handle
      .executeUpdate(refundOrderUpdate, { args: [{ requestId: 'r2', amountMinor: 4_000, reason: 'more' }] })
      .catch((error: unknown) => error);
    expect(updateFailureType(tooMuch)).toBe(ORDER_ERROR_TYPES.refundExceedsCaptured);
    const state = await finish(order, 'refund-pending-too-long');

    expect(state.refunds).toEqual([expect.objectContaining({ amountMinor: 2_000, state: 'pending' })]);
    expect(state.timeline.map((entry) => entry.reason)).toContain('needs_attention:refund_pending_too_long');
    expect(await dbOrder(input.orderId)).toMatchObject({
      status: 'PAID',
      refunded_amount_minor: 0,
      needs_attention: true,
    });
  });

  it('when the ledger in the database refuses a refund, then it is recorded failed and the order flagged', async () => {
    const input = orderInput('refund-refused', { graceMs: 1_500 });
    stubs.set(input.orderId, {
      refundPayment: () =>
        Promise.reject(
          ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.refundExceedsCaptured,
            message: 'refused by the ledger',
            nonRetryable: true,
          }),
        ),
    });
    const order = await startOrder(input);
    await payByWebhook(order);
    const answer = await order.handle.executeUpdate(refundOrderUpdate, { args: [{ requestId: 'r1', reason: 'all' }] });
    expect(answer).toMatchObject({ status: 'PAID', refundedAmountMinor: 0, needsAttention: true });
    expect(answer.refunds).toEqual([expect.objectContaining({ amountMinor: 5_000, state: 'failed' })]);
    await finish(order, 'refund-refused-by-ledger');
  });
});

describe('order workflow: bounded history', () => {
  it('when 5,000 hints arrive for one order, then they are coalesced, its history stays under 1,000 events and it is still paid', async () => {
    const order = await startOrder(orderInput('hint-flood', { ttlMs: 120_000 }));
    let accepted = 0;
    let redundant = 0;
    for (let batch = 0; batch < 500; batch += 1) {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          order.handle.executeUpdate(paymentHintUpdate, {
            args: [{ ...gateway.eventFor(order.orderId, { verified: false }), eventId: `forged-${batch}-${i}` }],
          }),
        ),
      );
      for (const result of results) {
        if (result.status === 'fulfilled') accepted += 1;
        else if (updateFailureType(result.reason) === ORDER_ERROR_TYPES.redundantRequest) redundant += 1;
        else throw result.reason;
      }
    }
    const afterHints = await historyLength(order);
    console.info(`5,000 hints as updates: ${accepted} accepted, ${redundant} redundant, ${afterHints} events`);
    expect(accepted + redundant).toBe(5_000);
    expect(afterHints).toBeLessThan(1_000);

    // The payer's genuine return after the flood: taken, or refused because the lookup it asks for is due anyway.
    gateway.payerPays(order.orderId);
    await order.handle
      .executeUpdate(paymentHintUpdate, {
        args: [{ ...gateway.eventFor(order.orderId, { verified: false }), eventId: 'genuine-return' }],
      })
      .catch((error: unknown) => {
        if (updateFailureType(error) !== ORDER_ERROR_TYPES.redundantRequest) throw error;
      });
    const state = await finish(order, 'hint-flood-coalesced-then-paid');
    expect(state.status).toBe('PAID');
    expect(state.timeline.at(-1)?.reason).toMatch(/^payment_captured:hint/);
    expect(await historyLength(order)).toBeLessThan(1_000);
  });

  it('when 1,500 hints arrive as signals, then the workflow continues as new under the same ID and the order is still paid and refunded', async () => {
    // Signals (the fallback when no worker answers the hint update) always enter the history; a low bound shows the
    // run continuing as new. (5,000 signals at once overran the workflow task on a loaded 2-core test machine.)
    const order = await startOrder(orderInput('signal-flood', { ttlMs: 240_000, historyEventLimit: 500 }));
    const firstRunId = (await order.handle.describe()).runId;
    for (let batch = 0; batch < 150; batch += 1) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          order.handle.signal(paymentEventSignal, {
            ...gateway.eventFor(order.orderId, { verified: false }),
            eventId: `forged-${batch}-${i}`,
          }),
        ),
      );
    }
    await eventually(async () => ((await order.handle.describe()).runId !== firstRunId ? true : undefined), {
      what: 'a new run',
    });
    const described = await order.handle.describe();
    console.info(`1,500 hints as signals: current run has ${described.historyLength} events`);
    expect(described.typedSearchAttributes.get(orderSearchAttributes.orderId)).toBe(order.orderId);

    // The order carries on in the new run: a signed capture (a signal) pays it, a cancel (an update by workflow ID)
    // refunds it, and a repeated cancel changes nothing and leaves no history.
    gateway.payerPays(order.orderId);
    await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
    await waitFor(order, 'PAID', (current) => current.status === 'PAID');
    const cancelled = await order.handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'customer' }] });
    expect(cancelled).toMatchObject({ status: 'REFUNDED', orderId: order.orderId, refundedAmountMinor: 5_000 });
    expect(cancelled.timeline.map((entry) => entry.status)).toEqual([
      'PENDING',
      'AWAITING_PAYMENT',
      'PAID',
      'REFUNDED',
    ]);
    const repeated = await order.handle
      .executeUpdate(cancelOrderUpdate, { args: [{ reason: 'customer' }] })
      .catch((error: unknown) => error);
    expect(updateFailureType(repeated)).toBe(ORDER_ERROR_TYPES.redundantRequest);
    const history = await order.handle.fetchHistory();
    const acceptedUpdates = (history.events ?? []).filter(
      (event) => event.workflowExecutionUpdateAcceptedEventAttributes,
    );
    expect(acceptedUpdates).toHaveLength(1);
    const state = await finish(order, 'signal-flood-continued-as-new-then-refunded');
    const runs: string[] = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = '${order.handle.workflowId}'` })) {
      runs.push(`${run.runId}: ${run.historyLength} events`);
    }
    console.info(`runs of the order after 1,500 signalled hints:\n${runs.join('\n')}`);
    expect(state.status).toBe('REFUNDED');
    expect(gateway.callsTo('createIntent', order.orderId)).toHaveLength(1);
    expect(gateway.callsTo('refund', order.orderId)).toHaveLength(1);
    expect(await historyLength(order)).toBeLessThan(1_000);
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'REFUNDED', refunded_amount_minor: 5_000 });
  });
});
