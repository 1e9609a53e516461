// An in-memory PaymentGateway for unit and workflow tests. It behaves like a real gateway where our code relies on
// it (idempotency keys, one intent per key, refunds keyed by refund ID, cancel vs capture), lets a test script the
// payer and the faults per order, and records every call so tests can assert what was asked of the gateway.
//
//   const gateway = new FakeGateway();
//   gateway.payerPays(orderId);                       // captured as soon as the intent exists
//   gateway.payerDeclines(orderId, { afterPolls: 2 }); // the 2nd status lookup sees the decline
//   gateway.payerDeclines(orderId, { declineCode: 'insufficient_funds' }); // each declined try: failure with a new ref
//   gateway.payerCancels(orderId);                    // a wallet payer cancels: lookups say cancelled, 'User canceled'
//   gateway.cancelRacesWithCapture(orderId);          // the next cancel finds the payment captured
//   gateway.refundStaysPending(orderId, 2);           // each refund answers pending twice, then succeeded
//   gateway.forgetIdempotencyKeys();                  // like Stripe after 24 h: a create with an old key refunds again
//                                                     // (a request carrying gatewayRefundId retrieves, never creates)
//   gateway.failNextCalls('createIntent', 2, { retryAfterMs: 100 });
//   gateway.failNextCalls('createIntent', 1, { lostResponse: true }); // applied at the gateway, caller sees a failure
//   gateway.rejectNextCalls('refund', 1, { code: 'charge_disputed' });
//   gateway.callsTo('createIntent');                   // every request, in order, failed ones included
//   await client.signal(paymentEventSignal, gateway.eventFor(orderId)); // the webhook the gateway would send
//
// A gateway like Khalti: new FakeGateway({ name: 'khalti', idempotentIntents: false, intentLifetimeMs: 60 * 60_000 })
// makes a new intent on every createIntent (no idempotency key) and reports its own expiry in CreatedIntent;
// gateway.eventFor(orderId, { verified: false }) is its unsigned return-URL hint, and
// gateway.scriptStatuses(orderId, { state: 'pending', gatewayStatus: 'Pending', needsAttention: true }) its Pending.
//
// Payment attempts: createIntent makes one intent per idempotency key, so attempt n (paymentAttemptKey(orderId, n))
// gets an intent of its own, and "the order's intent" (payerPays, payerDeclines, payerCancels, expireIntent,
// lateCapture, eventFor, intentFor) is its newest one; gateway.intentsFor(orderId) lists them all, oldest first, and
// lateCapture(orderId, { intentId }) / eventFor(orderId, { intentId }) act on an older one (a superseded attempt).
// A decline is state 'failed' with failure { code, declineCode, ref }: every declined try has a ref of its own (like
// Stripe's failed charge), and the payer may still pay the same intent afterwards. payerCancels closes the intent
// as a wallet does (state 'cancelled', gatewayStatus and failure.code 'User canceled' unless told otherwise).
import type { GatewayName, PaymentEvent, PaymentEventKind, PaymentFailure } from '../../contracts/order.contract';
import type {
  CancelOutcome,
  CreatedIntent,
  CreateIntentRequest,
  PaymentGateway,
  PaymentLookupRequest,
  PaymentStatus,
  RefundRequest,
  RefundResult,
} from '../../gateways/gateway';
import { randomBytes } from 'node:crypto';
import { GatewayRejectedError, GatewayUnavailableError } from '../../gateways/gateway-errors';

interface Operations {
  createIntent: { request: CreateIntentRequest; result: CreatedIntent };
  fetchPaymentStatus: { request: PaymentLookupRequest; result: PaymentStatus };
  cancelIntent: { request: PaymentLookupRequest; result: CancelOutcome };
  refund: { request: RefundRequest; result: RefundResult };
}
export type GatewayOperation = keyof Operations;

/** One call as the gateway saw it: the request (copied at call time) and either its result or the error thrown. */
export type FakeGatewayCall = {
  [Op in GatewayOperation]: {
    operation: Op;
    request: Operations[Op]['request'];
    result?: Operations[Op]['result'];
    error?: Error;
  };
}[GatewayOperation];

