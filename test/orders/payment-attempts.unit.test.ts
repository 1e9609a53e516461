// The payment-attempt rules of the order (workflows/order/payment-attempts.ts through OrderDecisions) without a
// Temporal server: which report ends which attempt, how a decline already recorded is recognised, when the order has
// used its attempts, which requests for a new attempt are refused, queued or answered at once, and which intents a
// status lookup asks about. A fake clock in milliseconds; no activity runs.
import type { GatewayName, OrderWorkflowInput, PaymentEvent } from '../../contracts/order.contract';
import { OrderDecisions, outcomeOf, type ProcessChanges } from '../../workflows/order/order-decisions';

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

function inputFor(gateway: GatewayName, extra: Partial<OrderWorkflowInput> = {}): OrderWorkflowInput {
  return {
    orderId: 'o-1',
    amountMinor: 5_000,
    currency: gateway === 'stripe' ? 'USD' : 'NPR',
    gateway,
    requestHash: 'hash',
    policy: {
      ttlMs: 600_000,
      graceMs: 10_000,
      poll: { initialIntervalMs: 1_000, backoffCoefficient: 2, maxIntervalMs: 8_000 },
      maxAttempts: 3,
    },
    ...extra,
  };
}

const at = (ms: number) => new Date(ms).toISOString();

/** An order whose first attempt (intent `<gateway>_1`) is open at time 0. */
function awaiting(gateway: GatewayName, extra: Partial<OrderWorkflowInput> = {}): OrderDecisions {
  const order = new OrderDecisions(inputFor(gateway, extra), CHANGES, 0);
  const intentId = `${gateway}_1`;
  order.state.intentId = intentId;
  order.attempts?.begin(gateway, { intentId, paymentUrl: `https://pay.test/${intentId}` }, at(0));
  order.moveTo('AWAITING_PAYMENT', 'intent_created', at(0));
  order.enterPhase('awaiting_payment', 0);
  return order;
}

function event(kind: PaymentEvent['kind'], extra: Partial<PaymentEvent> = {}): PaymentEvent {
  return { eventId: `evt-${kind}-${extra.intentId ?? ''}`, kind, verified: true, occurredAt: at(0), ...extra };
}

const declined = (ref?: string) => ({
  code: 'card_declined',
  declineCode: 'insufficient_funds',
  ...(ref ? { ref } : {}),
});

/** What the steps do after an end_attempt action: end it, and reopen on the same intent where the gateway does. */
function endOpenAttempt(order: OrderDecisions, end: 'declined' | 'cancelled', ref?: string): void {
  const attempts = order.attempts;
  const open = attempts?.open();
  if (!attempts || !open) throw new Error('no open attempt');
  const ended = attempts.end(open, end, at(1_000), end === 'declined' ? declined(ref) : undefined);
  if (end === 'declined' && attempts.reopensAfterDecline(ended, undefined))
    attempts.begin(ended.gateway, ended, at(1_000));
}

