// When the order's waiting phases act, without a Temporal server: when the next poll is due, when the TTL and the
// grace window end, how hints are coalesced, and what the one phase loop does next. A fake clock in milliseconds.
import type { OrderWorkflowInput } from '../../contracts/order.contract';
import { OrderDecisions, type ProcessChanges } from '../../workflows/order/order-decisions';

const ALL_CHANGES: ProcessChanges = {
  gracePolling: true,
  ledgerChecked: true,
  duplicateCaptures: true,
  historyBounded: true,
};
const BEFORE_CHANGES: ProcessChanges = {
  gracePolling: false,
  ledgerChecked: false,
  duplicateCaptures: false,
  historyBounded: false,
};

const input: OrderWorkflowInput = {
  orderId: 'o-1',
  amountMinor: 5_000,
  currency: 'USD',
  gateway: 'khalti',
  requestHash: 'hash',
  policy: {
    ttlMs: 60_000,
    graceMs: 10_000,
    poll: { initialIntervalMs: 1_000, backoffCoefficient: 2, maxIntervalMs: 8_000 },
    gracePollIntervalMs: 3_000,
  },
};

/** An order whose intent was created at `nowMs`, awaiting payment. */
function awaiting(changes: ProcessChanges = ALL_CHANGES, nowMs = 0): OrderDecisions {
  const order = new OrderDecisions(input, changes, nowMs);
  order.state.intentId = 'pidx_1';
  order.moveTo('AWAITING_PAYMENT', 'intent_created', new Date(nowMs).toISOString());
  order.enterPhase('awaiting_payment', nowMs);
  return order;
}

/** An order that expired unpaid at `nowMs` and entered its grace window then. */
function expiredInGrace(changes: ProcessChanges = ALL_CHANGES, nowMs = 60_000): OrderDecisions {
  const order = awaiting(changes);
  order.moveTo('EXPIRED', 'ttl_elapsed', new Date(nowMs).toISOString());
  order.enterPhase('grace', nowMs);
  return order;
}

/** Runs the poll the loop would run at `nowMs`: a lookup, then the next one scheduled. */
function poll(order: OrderDecisions, nowMs: number, trigger: 'poll' | 'grace_poll' = 'poll'): void {
  order.lookupStarted(nowMs);
  order.lookupDone(trigger, nowMs);
}

describe('order phases: awaiting payment', () => {
  it('when the order awaits payment, then polls back off exponentially up to the maximum interval', () => {
    const order = awaiting();
    const pollTimes: number[] = [];
    let nowMs = 0;
    for (let i = 0; i < 6; i += 1) {
      nowMs = order.wakeAtMs('awaiting_payment');
      expect(order.nextStep('awaiting_payment', nowMs, true)).toEqual({ kind: 'lookup', trigger: 'poll' });
      poll(order, nowMs);
      pollTimes.push(nowMs);
    }
    // 1s, then 2s, 4s, 8s, and capped at 8s.
    expect(pollTimes).toEqual([1_000, 3_000, 7_000, 15_000, 23_000, 31_000]);
    expect(order.state.pollCount).toBe(6);
  });

  it('when a wait ends before anything is due, then the loop does nothing and waits again', () => {
    const order = awaiting();
    expect(order.nextStep('awaiting_payment', 999, true)).toEqual({ kind: 'nothing' });
  });

  it('when the TTL is reached, then the order expires, even if a poll is due at the same time', () => {
    const order = awaiting();
    expect(order.wakeAtMs('awaiting_payment')).toBe(1_000);
    order.nextPollAtMs = 70_000;
    expect(order.wakeAtMs('awaiting_payment')).toBe(60_000);
    expect(order.nextStep('awaiting_payment', 59_999, true)).toEqual({ kind: 'nothing' });
    order.nextPollAtMs = 60_000;
    expect(order.nextStep('awaiting_payment', 60_000, true)).toEqual({ kind: 'expire' });
  });

  it('when an event is queued at the TTL, then the event is applied first', () => {
    const order = awaiting();
    order.receiveEvent({ eventId: 'e1', kind: 'captured', verified: true, occurredAt: 'now' });
    expect(order.nextStep('awaiting_payment', 60_000, false).kind).toBe('apply_event');
    expect(order.nextStep('awaiting_payment', 60_000, false).kind).toBe('expire');
  });

  it("when the gateway's intent expires before the TTL, then the TTL is capped to it", () => {
    const order = awaiting();
    expect(order.gatewayExpiryBeforeTtl(new Date(30_000).toISOString())).toBe(30_000);
    expect(order.gatewayExpiryBeforeTtl(new Date(90_000).toISOString())).toBeUndefined();
    expect(order.gatewayExpiryBeforeTtl('not a time')).toBeUndefined();
    expect(order.gatewayExpiryBeforeTtl(undefined)).toBeUndefined();
    order.capTtl(30_000);
    expect(order.state.expiresAt).toBe(new Date(30_000).toISOString());
    expect(order.nextStep('awaiting_payment', 30_000, true)).toEqual({ kind: 'expire' });
  });

  it('when every step awaits payment, then each follows a wait; in the grace window queued work goes first', () => {
    const order = awaiting();
    expect(order.waitsBeforeNextStep('awaiting_payment', 0)).toBe(true);
    order.receiveEvent({ eventId: 'e1', kind: 'failed', verified: true, occurredAt: 'now' });
    expect(order.waitsBeforeNextStep('awaiting_payment', 0)).toBe(true);
    const grace = expiredInGrace();
    expect(grace.waitsBeforeNextStep('grace', 60_000)).toBe(true);
    grace.receiveEvent({ eventId: 'e1', kind: 'captured', verified: true, occurredAt: 'now' });
    expect(grace.waitsBeforeNextStep('grace', 60_000)).toBe(false);
  });

  it('when the payment leaves AWAITING_PAYMENT, then the awaiting phase is over; the grace phase is not', () => {
    const order = awaiting();
    expect(order.phaseIsOver('awaiting_payment')).toBe(false);
    order.moveTo('PAID', 'paid', 'now');
    expect(order.phaseIsOver('awaiting_payment')).toBe(true);
    expect(order.phaseIsOver('grace')).toBe(false);
  });
});