export interface FakeIntent {
  intentId: string;
  paymentUrl: string;
  orderId: string;
  idempotencyKey: string;
  amountMinor: number;
  currency: string;
  expiresAt: Date;
  state: 'pending' | 'captured' | 'failed' | 'cancelled';
  /** Set once captured; may differ from amountMinor when a test makes the payer pay another amount. */
  capturedAmountMinor?: number;
  capturedCurrency?: string;
  paymentReference?: string;
  /** Sum of the refunds that succeeded. */
  refundedAmountMinor: number;
  /** The last declined try (state 'failed'), or the payer's cancel (state 'cancelled' by payerCancels). */
  failure?: PaymentFailure;
  /** The gateway's word for a payer's cancel (payerCancels); lookups report it as gatewayStatus. */
  cancelledStatus?: string;
}

export interface FakeRefund {
  refundId: string;
  gatewayRefundId: string;
  orderId: string;
  intentId: string;
  amountMinor: number;
  currency: string;
  state: 'pending' | 'succeeded' | 'failed';
}

export interface PayerOptions {
  /**
   * The payer acts just before the Nth status lookup for the order answers (1 = the first lookup sees it).
   * Omitted: now if the intent exists, else the moment it is created.
   */
  afterPolls?: number;
  /** What the gateway captures, when a test needs it to differ from the intent (amount mismatch). */
  amountMinor?: number;
  currency?: string;
}

export interface DeclineOptions extends Pick<PayerOptions, 'afterPolls'> {
  /** The gateway's error code; default card_declined. */
  code?: string;
  /** The issuer's reason; default generic_decline. Null: none (as Stripe's incorrect_cvc). */
  declineCode?: string | null;
}

export interface CancelOptions extends Pick<PayerOptions, 'afterPolls'> {
  /** The gateway's status word for it; default 'User canceled' (Khalti). eSewa says 'CANCELED'. */
  gatewayStatus?: string;
}

export interface FailureOptions {
  /** Only calls for this order fail; other orders are unaffected. */
  orderId?: string;
  /** The error to throw; default GatewayUnavailableError (503) with retryAfterMs. */
  error?: Error;
  retryAfterMs?: number;
  /** The gateway applies the call and then the response is lost (timeout after the fact): the retry case. */
  lostResponse?: boolean;
}

export interface RejectionOptions {
  orderId?: string;
  code?: string;
  message?: string;
  httpStatus?: number;
}

interface ScheduledPayerAction {
  outcome: 'pays' | 'declines' | 'cancels';
  pollsLeft: number;
  amountMinor?: number;
  currency?: string;
  code?: string;
  declineCode?: string | null;
  gatewayStatus?: string;
}

interface FailureRule {
  operation: GatewayOperation;
  orderId?: string;
  remaining: number;
  lostResponse: boolean;
  makeError: () => Error;
}

interface RefundPlan {
  pendingResponses: number;
  then: 'succeeded' | 'failed';
}

interface RefundEntry extends FakeRefund {
  pendingResponsesLeft: number;
  finalState: 'succeeded' | 'failed';
}

export class FakeGateway implements PaymentGateway {
  readonly name: GatewayName;
  private readonly clock: () => Date;
  private readonly recorded: FakeGatewayCall[] = [];
  private readonly intentsByKey = new Map<string, FakeIntent>();
  private readonly intentsById = new Map<string, FakeIntent>();
  private readonly refundsById = new Map<string, RefundEntry>();
  /** Refunds whose idempotency key the gateway forgot: still refunds, no longer found by refund ID. */
  private readonly forgottenRefunds: RefundEntry[] = [];
  private readonly payerActions = new Map<string, ScheduledPayerAction>();
  private readonly scriptedStatuses = new Map<string, PaymentStatus[]>();
  private readonly cancelRaces = new Map<string, { amountMinor?: number; currency?: string }>();
  private readonly refundPlans = new Map<string, RefundPlan>();
  private readonly manualRefundOrders = new Set<string>();
  private readonly closingForGood = new Set<string>();
  private failureRules: FailureRule[] = [];
  private sequence = 0;
  // Gateway IDs are unique across fakes: tests share one database, where (gateway, intent_id) is unique.
  private readonly instanceTag = randomBytes(4).toString('hex');