describe('payment attempts: declines on a Stripe page that stays open', () => {
  it('when a try is declined, then the open attempt ends declined with the decline code, and the next opens on the same session', () => {
    const order = awaiting('stripe');
    const action = order.outcomeAction(outcomeOf(event('failed', { failure: declined('ch_1') }), 'stripe_1'));
    expect(action).toMatchObject({ kind: 'end_attempt', end: 'declined', attempt: { number: 1 } });
    endOpenAttempt(order, 'declined', 'ch_1');
    expect(order.state.attempts).toMatchObject([
      { number: 1, status: 'declined', failureReason: 'payment_declined', declineCode: 'insufficient_funds' },
      { number: 2, status: 'open', intentId: 'stripe_1' },
    ]);
    expect(order.state.status).toBe('AWAITING_PAYMENT');
  });

  it('when a lookup still shows the decline already recorded, then nothing happens; a new decline ends the attempt', () => {
    const order = awaiting('stripe');
    endOpenAttempt(order, 'declined', 'ch_1');
    const sameDecline = { state: 'failed' as const, gatewayStatus: 'open', failure: declined('ch_1') };
    expect(order.outcomeAction(outcomeOf(sameDecline, 'stripe_1')).kind).toBe('nothing');
    const newDecline = { ...sameDecline, failure: declined('ch_2') };
    expect(order.outcomeAction(outcomeOf(newDecline, 'stripe_1'))).toMatchObject({
      kind: 'end_attempt',
      attempt: { number: 2 },
    });
  });

  it('when a bank debit fails after the session completed, then no attempt reopens on that session', () => {
    const order = awaiting('stripe');
    const closed = { ...declined('ch_1'), intentClosed: true };
    const action = order.outcomeAction(outcomeOf(event('failed', { failure: closed })));
    expect(action).toMatchObject({ kind: 'end_attempt', end: 'declined' });
    const first = order.attempts?.open();
    if (!first) throw new Error('no attempt');
    expect(order.attempts?.reopensAfterDecline(first, closed)).toBe(false);
    expect(order.attempts?.reopensAfterDecline(first, declined('ch_1'))).toBe(true);
  });

  it('when the session closes and the news names no try, then the attempt reopened on it ends without a decline', () => {
    const order = awaiting('stripe');
    endOpenAttempt(order, 'declined', 'ch_1');
    const closed = { code: 'async_payment_failed', intentClosed: true };
    expect(order.outcomeAction(outcomeOf(event('failed', { failure: closed })))).toMatchObject({
      kind: 'end_attempt',
      end: 'cancelled',
      attempt: { number: 2 },
    });
    // A new decline named on that attempt is its own.
    const newDecline = { ...declined('ch_2'), intentClosed: true };
    expect(order.outcomeAction(outcomeOf(event('failed', { failure: newDecline })))).toMatchObject({
      kind: 'end_attempt',
      end: 'declined',
    });
  });

  it('when the session closes after its decline was recorded, then the attempt opened on it ends', () => {
    const order = awaiting('stripe');
    endOpenAttempt(order, 'declined', 'ch_1');
    const closed = { ...declined('ch_1'), intentClosed: true };
    expect(order.outcomeAction(outcomeOf(event('failed', { failure: closed })))).toMatchObject({
      kind: 'end_attempt',
      end: 'cancelled',
      attempt: { number: 2 },
    });
  });

  it('when a decline names no try, then only a signed event counts as new on a reopened session', () => {
    const order = awaiting('stripe');
    endOpenAttempt(order, 'declined');
    const lookup = { state: 'failed' as const, gatewayStatus: 'open' };
    expect(order.outcomeAction(outcomeOf(lookup, 'stripe_1')).kind).toBe('nothing');
    expect(order.outcomeAction(outcomeOf(event('failed'))).kind).toBe('end_attempt');
  });

  it('when the last allowed attempt is declined, then no attempt reopens and the order has used its attempts', () => {
    const order = awaiting('stripe');
    endOpenAttempt(order, 'declined', 'ch_1');
    expect(order.attempts?.exhausted()).toBe(false);
    endOpenAttempt(order, 'declined', 'ch_2');
    // The third and last attempt is open: every attempt is in use.
    expect(order.attempts?.exhausted()).toBe(true);
    expect(order.attempts?.open()?.number).toBe(3);
    endOpenAttempt(order, 'declined', 'ch_3');
    expect(order.attempts?.count()).toBe(3);
    expect(order.attempts?.open()).toBeUndefined();
    // The declined session is still payable at Stripe: closing the order cancels it.
    expect(order.payableIntent()).toEqual({ intentId: 'stripe_1', gateway: 'stripe' });
  });
});

