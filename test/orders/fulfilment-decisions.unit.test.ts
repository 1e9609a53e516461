// The fulfilment-confirmation rules of workflows/order/order-decisions.ts without a Temporal server: when an answer
// is accepted, repeated or refused, what the loop does with it, when the timeout fires, and that a paid order
// awaiting its answer outlives its grace window. A fake clock in milliseconds; no activity runs.
import type { OrderWorkflowInput } from '../../contracts/order.contract';
import { OrderDecisions, type ProcessChanges } from '../../workflows/order/order-decisions';

const CHANGES: ProcessChanges = {
  gracePolling: true,
  ledgerChecked: true,
  duplicateCaptures: true,
  historyBounded: true,
  fulfilmentConfirmation: true,
  paymentAttempts: true,
  currentProcess: true,
  localGatewayCalls: true,
  paymentStartedInOneCall: true,
};

const TIMEOUT_MS = 30_000;
const GRACE_MS = 10_000;
const PAID_AT_MS = 5_000;

const input: OrderWorkflowInput = {
  orderId: 'o-f',
  amountMinor: 5_000,
  currency: 'USD',
  gateway: 'stripe',
  requestHash: 'hash',
  policy: {
    ttlMs: 60_000,
    graceMs: GRACE_MS,
    poll: { initialIntervalMs: 60_000, backoffCoefficient: 2, maxIntervalMs: 60_000 },
  },
  fulfilment: { mode: 'confirm', timeoutMs: TIMEOUT_MS },
};

function awaiting(changes: ProcessChanges = CHANGES, orderInput: OrderWorkflowInput = input): OrderDecisions {
  const order = new OrderDecisions(orderInput, changes, 0);
  order.state.intentId = 'pi_1';
  order.moveTo('AWAITING_PAYMENT', 'intent_created', new Date(0).toISOString());
  order.enterPhase('awaiting_payment', 0);
  return order;
}

/** Paid at PAID_AT_MS, as the pay step does it, and in its grace window from then. */
function paid(changes: ProcessChanges = CHANGES, orderInput: OrderWorkflowInput = input): OrderDecisions {
  const order = awaiting(changes, orderInput);
  order.holdCapture({ amountMinor: 5_000, currency: 'USD', paymentReference: 'ch_1' });
  order.awaitFulfilment(PAID_AT_MS);
  order.moveTo('PAID', 'payment_captured', new Date(PAID_AT_MS).toISOString());
  order.enterPhase('grace', PAID_AT_MS);
  return order;
}

/** What the fulfilment step records, as settleFulfilment does it (without the refund that follows a failure). */
function settle(order: OrderDecisions, nowMs: number): void {
  const step = order.nextStep('grace', nowMs, false);
  if (step.kind !== 'fulfilment') throw new Error(`expected a fulfilment step, got ${step.kind}`);
  order.recordFulfilment(order.settledFulfilment(step.decision, new Date(nowMs).toISOString()));
}