describe('order phases: hints', () => {
  it('when hints come right after a lookup, then their lookup waits for the minimum interval', () => {
    const order = awaiting();
    poll(order, 1_000);
    order.receiveHint({ eventId: 'h1', kind: 'captured', verified: false, occurredAt: 'now' });
    expect(order.hintLookupReady(1_500)).toBe(false);
    expect(order.isIdle(1_500)).toBe(true);
    expect(order.wakeAtMs('awaiting_payment')).toBe(2_000);
    expect(order.nextStep('awaiting_payment', 2_000, true)).toEqual({ kind: 'lookup', trigger: 'hint' });
    expect(order.statusCheckRequested).toBe(false);
  });

  it('when a hint was due when the wait began, then only its timer wakes the wait', () => {
    const order = awaiting();
    poll(order, 1_000);
    order.receiveHint({ eventId: 'h1', kind: 'captured', verified: false, occurredAt: 'now' });
    const wakes = order.wakeTest();
    expect(wakes()).toBe(false);
    order.receiveEvent({ eventId: 'e1', kind: 'captured', verified: true, occurredAt: 'now' });
    expect(wakes()).toBe(true);
  });

  it('when runs predate bounded-history, then a hint is looked up at once', () => {
    const order = awaiting(BEFORE_CHANGES);
    poll(order, 1_000);
    order.receiveHint({ eventId: 'h1', kind: 'captured', verified: false, occurredAt: 'now' });
    expect(order.hintLookupReady(1_001)).toBe(true);
    expect(order.isIdle(1_001)).toBe(false);
  });
});

describe('order phases: the grace window', () => {
  it('when a closed unpaid order waits out its grace window, then it polls at the grace interval', () => {
    const order = expiredInGrace();
    expect(order.graceEndsAtMs).toBe(70_000);
    expect(order.wakeAtMs('grace')).toBe(63_000);
    expect(order.closingStep('grace', 63_000)).toBeUndefined();
    expect(order.nextStep('grace', 63_000, true)).toEqual({ kind: 'lookup', trigger: 'grace_poll' });
    poll(order, 63_000, 'grace_poll');
    expect(order.wakeAtMs('grace')).toBe(66_000);
    // Woken by a message rather than the timer, the loop does not poll early.
    expect(order.nextStep('grace', 66_000, false)).toEqual({ kind: 'nothing' });
  });

  it('when the grace window ends, then one final lookup runs, and then the order closes', () => {
    const order = expiredInGrace();
    expect(order.closingStep('grace', 69_999)).toBeUndefined();
    expect(order.closingStep('grace', 70_000)).toBe('final_check');
    expect(order.closingStep('grace', 70_500)).toBe('close');
  });

  it('when a paid order waits out its grace window, then it never polls and closes at its end', () => {
    const order = awaiting();
    order.holdCapture({ amountMinor: 5_000, currency: 'USD', paymentReference: 'ch_1' });
    order.moveTo('PAID', 'paid', 'now');
    order.enterPhase('grace', 5_000);
    expect(order.wakeAtMs('grace')).toBe(15_000);
    expect(order.nextStep('grace', 8_000, true)).toEqual({ kind: 'nothing' });
    expect(order.closingStep('grace', 15_000)).toBe('close');
  });

  it('when a run predates grace polling, then the window only waits, and closes as soon as its timer fires', () => {
    const order = expiredInGrace(BEFORE_CHANGES);
    expect(order.nextGracePollAtMs).toBeUndefined();
    expect(order.wakeAtMs('grace')).toBe(70_000);
    expect(order.closingStep('grace', 70_000)).toBe('close');
    // Even with an event queued in the same activation as the timer: the old loop closed without applying it.
    order.receiveEvent({ eventId: 'e1', kind: 'captured', verified: true, occurredAt: 'now' });
    expect(order.nextStep('grace', 70_000, true)).toEqual({ kind: 'close' });
    // Nor does a hint ask the gateway about a closed unpaid order.
    expect(order.hintRedundancy({ eventId: 'h1', kind: 'captured', verified: false, occurredAt: 'now' })).toBe(
      'no lookup changes an order that is EXPIRED',
    );
  });

  it('when a refund request and a cancel are queued in the grace window, then the refund goes first', () => {
    const order = awaiting();
    order.holdCapture({ amountMinor: 5_000, currency: 'USD', paymentReference: 'ch_1' });
    order.moveTo('PAID', 'paid', 'now');
    order.enterPhase('grace', 5_000);
    order.requestCancel('customer');
    order.queueRefund({ requestId: 'r1', amountMinor: 1_000, reason: 'x' });
    expect(order.nextStep('grace', 6_000, false).kind).toBe('refund_request');
  });

  it('when a run continues as new, then the next run resumes the same clocks', () => {
    const order = expiredInGrace();
    poll(order, 63_000, 'grace_poll');
    const resumed = new OrderDecisions({ ...input, resume: order.resumeState('grace', 64_000) }, ALL_CHANGES, 64_000);
    resumed.enterPhase('grace', 64_000);
    expect(resumed.graceEndsAtMs).toBe(70_000);
    expect(resumed.nextGracePollAtMs).toBe(66_000);
    expect(resumed.expiresAtMs).toBe(60_000);
    expect(resumed.state.pollCount).toBe(1);
  });
});