describe('payment attempts: wallets, one try per intent', () => {
  it('when the payer cancels on the Khalti page, then the attempt ends and the order waits, polling nothing', () => {
    const order = awaiting('khalti');
    const cancelled = { state: 'cancelled' as const, gatewayStatus: 'User canceled' };
    expect(order.outcomeAction(outcomeOf(cancelled, 'khalti_1'))).toMatchObject({
      kind: 'end_attempt',
      end: 'cancelled',
    });
    endOpenAttempt(order, 'cancelled');
    expect(order.state.attempts?.[0]).toMatchObject({ status: 'cancelled', failureReason: 'cancelled_at_gateway' });
    expect(order.attempts?.open()).toBeUndefined();
    // No open attempt: the loop wakes for the TTL only, and a lookup has nothing to ask.
    expect(order.wakeAtMs('awaiting_payment')).toBe(600_000);
    expect(order.lookupStarted(5_000)).toEqual([]);
    expect(order.payableIntent()).toBeUndefined();
    // The first pidx is history: another report about it changes nothing.
    expect(order.outcomeAction(outcomeOf(cancelled, 'khalti_1')).kind).toBe('nothing');
  });

  it('when a decline names an earlier attempt, then it changes nothing', () => {
    const order = awaiting('esewa');
    endOpenAttempt(order, 'cancelled');
    order.attempts?.begin('esewa', { intentId: 'esewa_2', paymentUrl: 'https://pay.test/o-1' }, at(2_000));
    const stale = { state: 'cancelled' as const, gatewayStatus: 'CANCELED' };
    expect(order.outcomeAction(outcomeOf(stale, 'esewa_1')).kind).toBe('nothing');
    expect(order.outcomeAction(outcomeOf(stale, 'esewa_2')).kind).toBe('end_attempt');
  });
});

describe('payment attempts: the payer asks for an attempt', () => {
  it('when the open attempt is at the gateway asked for, then it answers at once; otherwise the request is queued', () => {
    const order = awaiting('khalti', { gateways: ['khalti', 'esewa'] });
    expect(order.attemptRefusal(undefined)).toBeUndefined();
    expect(order.requestAttempt(undefined)).toBeUndefined();
    expect(order.attemptResult()).toMatchObject({ status: 'AWAITING_PAYMENT', attempt: { number: 1 } });
    const id = order.requestAttempt('esewa');
    expect(id).toBe(0);
    expect(order.isIdle(1_000)).toBe(false);
    expect(order.nextStep('awaiting_payment', 1_000, false)).toEqual({
      kind: 'start_attempt',
      request: { id: 0, gateway: 'esewa' },
    });
    order.answerAttemptRequest();
    expect(order.attemptRequestAnswered(0)).toBe(true);
    expect(order.isIdle(1_000)).toBe(true);
  });

  it('when a payer returns from a cancelled wallet page and asks again at once, then the lookup runs before the answer', () => {
    const order = awaiting('khalti');
    order.receiveHint({ ...event('cancelled', { intentId: 'khalti_1' }), verified: false });
    // The open attempt may be over: the request waits instead of sending the payer back to it.
    const id = order.requestAttempt(undefined);
    expect(id).toBe(0);
    expect(order.nextStep('awaiting_payment', 10, false)).toEqual({ kind: 'lookup', trigger: 'hint' });
    expect(order.nextStep('awaiting_payment', 10, false)).toEqual({
      kind: 'start_attempt',
      request: { id: 0, gateway: 'khalti' },
    });
  });

  it('when the payer asks while a lookup is under way, then the request waits for its answer', () => {
    const order = awaiting('khalti');
    expect(order.lookupStarted(10)).toHaveLength(1);
    expect(order.requestAttempt(undefined)).toBe(0);
    order.lookupInFlight = false;
    expect(order.requestAttempt(undefined)).toBeUndefined();
  });

  it('when no attempt is open after a cancel, then a request for the same gateway is queued for a new intent', () => {
    const order = awaiting('khalti');
    endOpenAttempt(order, 'cancelled');
    expect(order.requestAttempt(undefined)).toBe(0);
    expect(order.attemptRequests).toEqual([{ id: 0, gateway: 'khalti' }]);
  });

  it('when the gateway is not allowed or the order is not awaiting payment, then the request is refused', () => {
    const order = awaiting('khalti');
    expect(order.attemptRefusal('esewa')?.type).toBe('GatewayNotAllowed');
    expect(order.attemptRefusal('stripe')?.type).toBe('GatewayNotAllowed');
    order.moveTo('PAID', 'payment_captured', at(1));
    expect(order.attemptRefusal(undefined)?.type).toBe('InvalidTransition');
  });

  it('when every attempt is used and one is open, then switching gateway is refused but the open one still answers', () => {
    const order = awaiting('khalti', { gateways: ['khalti', 'esewa'] });
    endOpenAttempt(order, 'cancelled');
    order.attempts?.begin('esewa', { intentId: 'esewa_2', paymentUrl: 'u' }, at(1));
    endOpenAttempt(order, 'cancelled');
    order.attempts?.begin('khalti', { intentId: 'khalti_3', paymentUrl: 'u' }, at(2));
    expect(order.attemptRefusal('esewa')?.type).toBe('InvalidTransition');
    expect(order.attemptRefusal('khalti')).toBeUndefined();
  });

  it('when the order closes with a request queued, then the request counts as answered, with no attempt', () => {
    const order = awaiting('khalti');
    endOpenAttempt(order, 'cancelled');
    const id = order.requestAttempt(undefined) ?? -1;
    order.moveTo('EXPIRED', 'ttl_elapsed', at(600_000));
    order.close();
    expect(order.attemptRequestAnswered(id)).toBe(true);
    expect(order.attemptResult()).toEqual({ orderId: 'o-1', status: 'EXPIRED', attempt: null });
  });
});