describe('fulfilment confirmation rules', () => {
  it('when an order asks for confirmation, then it waits for payment first and refuses answers until paid', () => {
    const order = awaiting();
    expect(order.state.fulfilment).toEqual({
      mode: 'confirm',
      status: 'awaiting_payment',
      dueAt: null,
      reason: null,
      answeredAt: null,
    });
    expect(order.fulfilmentRefusal({ status: 'fulfilled' })).toMatchObject({
      type: 'InvalidTransition',
      message: expect.stringContaining('fulfilment follows payment'),
    });
  });

  it('when the order is paid, then the answer is due one timeout after payment', () => {
    const order = paid();
    expect(order.state.fulfilment).toMatchObject({
      status: 'awaiting_confirmation',
      dueAt: new Date(PAID_AT_MS + TIMEOUT_MS).toISOString(),
    });
    expect(order.fulfilmentAwaited()).toBe(true);
    expect(order.fulfilmentRefusal({ status: 'fulfilled' })).toBeUndefined();
  });

  it('when the grace window ends while the answer is awaited, then the order stays open and wakes at the due time', () => {
    const order = paid();
    const afterGrace = PAID_AT_MS + GRACE_MS + 1;
    expect(order.isIdle(afterGrace)).toBe(true);
    expect(order.closingStep('grace', afterGrace)).toBeUndefined();
    // The past grace end is no reason to wake (it would spin); the due time is.
    expect(order.wakeAtMs('grace')).toBe(PAID_AT_MS + TIMEOUT_MS);
    expect(order.nextStep('grace', afterGrace, true)).toEqual({ kind: 'nothing' });
  });

  it('when the timeout passes without an answer, then the loop settles it as timed_out and later answers conflict', () => {
    const order = paid();
    const dueMs = PAID_AT_MS + TIMEOUT_MS;
    expect(order.isIdle(dueMs - 1)).toBe(true);
    expect(order.isIdle(dueMs)).toBe(false);
    expect(order.nextStep('grace', dueMs, true)).toEqual({ kind: 'fulfilment', decision: { status: 'timed_out' } });
    // While the timeout is being recorded, an answer arriving already conflicts with it.
    expect(order.fulfilmentRefusal({ status: 'fulfilled' })).toMatchObject({ type: 'FulfilmentConflict' });
    order.recordFulfilment(order.settledFulfilment({ status: 'timed_out' }, new Date(dueMs).toISOString()));
    expect(order.state.fulfilment).toMatchObject({ status: 'timed_out', answeredAt: new Date(dueMs).toISOString() });
    expect(order.fulfilmentRefusal({ status: 'failed', reason: 'sold out' })).toMatchObject({
      type: 'FulfilmentConflict',
      message: expect.stringContaining('already timed_out'),
    });
    // Past the grace window and settled: the order closes.
    expect(order.closingStep('grace', dueMs)).toBe('close');
  });

  it('when the merchant answers failed, then the answer is queued, a repeat waits for it and the opposite conflicts', () => {
    const order = paid();
    const answer = { status: 'failed', reason: 'sold out' } as const;
    expect(order.fulfilmentRefusal(answer)).toBeUndefined();
    order.receiveFulfilment(answer);
    expect(order.wakeTest()()).toBe(true);
    expect(order.isIdle(PAID_AT_MS + 1)).toBe(false);
    expect(order.fulfilmentSettled()).toBe(false);
    expect(order.fulfilmentRefusal({ status: 'failed', reason: 'again' })).toBeUndefined();
    expect(order.fulfilmentRefusal({ status: 'fulfilled' })).toMatchObject({ type: 'FulfilmentConflict' });

    settle(order, PAID_AT_MS + 100);
    expect(order.fulfilmentSettled()).toBe(true);
    expect(order.fulfilmentOutcome(answer)).toEqual({
      orderId: 'o-f',
      fulfilment: {
        mode: 'confirm',
        status: 'failed',
        dueAt: new Date(PAID_AT_MS + TIMEOUT_MS).toISOString(),
        reason: 'sold out',
        answeredAt: new Date(PAID_AT_MS + 100).toISOString(),
      },
    });
    // A repeat with another reason is the same answer: it is told what was recorded first.
    const repeat = { status: 'failed', reason: 'again' } as const;
    expect(order.fulfilmentRefusal(repeat)).toBeUndefined();
    expect(order.fulfilmentOutcome(repeat)).toMatchObject({ fulfilment: { reason: 'sold out' } });
  });

  it('when the merchant answers fulfilled, then a later failed is refused and no timeout fires any more', () => {
    const order = paid();
    order.receiveFulfilment({ status: 'fulfilled' });
    settle(order, PAID_AT_MS + 100);
    expect(order.fulfilmentRefusal({ status: 'failed', reason: 'changed our mind' })).toMatchObject({
      type: 'FulfilmentConflict',
      message: expect.stringContaining('already fulfilled'),
    });
    expect(order.fulfilmentRefusal({ status: 'fulfilled' })).toBeUndefined();
    expect(order.isIdle(PAID_AT_MS + TIMEOUT_MS + 1)).toBe(true);
    expect(order.wakeAtMs('grace')).toBe(PAID_AT_MS + GRACE_MS);
    expect(order.nextStep('grace', PAID_AT_MS + TIMEOUT_MS + 1, false)).toEqual({ kind: 'nothing' });
  });

  it('when a refund returns everything before an answer, then nothing is awaited and an answer is refused', () => {
    const order = paid();
    order.receiveFulfilment({ status: 'fulfilled' });
    expect(order.fulfilmentEndedByRefund('PARTIALLY_REFUNDED')).toBeUndefined();
    expect(order.fulfilmentEndedByRefund('REFUNDED')).toMatchObject({ status: 'not_needed' });
    order.moveTo('REFUNDED', 'refund_succeeded:cancel', new Date(PAID_AT_MS + 50).toISOString());
    // The queued answer is dropped by its step: nothing is recorded.
    expect(order.settledFulfilment({ status: 'fulfilled' }, new Date(PAID_AT_MS + 60).toISOString())).toBeUndefined();
    order.recordFulfilment(undefined);
    expect(order.fulfilmentSettled()).toBe(true);
    expect(order.fulfilmentOutcome({ status: 'fulfilled' })).toMatchObject({
      type: 'InvalidTransition',
      message: expect.stringContaining('nothing is left to fulfil'),
    });
  });

  it('when the run predates the change (no patch marker), then nothing about fulfilment applies', () => {
    const order = paid({ ...CHANGES, fulfilmentConfirmation: false });
    expect(order.state.fulfilment).toBeUndefined();
    expect(order.fulfilmentAwaited()).toBe(false);
    expect(order.fulfilmentRefusal({ status: 'fulfilled' })).toMatchObject({
      type: 'InvalidTransition',
      message: expect.stringContaining('did not ask'),
    });
    expect(order.closingStep('grace', PAID_AT_MS + GRACE_MS)).toBe('close');
  });

  it('when an order did not ask for confirmation, then answers are refused and the grace window closes as before', () => {
    const { fulfilment: _none, ...plain } = input;
    const order = paid(CHANGES, plain);
    expect(order.state.fulfilment).toBeUndefined();
    expect(order.fulfilmentRefusal({ status: 'failed', reason: 'x' })).toMatchObject({ type: 'InvalidTransition' });
    expect(order.wakeAtMs('grace')).toBe(PAID_AT_MS + GRACE_MS);
    expect(order.closingStep('grace', PAID_AT_MS + GRACE_MS)).toBe('close');
  });

  it('when the order has closed, then even the recorded answer is refused (the API answers it from the record)', () => {
    const order = paid();
    order.receiveFulfilment({ status: 'fulfilled' });
    settle(order, PAID_AT_MS + 100);
    order.close();
    expect(order.fulfilmentRefusal({ status: 'fulfilled' })).toMatchObject({
      type: 'InvalidTransition',
      message: expect.stringContaining('closed'),
    });
  });

  it('when the order continues as new while awaiting the answer, then the next run keeps the due time', () => {
    const order = paid();
    const resumed = new OrderDecisions(
      { ...input, resume: order.resumeState('grace', PAID_AT_MS + 1_000) },
      CHANGES,
      PAID_AT_MS + 1_000,
    );
    expect(resumed.fulfilmentAwaited()).toBe(true);
    expect(resumed.fulfilmentDueAtMs()).toBe(PAID_AT_MS + TIMEOUT_MS);
  });
});