  private readonly idempotentIntents: boolean;
  private readonly intentLifetimeMs: number | undefined;
  /** Intents replaced by a later createIntent for the same key (only without idempotent intents). */
  private readonly orphans: FakeIntent[] = [];

  constructor(
    options: {
      name?: GatewayName;
      clock?: () => Date;
      /** False: like Khalti, every createIntent makes a new intent, and the order's newest one is the one used. */
      idempotentIntents?: boolean;
      /** Set: like Khalti, the gateway decides when its intents expire and says so in CreatedIntent.expiresAt. */
      intentLifetimeMs?: number;
    } = {},
  ) {
    this.name = options.name ?? 'stripe';
    this.clock = options.clock ?? (() => new Date());
    this.idempotentIntents = options.idempotentIntents ?? true;
    this.intentLifetimeMs = options.intentLifetimeMs;
  }

  // ---- scripting the payer -------------------------------------------------------------------------------------

  /** The payer pays (see PayerOptions for when). Throws if the intent is already closed or captured. */
  payerPays(orderId: string, options: PayerOptions = {}): void {
    this.schedulePayerAction(orderId, 'pays', options);
  }

  /**
   * The payer's try is declined (state 'failed', with a failure whose ref is new for every declined try); they may
   * still pay or be declined again on the same intent later, as on Stripe's hosted page.
   */
  payerDeclines(orderId: string, options: DeclineOptions = {}): void {
    this.schedulePayerAction(orderId, 'declines', options);
  }

  /** The payer cancels on the wallet's page: the intent is closed unpaid ('cancelled') and can never be paid. */
  payerCancels(orderId: string, options: CancelOptions = {}): void {
    this.schedulePayerAction(orderId, 'cancels', options);
  }

  /** The gateway closes the intent on its own (its expiry passed): lookups say 'cancelled'. */
  expireIntent(orderId: string): void {
    const intent = this.requireIntent(orderId);
    if (intent.state === 'captured') throw new Error(`intent of order ${orderId} is captured and cannot expire`);
    intent.state = 'cancelled';
  }

  /**
   * The gateway captures money although the intent was closed (an asynchronous payment method settling late,
   * or a cancel the gateway acknowledged but did not honour). Only the capture changes; the intent stays closed.
   */
  lateCapture(orderId: string, capture: { amountMinor?: number; currency?: string; intentId?: string } = {}): void {
    const intent = this.requireIntent(orderId, capture.intentId);
    if (intent.state === 'captured') throw new Error(`intent of order ${orderId} is already captured`);
    this.capture(intent, capture);
  }

  /** The next cancelIntent for the order loses the race: the payer's capture lands first. */
  cancelRacesWithCapture(orderId: string, capture: { amountMinor?: number; currency?: string } = {}): void {
    this.cancelRaces.set(orderId, capture);
  }

  /** Like Stripe's session expiry: the order's cancelled intents say they are closed for good at the gateway. */
  closesIntentsForGood(orderId: string): void {
    this.closingForGood.add(orderId);
  }

  /** The next status lookups for the order answer these, in order, whatever the intent's state; then it resumes. */
  scriptStatuses(orderId: string, ...statuses: PaymentStatus[]): void {
    this.scriptedStatuses.set(orderId, [...(this.scriptedStatuses.get(orderId) ?? []), ...statuses]);
  }

  /** Every refund of the order answers 'pending' `times` times (per refund ID), then settles as `then`. */
  refundStaysPending(orderId: string, times: number, then: 'succeeded' | 'failed' = 'succeeded'): void {
    this.refundPlans.set(orderId, { pendingResponses: times, then });
  }

  /** Every refund of the order is declined by the gateway (a final 'failed', not an error). */
  refundFails(orderId: string): void {
    this.refundStaysPending(orderId, 0, 'failed');
  }

  /** The gateway forgets every refund idempotency key so far (Stripe keeps them 24 hours). */
  forgetIdempotencyKeys(): void {
    this.forgottenRefunds.push(...this.refundsById.values());
    this.refundsById.clear();
  }