describe('payment attempts: captures and lookups across attempts', () => {
  it('when an earlier attempt is captured while another is open, then the order is paid by the earlier one', () => {
    const order = awaiting('khalti', { gateways: ['khalti', 'esewa'] });
    const first = order.attempts?.open();
    if (!first) throw new Error('no attempt');
    order.attempts?.end(first, 'superseded', at(1));
    order.attempts?.begin('esewa', { intentId: 'esewa_2', paymentUrl: 'u' }, at(1));
    const capture = { state: 'captured' as const, amountMinor: 5_000, currency: 'NPR', gatewayStatus: 'Completed' };
    const action = order.outcomeAction(outcomeOf({ ...capture, paymentReference: 'txn_1' }, 'khalti_1'));
    expect(action).toMatchObject({ kind: 'pay', capture: { intentId: 'khalti_1' } });
    if (action.kind !== 'pay') throw new Error('not paid');
    expect(order.attemptOfCapture(action.capture)).toMatchObject({ number: 1, gateway: 'khalti' });
  });

  it('when a payer returns from an earlier attempt of a paid order, then the hint is accepted and that intent looked up', () => {
    const order = awaiting('khalti', { gateways: ['khalti', 'esewa'] });
    const first = order.attempts?.open();
    if (!first) throw new Error('no attempt');
    order.attempts?.end(first, 'superseded', at(1));
    order.attempts?.begin('esewa', { intentId: 'esewa_2', paymentUrl: 'u' }, at(1));
    order.holdCapture({ amountMinor: 5_000, currency: 'NPR', paymentReference: 'ref_2', intentId: 'esewa_2' });
    order.moveTo('PAID', 'payment_captured', at(2));
    const hint = { ...event('captured', { intentId: 'khalti_1' }), verified: false };
    expect(order.hintRedundancy(hint)).toBeUndefined();
    order.receiveHint(hint);
    expect(order.hintRedundancy({ ...hint, eventId: 'other' })).toBeDefined();
    expect(order.lookupStarted(5_000)).toEqual([{ intentId: 'khalti_1', gateway: 'khalti' }]);
    // Looked up once: the next lookup of the paid order asks nothing.
    expect(order.lookupStarted(10_000)).toEqual([]);
  });

  it('when a run continues as new, then the next run keeps the attempts and the declines it recorded', () => {
    const order = awaiting('stripe');
    endOpenAttempt(order, 'declined', 'ch_1');
    const resume = order.resumeState('awaiting_payment', 5_000);
    const next = new OrderDecisions({ ...inputFor('stripe'), resume }, CHANGES, 5_000);
    expect(next.attempts?.count()).toBe(2);
    const sameDecline = { state: 'failed' as const, gatewayStatus: 'open', failure: declined('ch_1') };
    expect(next.outcomeAction(outcomeOf(sameDecline, 'stripe_1')).kind).toBe('nothing');
  });

  it('when a run from before payment attempts continues as new, then the next run goes on without them', () => {
    const before = new OrderDecisions(inputFor('khalti'), { ...CHANGES, paymentAttempts: false }, 0);
    const resume = before.resumeState('awaiting_payment', 1_000);
    const next = new OrderDecisions({ ...inputFor('khalti'), resume }, CHANGES, 1_000);
    expect(next.attempts).toBeUndefined();
    expect(next.state.attempts).toBeUndefined();
  });
});
