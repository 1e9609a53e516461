// The order's rules without a Temporal server (workflows/order/order-decisions.ts): what each gateway event and
// request does in each phase, what is left to refund, which requests are refused, when the next poll is due, when
// the TTL and the grace window end, how hints are coalesced, and what the one phase loop does next. A fake clock
// in milliseconds; no activity runs.
import type { OrderStatus, OrderWorkflowInput, PaymentEvent } from '../../contracts/order.contract';
import type { PaymentStatus } from '../../gateways/gateway';
import {
  OrderDecisions,
  lookupNeedsAttention,
  outcomeOf,
  type ProcessChanges,
} from '../../workflows/order/order-decisions';

const ALL_CHANGES: ProcessChanges = {
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
const BEFORE_CHANGES: ProcessChanges = {
  gracePolling: false,
  ledgerChecked: false,
  duplicateCaptures: false,
  historyBounded: false,
  fulfilmentConfirmation: false,
  paymentAttempts: false,
  currentProcess: false,
  localGatewayCalls: false,
  paymentStartedInOneCall: false,
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
  order.attempts?.begin(
    'khalti',
    { intentId: 'pidx_1', paymentUrl: 'https://pay.test/1' },
    new Date(nowMs).toISOString(),
  );
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

function paidOrder(changes: ProcessChanges = ALL_CHANGES): OrderDecisions {
  const order = awaiting(changes);
  order.holdCapture({ amountMinor: 5_000, currency: 'USD', paymentReference: 'ch_1' });
  order.moveTo('PAID', 'payment_captured', new Date(0).toISOString());
  return order;
}

function closedUnpaid(status: OrderStatus): OrderDecisions {
  const order = awaiting();
  order.moveTo(status, 'closed', new Date(0).toISOString());
  return order;
}

function event(eventId: string, kind: PaymentEvent['kind'], extra: Partial<PaymentEvent> = {}): PaymentEvent {
  return { eventId, kind, verified: true, occurredAt: new Date(0).toISOString(), ...extra };
}

const capture = (amountMinor: number, paymentReference = 'ch_1', currency = 'USD') =>
  outcomeOf(event('e', 'captured', { amountMinor, currency, paymentReference }));

describe('order decisions: gateway outcomes in each phase', () => {
  it('when the order awaits payment and the full amount is captured, then the order is paid', () => {
    expect(awaiting().outcomeAction(capture(5_000))).toEqual({
      kind: 'pay',
      capture: { amountMinor: 5_000, currency: 'USD', paymentReference: 'ch_1' },
    });
  });

  it('when the order awaits payment and another amount or currency is captured, then it fails and refunds', () => {
    expect(awaiting().outcomeAction(capture(4_999)).kind).toBe('fail_wrong_amount');
    expect(awaiting().outcomeAction(capture(5_000, 'ch_1', 'NPR')).kind).toBe('fail_wrong_amount');
    // Once failed, the same capture is a late one: refunded in full, named after the status it closed in.
    const failed = closedUnpaid('FAILED');
    expect(failed.outcomeAction(capture(4_999)).kind).toBe('refund_late_capture');
    expect(failed.lateCaptureReason()).toBe('late_capture_after_failed');
  });

  it.each(['EXPIRED', 'CANCELLED', 'FAILED'] as const)(
    'when a capture arrives after the order closed %s, then it is refunded in full, exactly once',
    (status) => {
      const order = closedUnpaid(status);
      const action = order.outcomeAction(capture(5_000));
      expect(action.kind).toBe('refund_late_capture');
      expect(order.lateCaptureReason()).toBe(`late_capture_after_${status.toLowerCase()}`);
      order.holdCapture({ amountMinor: 5_000, currency: 'USD', paymentReference: 'ch_1' });
      expect(order.outcomeAction(capture(5_000)).kind).toBe('nothing');
    },
  );

  it('when the order is paid and the same capture comes again, then nothing happens', () => {
    expect(paidOrder().outcomeAction(capture(5_000)).kind).toBe('nothing');
    expect(paidOrder().outcomeAction(outcomeOf(event('e', 'captured'))).kind).toBe('nothing');
  });

  it('when a paid order sees a capture under another payment reference, then that second capture is refunded', () => {
    const order = paidOrder();
    expect(order.outcomeAction(capture(5_000, 'ch_2'))).toEqual({
      kind: 'refund_second_capture',
      capture: { amountMinor: 5_000, currency: 'USD', paymentReference: 'ch_2' },
    });
    // Once its refund is recorded, the same second capture is not refunded again.
    order.openRefund(5_000, 'duplicate_capture', undefined, 'ch_2');
    expect(order.outcomeAction(capture(5_000, 'ch_2')).kind).toBe('nothing');
    // Runs recorded before duplicate-capture-refund ignore it, as they did.
    expect(paidOrder(BEFORE_CHANGES).outcomeAction(capture(5_000, 'ch_2')).kind).toBe('nothing');
  });

  it('when a decline or a gateway-side cancel arrives, then it ends the open attempt, and nothing after payment', () => {
    expect(awaiting().outcomeAction({ kind: 'failed' }).kind).toBe('end_attempt');
    expect(awaiting().outcomeAction({ kind: 'cancelled' })).toMatchObject({ kind: 'end_attempt', end: 'cancelled' });
    // Runs from before payment attempts closed the order at once.
    expect(awaiting(BEFORE_CHANGES).outcomeAction({ kind: 'failed' }).kind).toBe('decline');
    expect(awaiting(BEFORE_CHANGES).outcomeAction({ kind: 'cancelled' }).kind).toBe('close_expired_at_gateway');
    expect(paidOrder().outcomeAction({ kind: 'failed' }).kind).toBe('nothing');
    expect(closedUnpaid('EXPIRED').outcomeAction({ kind: 'cancelled' }).kind).toBe('nothing');
  });

  it('when the gateway reports a refund orderpay did not make, then an operator is told', () => {
    const order = paidOrder();
    expect(order.outcomeAction({ kind: 'refunded', amountMinor: 1_000 })).toEqual({
      kind: 'flag',
      reason: 'refund_outside_orderpay',
    });
    order.countRefund(1_000);
    expect(order.outcomeAction({ kind: 'refunded', amountMinor: 1_000 }).kind).toBe('nothing');
  });

  it('when the intent is not found, then an operator is told only while the order awaits payment', () => {
    expect(awaiting().outcomeAction({ kind: 'not_found' })).toEqual({
      kind: 'flag',
      reason: 'intent_not_found_at_gateway',
    });
    expect(closedUnpaid('EXPIRED').outcomeAction({ kind: 'not_found' }).kind).toBe('nothing');
    expect(awaiting().outcomeAction({ kind: 'pending' }).kind).toBe('nothing');
  });

  it('when a status lookup answers, then it reads as the same outcome as an event, and may ask for a person', () => {
    const lookup: PaymentStatus = {
      state: 'captured',
      gatewayStatus: 'Completed',
      amountMinor: 5_000,
      currency: 'USD',
    };
    expect(outcomeOf(lookup)).toEqual({
      kind: 'captured',
      amountMinor: 5_000,
      currency: 'USD',
      paymentReference: undefined,
    });
    expect(lookupNeedsAttention(lookup)).toBe(false);
    expect(lookupNeedsAttention({ ...lookup, state: 'pending', needsAttention: true })).toBe(true);
    // Recorded before needsAttention existed: the same request under its old name.
    expect(lookupNeedsAttention({ ...lookup, state: 'pending', attention: 'AMBIGUOUS' } as PaymentStatus)).toBe(true);
    expect(lookupNeedsAttention({ ...lookup, attention: '' } as PaymentStatus)).toBe(false);
  });

  it('when the operator flag is raised twice, then only the first one is written', () => {
    const order = awaiting();
    expect(order.flag('refund_failed', 'now')).toBe(true);
    expect(order.flag('refund_failed', 'now')).toBe(false);
    expect(order.state.timeline.filter((entry) => entry.reason.startsWith('needs_attention'))).toHaveLength(1);
  });
});

describe('order decisions: events, hints and duplicates', () => {
  it('when the same signed event is delivered twice, then it is applied once', () => {
    const order = awaiting();
    order.receiveEvent(event('evt_1', 'captured'));
    order.receiveEvent(event('evt_1', 'captured'));
    expect(order.inbox).toHaveLength(1);
  });

  it('when an unsigned event arrives, then it only asks for a status lookup', () => {
    const order = awaiting();
    order.receiveEvent(event('evt_1', 'captured', { verified: false }));
    expect(order.inbox).toHaveLength(0);
    expect(order.statusCheckRequested).toBe(true);
    expect(order.hintRedundancy(event('evt_2', 'captured'))).toBe('a status lookup is already due');
  });

  it('when a hint cannot change the order, then it is refused as redundant', () => {
    expect(paidOrder().hintRedundancy(event('evt_1', 'captured'))).toBe('no lookup changes an order that is PAID');
    // A closed unpaid order may still have been paid (lost webhooks): a hint is looked up, since grace polling.
    expect(closedUnpaid('EXPIRED').hintRedundancy(event('evt_1', 'captured'))).toBeUndefined();
    const closed = awaiting();
    closed.close();
    expect(closed.hintRedundancy(event('evt_1', 'captured'))).toBe('order closed');
  });

  it('when more events arrive than are remembered, then the oldest IDs are forgotten', () => {
    const order = awaiting();
    for (let i = 0; i <= 256; i += 1) order.rememberEvent(`evt_${i}`);
    expect(order.seenEventIds).toHaveLength(256);
    expect(order.rememberEvent('evt_0')).toBe(true);
    expect(order.rememberEvent('evt_256')).toBe(false);
  });
});

describe('order decisions: what is refundable', () => {
  it('when a paid order has refunds queued and in flight, then the remainder leaves them out', () => {
    const order = paidOrder();
    expect(order.refundableRemainder()).toBe(5_000);
    order.queueRefund({ requestId: 'r1', amountMinor: 1_000, reason: 'customer' });
    expect(order.refundableRemainder()).toBe(4_000);
    order.openRefund(1_500, 'customer', 'r0');
    expect(order.refundableRemainder()).toBe(2_500);
    // Before refund-ledger-in-flight, a refund in flight was not counted.
    const before = paidOrder(BEFORE_CHANGES);
    before.openRefund(1_500, 'customer', 'r0');
    expect(before.refundableRemainder()).toBe(5_000);
  });

  it('when a refund request exceeds the remainder or the order is not paid, then it is refused', () => {
    const order = paidOrder();
    expect(order.refundRefusal({ requestId: 'r1', amountMinor: 5_001, reason: 'x' })?.type).toBe(
      'RefundExceedsCaptured',
    );
    expect(order.refundRefusal({ requestId: 'r1', amountMinor: 0, reason: 'x' })?.type).toBe('RefundExceedsCaptured');
    expect(order.refundRefusal({ requestId: 'r1', amountMinor: 5_000, reason: 'x' })).toBeUndefined();
    expect(awaiting().refundRefusal({ requestId: 'r1', reason: 'x' })).toEqual({
      type: 'InvalidTransition',
      message: 'cannot refund an order that is AWAITING_PAYMENT',
    });
    order.close();
    expect(order.refundRefusal({ requestId: 'r2', reason: 'x' })?.message).toBe(
      'cannot refund an order that is PAID and closed',
    );
  });

  it('when the same refund request comes again, then it is queued once and answered as the first', () => {
    const order = paidOrder();
    const request = { requestId: 'r1', reason: 'customer' };
    expect(order.queueRefund(request)).toBe(true);
    expect(order.queueRefund(request)).toBe(true);
    expect(order.refundQueue).toEqual([{ request, amountMinor: 5_000 }]);
    // Even though it would no longer fit, the repeat is accepted: it waits for the first one's answer.
    expect(order.refundRefusal(request)).toBeUndefined();
    const [queued] = order.refundQueue;
    order.settleRefundRequest(queued!, 'settled');
    expect(order.queueRefund(request)).toBe(false);
    expect(order.refundRequestRefusal('r1')).toBeUndefined();
  });

  it('when a queued refund no longer fits because another went in flight, then it is refused', () => {
    const order = paidOrder();
    order.queueRefund({ requestId: 'r1', amountMinor: 3_000, reason: 'x' });
    const [queued] = order.refundQueue;
    expect(order.queuedRefundNoLongerFits(queued!)).toBe(false);
    order.openRefund(3_000, 'x', 'r0');
    expect(order.queuedRefundNoLongerFits(queued!)).toBe(true);
    order.settleRefundRequest(queued!, 'refused');
    expect(order.refundRequestRefusal('r1')?.type).toBe('RefundExceedsCaptured');
  });

  it('when a refund is about to be sent, then it must fit the ledger without counting itself', () => {
    const order = paidOrder();
    const first = order.openRefund(5_000, 'x');
    expect(order.refundExceedsLedger(first)).toBe(false);
    const second = order.openRefund(1, 'x');
    expect(order.refundExceedsLedger(second)).toBe(true);
    // A second capture's refund is against another payment: the order's ledger does not limit it.
    expect(order.refundExceedsLedger(order.openRefund(5_000, 'duplicate_capture', undefined, 'ch_2'))).toBe(false);
  });

  it('when refunds settle, then the order is partially refunded and then refunded', () => {
    const order = paidOrder();
    expect(order.countRefund(2_000)).toBe('PARTIALLY_REFUNDED');
    expect(order.countRefund(3_000)).toBe('REFUNDED');
  });

  it('when refunds are opened, then their IDs are deterministic and sequential', () => {
    const order = paidOrder();
    expect(order.openRefund(1, 'a').refundId).toBe('refund-o-1-1');
    expect(order.openRefund(1, 'b', 'admin:k').refundId).toBe('refund-o-1-2');
    expect(order.state.refunds.map((refund) => refund.requestId)).toEqual(['refund-o-1-1', 'admin:k']);
  });
});

describe('order decisions: cancel', () => {
  it('when a cancel comes before payment or after close, then it is the matching step', () => {
    const unpaid = awaiting();
    unpaid.requestCancel('customer');
    expect(unpaid.nextStep('awaiting_payment', 0, false)).toEqual({
      kind: 'cancel_before_payment',
      reason: 'customer',
    });
    const paid = paidOrder();
    paid.requestCancel('customer');
    expect(paid.nextStep('grace', 0, false)).toEqual({ kind: 'cancel_after_close', reason: 'customer' });
  });

  it('when a cancel is handled, then it refunds what is left of a payment and nothing of an unpaid order', () => {
    const paid = paidOrder();
    paid.countRefund(1_000);
    expect(paid.refundOnCancelMinor()).toBe(4_000);
    expect(closedUnpaid('CANCELLED').refundOnCancelMinor()).toBe(0);
    expect(awaiting().refundOnCancelMinor()).toBe(0);
  });

  it('when a cancel is not possible, then it is refused with the reason', () => {
    expect(closedUnpaid('FAILED').cancelRefusal()?.message).toBe('cannot cancel an order that is FAILED');
    const closed = paidOrder();
    closed.close();
    expect(closed.cancelRefusal()).toEqual({ type: 'InvalidTransition', message: 'order o-1 is closed' });
    expect(closedUnpaid('CANCELLED').cancelRefusal()?.type).toBe('RedundantRequest');
    // Before bounded-history a repeated cancel waited and answered with the order.
    const before = awaiting(BEFORE_CHANGES);
    before.moveTo('CANCELLED', 'cancel', 'now');
    expect(before.cancelRefusal()).toBeUndefined();
    expect(before.cancelAlreadySettled()).toBe(true);
  });
});

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

  it('when the gateway closed the intent for good, then the window neither polls nor looks a last time', () => {
    const order = expiredInGrace();
    order.intentClosedByGateway('pidx_1');
    expect(order.wakeAtMs('grace')).toBe(70_000);
    expect(order.nextStep('grace', 63_000, true)).toEqual({ kind: 'nothing' });
    expect(order.closingStep('grace', 70_000)).toBe('close');
    // Still open for what the gateway says on its own: a hint is looked up, and the state survives continue-as-new.
    expect(order.hintRedundancy({ eventId: 'h1', kind: 'captured', verified: false, occurredAt: 'now' })).toBe(
      undefined,
    );
    expect(order.resumeState('grace', 65_000)).toMatchObject({ intentClosedAtGateway: 'pidx_1' });
  });

  it('when the gateway closed only an earlier intent, then the latest one is still polled', () => {
    const order = expiredInGrace();
    order.intentClosedByGateway('pidx_0');
    expect(order.wakeAtMs('grace')).toBe(63_000);
    expect(order.closingStep('grace', 70_000)).toBe('final_check');
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