  /** The order's refunds are made by hand, as at eSewa (no refund API): each answers awaiting_manual. */
  refundsNeedAnOperator(orderId: string): void {
    this.manualRefundOrders.add(orderId);
  }

  // ---- scripting faults ----------------------------------------------------------------------------------------

  /** The next `times` calls of the operation throw a transient error (GatewayUnavailableError unless given one). */
  failNextCalls(operation: GatewayOperation, times: number, options: FailureOptions = {}): void {
    const { error, retryAfterMs } = options;
    this.failureRules.push({
      operation,
      orderId: options.orderId,
      remaining: times,
      lostResponse: options.lostResponse ?? false,
      makeError: () => error ?? new GatewayUnavailableError(`fake ${operation} unavailable`, retryAfterMs, 503),
    });
  }

  /** The next `times` calls of the operation are refused with GatewayRejectedError; nothing is applied. */
  rejectNextCalls(operation: GatewayOperation, times: number, options: RejectionOptions = {}): void {
    const code = options.code ?? 'invalid_request';
    this.failureRules.push({
      operation,
      orderId: options.orderId,
      remaining: times,
      lostResponse: false,
      makeError: () =>
        new GatewayRejectedError(
          options.message ?? `fake ${operation} rejected: ${code}`,
          code,
          options.httpStatus ?? 400,
        ),
    });
  }

  // ---- inspecting ----------------------------------------------------------------------------------------------

  /** Every call in order, including the ones that threw. */
  get calls(): readonly FakeGatewayCall[] {
    return this.recorded;
  }

  /** The requests of one operation, optionally for one order. */
  callsTo<Op extends GatewayOperation>(operation: Op, orderId?: string): Operations[Op]['request'][] {
    return this.recorded
      .filter((call) => call.operation === operation && (orderId === undefined || call.request.orderId === orderId))
      .map((call) => call.request as Operations[Op]['request']);
  }

  /** Intents created at the gateway (one per idempotency key). */
  get intents(): readonly FakeIntent[] {
    return [...this.intentsByKey.values()].map((intent) => ({ ...intent }));
  }

  /** Intents a later createIntent replaced (non-idempotent gateways only); nobody was given their payment URL. */
  get orphanedIntents(): readonly FakeIntent[] {
    return this.orphans.map((intent) => ({ ...intent }));
  }

  /** The order's newest intent (its current attempt). */
  intentFor(orderId: string): FakeIntent | undefined {
    const intent = this.findIntentByOrder(orderId);
    return intent && { ...intent };
  }

  /** Every intent of the order, oldest first: one per attempt. */
  intentsFor(orderId: string): FakeIntent[] {
    return [...this.intentsByKey.values()]
      .filter((intent) => intent.orderId === orderId)
      .map((intent) => ({ ...intent }));
  }

  refundsFor(orderId: string): FakeRefund[] {
    return [...this.forgottenRefunds, ...this.refundsById.values()]
      .filter((refund) => refund.orderId === orderId)
      .map(publicRefund);
  }

  /** The webhook event the gateway would send now about the order's intent, for signalling workflows. */
  eventFor(orderId: string, overrides: Partial<PaymentEvent> = {}): PaymentEvent {
    // An intentId the fake made for this order picks that attempt; any other is only an override (a forged event).
    const named = overrides.intentId === undefined ? undefined : this.intentsById.get(overrides.intentId);
    const intent = named?.orderId === orderId ? named : this.requireIntent(orderId);
    const kind: PaymentEventKind =
      intent.refundedAmountMinor > 0
        ? 'refunded'
        : intent.state === 'captured'
          ? 'captured'
          : intent.state === 'failed'
            ? 'failed'
            : intent.state === 'cancelled'
              ? 'cancelled'
              : 'pending';
    return {
      eventId: `evt_fake_${this.instanceTag}_${this.next()}`,
      kind,
      verified: true,
      intentId: intent.intentId,
      paymentReference: intent.paymentReference,
      amountMinor: intent.capturedAmountMinor ?? intent.amountMinor,
      currency: intent.capturedCurrency ?? intent.currency,
      ...(kind === 'failed' && intent.failure ? { failure: { ...intent.failure } } : {}),
      occurredAt: this.clock().toISOString(),
      ...overrides,
    };
  }

  // ---- PaymentGateway ------------------------------------------------------------------------------------------

  createIntent(request: CreateIntentRequest): Promise<CreatedIntent> {
    return this.handle('createIntent', request, () => {
      const existing = this.intentsByKey.get(request.idempotencyKey);
      if (existing && !this.idempotentIntents) {
        this.intentsByKey.delete(request.idempotencyKey);
        this.orphans.push(existing);
      } else if (existing) {
        // Real gateways refuse a reused key with different parameters instead of replaying the first response.
        if (
          existing.orderId !== request.orderId ||
          existing.amountMinor !== request.amountMinor ||
          existing.currency !== request.currency
        ) {
          throw new GatewayRejectedError(
            'idempotency key reused with different parameters',
            'idempotency_key_in_use',
            400,
          );
        }
        return { intentId: existing.intentId, paymentUrl: existing.paymentUrl, ...this.gatewayExpiryOf(existing) };
      }
      const intentId = `pi_fake_${this.instanceTag}_${this.next()}`;
      const intent: FakeIntent = {
        intentId,
        paymentUrl: `https://pay.fake.test/${intentId}`,
        orderId: request.orderId,
        idempotencyKey: request.idempotencyKey,
        amountMinor: request.amountMinor,
        currency: request.currency,
        expiresAt:
          this.intentLifetimeMs === undefined
            ? new Date(request.expiresAt)
            : new Date(this.clock().getTime() + this.intentLifetimeMs),
        state: 'pending',
        refundedAmountMinor: 0,
      };
      this.intentsByKey.set(request.idempotencyKey, intent);
      this.intentsById.set(intentId, intent);
      const action = this.payerActions.get(request.orderId);
      if (action && action.pollsLeft === 0) this.applyPayerAction(intent, action);
      return { intentId, paymentUrl: intent.paymentUrl, ...this.gatewayExpiryOf(intent) };
    });
  }

  private gatewayExpiryOf(intent: FakeIntent): Pick<CreatedIntent, 'expiresAt'> {
    return this.intentLifetimeMs === undefined ? {} : { expiresAt: new Date(intent.expiresAt) };
  }

  fetchPaymentStatus(request: PaymentLookupRequest): Promise<PaymentStatus> {
    return this.handle('fetchPaymentStatus', request, () => {
      const intent = this.intentsById.get(request.intentId);
      const action = this.payerActions.get(request.orderId);
      if (intent && action && action.pollsLeft > 0) {
        action.pollsLeft -= 1;
        if (action.pollsLeft === 0) this.applyPayerAction(intent, action);
      }
      const scripted = this.scriptedStatuses.get(request.orderId)?.shift();
      if (scripted) return { ...scripted };
      return intent ? statusOf(intent) : { state: 'not_found', gatewayStatus: 'not_found' };
    });
  }

  cancelIntent(request: PaymentLookupRequest): Promise<CancelOutcome> {
    return this.handle('cancelIntent', request, () => {
      const intent = this.intentsById.get(request.intentId);
      if (!intent) throw new GatewayRejectedError(`no such intent: ${request.intentId}`, 'resource_missing', 404);
      const race = this.cancelRaces.get(request.orderId);
      if (race) {
        this.cancelRaces.delete(request.orderId);
        if (intent.state !== 'captured' && intent.state !== 'cancelled') this.capture(intent, race);
      }
      if (intent.state === 'captured') {
        return {
          outcome: 'already_captured',
          amountMinor: intent.capturedAmountMinor ?? intent.amountMinor,
          currency: intent.capturedCurrency ?? intent.currency,
          paymentReference: intent.paymentReference,
        };
      }
      intent.state = 'cancelled';
      this.payerActions.delete(request.orderId);
      return this.closingForGood.has(request.orderId)
        ? { outcome: 'cancelled', closedAtGateway: true }
        : { outcome: 'cancelled' };
    });
  }

  refund(request: RefundRequest): Promise<RefundResult> {
    return this.handle('refund', request, () => {
      if (this.manualRefundOrders.has(request.orderId)) {
        return { gatewayRefundId: `manual-${request.refundId}`, state: 'awaiting_manual' as const };
      }
      let entry: RefundEntry | undefined;
      if (request.gatewayRefundId !== undefined) {
        // A retrieve by the gateway's refund ID: never creates anything.
        entry = [...this.forgottenRefunds, ...this.refundsById.values()].find(
          (candidate) => candidate.gatewayRefundId === request.gatewayRefundId,
        );
        if (!entry)
          throw new GatewayRejectedError(`no such refund: ${request.gatewayRefundId}`, 'resource_missing', 404);
      } else {
        entry = this.refundsById.get(request.refundId);
      }
      if (entry) {
        if (
          entry.intentId !== request.intentId ||
          entry.amountMinor !== request.amountMinor ||
          entry.currency !== request.currency
        ) {
          throw new GatewayRejectedError(
            'idempotency key reused with different parameters',
            'idempotency_key_in_use',
            400,
          );
        }
      } else {
        entry = this.openRefund(request);
      }
      if (entry.state === 'pending') {
        if (entry.pendingResponsesLeft > 0) {
          entry.pendingResponsesLeft -= 1;
        } else {
          entry.state = entry.finalState;
          const intent = this.intentsById.get(entry.intentId);
          if (intent && entry.state === 'succeeded') intent.refundedAmountMinor += entry.amountMinor;
        }
      }
      return { gatewayRefundId: entry.gatewayRefundId, state: entry.state };
    });
  }

  // ---- internals -----------------------------------------------------------------------------------------------

  private async handle<Op extends GatewayOperation>(
    operation: Op,
    request: Operations[Op]['request'],
    apply: () => Operations[Op]['result'],
  ): Promise<Operations[Op]['result']> {
    // Copied so a caller mutating its request afterwards cannot rewrite the record.
    const call = { operation, request: structuredClone(request) } as FakeGatewayCall & { operation: Op };
    this.recorded.push(call);
    const rule = this.failureRules.find(
      (candidate) =>
        candidate.operation === operation &&
        candidate.remaining > 0 &&
        (candidate.orderId === undefined || candidate.orderId === request.orderId),
    );
    try {
      if (rule) {
        rule.remaining -= 1;
        if (rule.lostResponse) apply();
        throw rule.makeError();
      }
      const result = apply();
      call.result = structuredClone(result);
      return result;
    } catch (error) {
      call.error = error as Error;
      throw error;
    } finally {
      this.failureRules = this.failureRules.filter((candidate) => candidate.remaining > 0);
    }
  }

  private openRefund(request: RefundRequest): RefundEntry {
    const intent = this.intentsById.get(request.intentId);
    if (!intent) throw new GatewayRejectedError(`no such intent: ${request.intentId}`, 'resource_missing', 404);
    if (intent.state !== 'captured') {
      throw new GatewayRejectedError(`intent ${intent.intentId} has no captured payment`, 'charge_not_captured', 400);
    }
    const captured = intent.capturedAmountMinor ?? intent.amountMinor;
    const alreadyRefunding = [...this.forgottenRefunds, ...this.refundsById.values()]
      .filter((refund) => refund.intentId === intent.intentId && refund.state !== 'failed')
      .reduce((sum, refund) => sum + refund.amountMinor, 0);
    if (request.amountMinor > captured - alreadyRefunding) {
      throw new GatewayRejectedError('refund exceeds the unrefunded captured amount', 'amount_too_large', 400);
    }
    const plan = this.refundPlans.get(request.orderId) ?? { pendingResponses: 0, then: 'succeeded' };
    const entry: RefundEntry = {
      refundId: request.refundId,
      gatewayRefundId: `re_fake_${this.instanceTag}_${this.next()}`,
      orderId: request.orderId,
      intentId: request.intentId,
      amountMinor: request.amountMinor,
      currency: request.currency,
      state: 'pending',
      pendingResponsesLeft: plan.pendingResponses,
      finalState: plan.then,
    };
    this.refundsById.set(request.refundId, entry);
    return entry;
  }

  private schedulePayerAction(
    orderId: string,
    outcome: ScheduledPayerAction['outcome'],
    options: PayerOptions & DeclineOptions & CancelOptions,
  ): void {
    const action: ScheduledPayerAction = {
      outcome,
      pollsLeft: options.afterPolls ?? 0,
      amountMinor: options.amountMinor,
      currency: options.currency,
      code: options.code,
      declineCode: options.declineCode,
      gatewayStatus: options.gatewayStatus,
    };
    const intent = this.findIntentByOrder(orderId);
    if (intent && action.pollsLeft === 0) {
      this.applyPayerAction(intent, action, { strict: true });
      return;
    }
    this.payerActions.set(orderId, action);
  }

  private applyPayerAction(intent: FakeIntent, action: ScheduledPayerAction, options = { strict: false }): void {
    this.payerActions.delete(intent.orderId);
    if (intent.state === 'captured' || intent.state === 'cancelled') {
      // A scheduled action that comes too late is dropped, like a payer on a closed page; a direct one is a test bug.
      if (options.strict) throw new Error(`intent of order ${intent.orderId} is ${intent.state}; the payer cannot act`);
      return;
    }
    if (action.outcome === 'pays') {
      this.capture(intent, action);
    } else if (action.outcome === 'declines') {
      intent.state = 'failed';
      const declineCode = action.declineCode === undefined ? 'generic_decline' : action.declineCode;
      intent.failure = {
        code: action.code ?? 'card_declined',
        ...(declineCode === null ? {} : { declineCode }),
        // A new ID per declined try, like Stripe's failed charge: the workflow tells tries apart by it.
        ref: `ch_fake_declined_${this.instanceTag}_${this.next()}`,
      };
    } else {
      intent.state = 'cancelled';
      intent.cancelledStatus = action.gatewayStatus ?? 'User canceled';
      intent.failure = { code: intent.cancelledStatus };
    }
  }

  private capture(intent: FakeIntent, capture: { amountMinor?: number; currency?: string }): void {
    intent.state = 'captured';
    delete intent.failure;
    intent.capturedAmountMinor = capture.amountMinor ?? intent.amountMinor;
    intent.capturedCurrency = capture.currency ?? intent.currency;
    intent.paymentReference = `ch_fake_${this.instanceTag}_${this.next()}`;
  }

  /** The newest: a later attempt's intent replaces the earlier one as the one the payer is on. */
  private findIntentByOrder(orderId: string): FakeIntent | undefined {
    return [...this.intentsByKey.values()].filter((intent) => intent.orderId === orderId).at(-1);
  }

  private requireIntent(orderId: string, intentId?: string): FakeIntent {
    const intent = intentId === undefined ? this.findIntentByOrder(orderId) : this.intentsById.get(intentId);
    if (!intent || intent.orderId !== orderId) {
      throw new Error(`the fake gateway has no intent ${intentId ?? ''} for order ${orderId}`);
    }
    return intent;
  }

  private next(): number {
    this.sequence += 1;
    return this.sequence;
  }
}

function statusOf(intent: FakeIntent): PaymentStatus {
  switch (intent.state) {
    case 'pending':
      return { state: 'pending', gatewayStatus: 'requires_payment_method' };
    case 'failed':
      return {
        state: 'failed',
        gatewayStatus: 'payment_failed',
        ...(intent.failure ? { failure: { ...intent.failure } } : {}),
      };
    case 'cancelled':
      return intent.cancelledStatus === undefined
        ? { state: 'cancelled', gatewayStatus: 'canceled' }
        : { state: 'cancelled', gatewayStatus: intent.cancelledStatus, failure: { code: intent.cancelledStatus } };
    case 'captured':
      return {
        state: 'captured',
        gatewayStatus: 'succeeded',
        amountMinor: intent.capturedAmountMinor,
        currency: intent.capturedCurrency,
        paymentReference: intent.paymentReference,
        refundedAmountMinor: intent.refundedAmountMinor,
      };
  }
}

function publicRefund(entry: RefundEntry): FakeRefund {
  const { pendingResponsesLeft: _left, finalState: _final, ...refund } = entry;
  return refund;
}
