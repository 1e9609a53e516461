// The order's state and the rules that move it: what each gateway event and each request does in each phase, when
// the next lookup is due, when the TTL and the grace window end, and what is left to refund. No Temporal imports:
// the workflow (workflows/order.workflow.ts) wires these rules to handlers and activities, and unit tests drive
// them directly with a fake clock (test/orders/order-decisions.unit.test.ts). Times are workflow milliseconds.
import type {
  ORDER_ERROR_TYPES,
  ConfirmManualRefundRequest,
  FulfilmentAnswer,
  FulfilmentResult,
  FulfilmentState,
  GatewayName,
  OrderResumeState,
  OrderState,
  OrderStatus,
  OrderWorkflowInput,
  PaymentAttemptState,
  PaymentEvent,
  PaymentFailure,
  RefundOrderRequest,
  StartPaymentAttemptResult,
  RefundRecord,
} from '../../contracts/order.contract';
import type { PaymentStatus } from '../../gateways/gateway';
import { CLOSED_UNPAID_STATUSES, REFUNDABLE_STATUSES } from '../../domain/order-status';
import { DEFAULT_GRACE_POLL_INTERVAL_MS, HINT_LOOKUP_MIN_INTERVAL_MS, pollDelayMs } from '../../domain/poll-schedule';
import { isOwnCapture, unrefundedMinor } from '../../domain/refund-ledger';
import { DEFAULT_MAX_PAYMENT_ATTEMPTS, intentExpiryBefore } from '../../domain/payment-attempts';
import { PaymentAttempts, intentOf, type AttemptEnd, type IntentAtGateway } from './payment-attempts';

/** Changes to the process, each decided once per run by its patch marker, so a run takes one path throughout. */
export interface ProcessChanges {
  /** grace-poll-closed-unpaid: a closed unpaid order keeps asking the gateway during its grace window. */
  gracePolling: boolean;
  /** refund-ledger-in-flight: refunds are checked against captured minus refunded minus in flight. */
  ledgerChecked: boolean;
  /** duplicate-capture-refund: a capture under another payment reference is refunded in full, once. */
  duplicateCaptures: boolean;
  /** bounded-history: hints are coalesced, and a long history continues as new. */
  historyBounded: boolean;
  /**
   * fulfilment-confirmation: a paid order that asked for it waits for the merchant's fulfilment answer, and a
   * failure or the timeout refunds it. Asked only for inputs with `fulfilment`, which older runs never had.
   */
  fulfilmentConfirmation: boolean;
  /**
   * payment-attempts: a declined or cancelled try leaves the order payable (a new attempt, from the pay link or on
   * Stripe's open page) until it is paid, closed, or has used its attempts. Off for runs resumed from a run without.
   */
  paymentAttempts: boolean;
  /**
   * order-process-2026-12: every change above, and ttl-capped-by-gateway-expiry, under this one marker (runs started
   * since then record one marker instead of one per change), with the order's database writes as local activities.
   */
  currentProcess: boolean;
  /**
   * order-process-2027-01: everything of order-process-2026-12 and grace-skips-closed-intent, and the gateway calls
   * that open and close a payment as local activities: the intent, and the expiry's final check and cancel in one
   * call; the order's announcement rides with the checkout's first attribute change.
   */
  localGatewayCalls: boolean;
  /**
   * order-process-2027-02: everything of order-process-2027-01, and the checkout's intent and its move to
   * AWAITING_PAYMENT in one local activity (startPayment).
   */
  paymentStartedInOneCall: boolean;
}

/** The process of runs started since order-process-2027-02: every change on. */
export function currentProcessChanges(input: Pick<OrderWorkflowInput, 'fulfilment'>): ProcessChanges {
  return {
    gracePolling: true,
    ledgerChecked: true,
    duplicateCaptures: true,
    historyBounded: true,
    fulfilmentConfirmation: input.fulfilment !== undefined,
    paymentAttempts: true,
    currentProcess: true,
    localGatewayCalls: true,
    paymentStartedInOneCall: true,
  };
}

/** What settles a fulfilment: the merchant's answer, or the timeout passing without one. */
export type FulfilmentDecision = FulfilmentAnswer | { status: 'timed_out' };

/** The timeline reason of each fulfilment outcome; a failure's reason also names its compensating refund. */
export const FULFILMENT_REASONS = {
  fulfilled: 'fulfilment_confirmed',
  failed: 'fulfilment_failed',
  timed_out: 'fulfilment_timeout',
} as const;

/** awaiting_payment: until the order is paid, declined, cancelled or expired; grace: open for late events. */
export type OrderPhase = OrderResumeState['phase'];

export interface Capture {
  amountMinor: number;
  currency: string;
  paymentReference?: string;
  /** The intent the money was taken on, when the report names it: which attempt paid. */
  intentId?: string;
}

/** What the gateway says, whether it came in a signed event or a status lookup. */
export type GatewayOutcome = (
  | ({ kind: 'captured' } & Capture)
  | { kind: 'failed'; failure?: PaymentFailure }
  | { kind: 'cancelled' }
  | { kind: 'refunded'; amountMinor?: number }
  | { kind: 'pending' }
  | { kind: 'not_found' }
) & {
  /** The intent the report is about (absent when an event does not say). */
  intentId?: string;
  /** From a signed event rather than a status lookup. */
  fromEvent?: boolean;
};

/** What a gateway outcome does to the order as it is now. */
export type OutcomeAction =
  | { kind: 'pay'; capture: Capture }
  | { kind: 'fail_wrong_amount'; capture: Capture }
  | { kind: 'refund_late_capture'; capture: Capture }
  | { kind: 'refund_second_capture'; capture: Capture }
  | { kind: 'decline' }
  | { kind: 'end_attempt'; attempt: PaymentAttemptState; end: AttemptEnd; failure?: PaymentFailure }
  | { kind: 'close_expired_at_gateway' }
  | { kind: 'flag'; reason: string }
  | { kind: 'nothing' };

export interface PendingRefund {
  request: RefundOrderRequest;
  amountMinor: number;
}

export type LookupTrigger = 'poll' | 'hint' | 'grace_poll' | 'grace_final_check';

/** The next piece of work of the phase loop; `close` ends the phase. */
export type Step =
  | { kind: 'apply_event'; event: PaymentEvent }
  | { kind: 'refund_request'; refund: PendingRefund }
  | { kind: 'cancel_before_payment'; reason: string }
  | { kind: 'cancel_after_close'; reason: string }
  | { kind: 'lookup'; trigger: LookupTrigger }
  | { kind: 'expire' }
  | { kind: 'fulfilment'; decision: FulfilmentDecision }
  | { kind: 'start_attempt'; request: AttemptRequest }
  | { kind: 'close' }
  | { kind: 'nothing' };

/** Why a request is refused; the workflow turns it into an ApplicationFailure of that type. */
export interface Refusal {
  type: (typeof ORDER_ERROR_TYPES)[
    'invalidTransition' | 'redundantRequest' | 'refundExceedsCaptured' | 'fulfilmentConflict' | 'gatewayNotAllowed'];
  message: string;
}

/** A payer's request for an attempt at a gateway, answered in the order it came. */
export interface AttemptRequest {
  id: number;
  gateway: GatewayName;
}

/** Event IDs remembered for de-duplication; replays beyond this are still harmless, just not short-circuited. */
export const SEEN_EVENT_LIMIT = 256;

export class OrderDecisions {
  readonly state: OrderState;
  /** Shortened once if the gateway's intent expires before orderpay's TTL (Khalti's expires_at). */
  expiresAtMs: number;
  readonly inbox: PaymentEvent[] = [];
  readonly seenEventIds: string[];
  statusCheckRequested: boolean;
  /** When the last status lookup started; hints wait HINT_LOOKUP_MIN_INTERVAL_MS after it. */
  lastLookupAtMs: number;
  /** Set by a handler that saw the history pass its bound: the loop wakes to continue as new. */
  historyWake = false;
  checkoutSettled: boolean;
  cancelRequested: { reason: string } | undefined;
  cancelHandled: boolean;
  /** False once the grace window has closed: later requests are refused instead of waiting forever. */
  acceptingRequests = true;
  readonly refundQueue: PendingRefund[] = [];
  readonly settledRefundRequests: Set<string>;
  /** Refund requests refused right before the gateway call: the ledger no longer had room for them. */
  readonly refusedRefundRequests: Set<string>;
  /** Operators' confirmations of manual refunds, by refund ID; a refund awaiting_manual waits for its entry. */
  readonly manualConfirmations = new Map<string, ConfirmManualRefundRequest>();
  /** Manual refunds whose confirmation has been recorded and counted. */
  readonly settledManualRefunds: Set<string>;
  /** The fulfilment answer (or timeout) queued or being recorded; later answers are checked against it. */
  pendingFulfilment: FulfilmentDecision | undefined;
  /** Present when payment attempts apply to this run (ProcessChanges.paymentAttempts). */
  readonly attempts: PaymentAttempts | undefined;
  readonly attemptRequests: AttemptRequest[] = [];
  /** Requests with a lower ID than this have been answered. */
  attemptRequestsAnswered = 0;
  private nextAttemptRequestId = 0;
  /** A status lookup is under way: its answer may end the open attempt. */
  lookupInFlight = false;
  /** Earlier attempts' intents a payer's return named: the next hint lookup asks about them too. */
  readonly hintedEarlierIntents: string[];
  nextPollAtMs: number | undefined;
  graceEndsAtMs: number | undefined;
  nextGracePollAtMs: number | undefined;
  private finalLookupDone = false;
  /** The latest intent, closed for good by the gateway when the order closed: no late payment can come on it. */
  private intentClosedAtGateway: string | undefined;

  constructor(
    private readonly input: OrderWorkflowInput,
    readonly changes: ProcessChanges,
    nowMs: number,
  ) {
    const resume = input.resume;
    this.expiresAtMs = resume?.expiresAtMs ?? nowMs + input.policy.ttlMs;
    this.state = resume?.state ?? {
      orderId: input.orderId,
      gateway: input.gateway,
      status: 'PENDING',
      amountMinor: input.amountMinor,
      currency: input.currency,
      intentId: null,
      paymentUrl: null,
      paymentReference: null,
      expiresAt: new Date(this.expiresAtMs).toISOString(),
      capturedAmountMinor: 0,
      refundedAmountMinor: 0,
      refunds: [],
      failureReason: null,
      needsAttention: false,
      pollCount: 0,
      timeline: [{ at: new Date(nowMs).toISOString(), status: 'PENDING', reason: 'order_created' }],
      ...(changes.fulfilmentConfirmation && input.fulfilment
        ? {
            fulfilment: {
              mode: input.fulfilment.mode,
              status: 'awaiting_payment',
              dueAt: null,
              reason: null,
              answeredAt: null,
            },
          }
        : {}),
    };
    this.seenEventIds = resume?.seenEventIds ?? [];
    this.statusCheckRequested = resume?.statusCheckRequested ?? false;
    this.lastLookupAtMs = resume?.lastLookupAtMs ?? 0;
    this.checkoutSettled = resume !== undefined;
    this.cancelRequested = resume?.cancelHandled ? { reason: 'handled' } : undefined;
    this.cancelHandled = resume?.cancelHandled ?? false;
    this.settledRefundRequests = new Set(resume?.settledRefundRequests);
    this.refusedRefundRequests = new Set(resume?.refusedRefundRequests);
    this.settledManualRefunds = new Set(resume?.settledManualRefunds);
    this.nextPollAtMs = resume?.nextPollAtMs;
    this.graceEndsAtMs = resume?.graceEndsAtMs;
    this.nextGracePollAtMs = resume?.nextGracePollAtMs;
    this.hintedEarlierIntents = resume?.hintedEarlierIntents ?? [];
    this.intentClosedAtGateway = resume?.intentClosedAtGateway;
    if (changes.paymentAttempts && !resume) this.state.attempts = [];
    const attempts = this.state.attempts;
    this.attempts =
      changes.paymentAttempts && attempts
        ? new PaymentAttempts(
            attempts,
            input.policy.maxAttempts ?? DEFAULT_MAX_PAYMENT_ATTEMPTS,
            input.gateways ?? [input.gateway],
            resume?.declinedFailureRefs ?? [],
          )
        : undefined;
  }

  // ---- Messages from outside: events, hints and requests. ----

  /** Remembers an event ID; false when it was seen already (a duplicate delivery). */
  rememberEvent(eventId: string): boolean {
    if (this.seenEventIds.includes(eventId)) return false;
    this.seenEventIds.push(eventId);
    if (this.seenEventIds.length > SEEN_EVENT_LIMIT) this.seenEventIds.shift();
    return true;
  }

  /** A payment event signal: a signed event is applied in turn; an unsigned one only asks for a status lookup. */
  receiveEvent(event: PaymentEvent): void {
    if (!this.rememberEvent(event.eventId)) return;
    if (event.verified) this.inbox.push(event);
    else this.requestStatusCheck(event);
  }

  receiveHint(event: PaymentEvent): void {
    this.rememberEvent(event.eventId);
    this.requestStatusCheck(event);
  }

  /**
   * The order row holds a status this run never reached: a try of one of its workflow tasks acted on what it saw
   * (a payment, say) and was then discarded. Looking the payment up brings the run to the same place.
   */
  lookUpBecauseRowMovedOn(): void {
    this.statusCheckRequested = true;
  }

  private requestStatusCheck(event: PaymentEvent): void {
    this.statusCheckRequested = true;
    if (this.newEarlierIntent(event.intentId)) this.hintedEarlierIntents.push(event.intentId);
  }

  /** An earlier attempt's intent that no pending lookup asks about yet. */
  private newEarlierIntent(intentId: string | undefined): intentId is string {
    return !!this.attempts?.isEarlierIntent(intentId) && !this.hintedEarlierIntents.includes(intentId);
  }

  /** Why a hint cannot change anything, or undefined when it may. */
  hintRedundancy(event: PaymentEvent): string | undefined {
    if (this.seenEventIds.includes(event.eventId)) return 'event already seen';
    if (!this.acceptingRequests) return 'order closed';
    // A payer back from an earlier attempt's page may have paid it: a capture there is refunded, even once paid.
    if (this.newEarlierIntent(event.intentId)) return undefined;
    if (this.statusCheckRequested) return 'a status lookup is already due';
    const { status } = this.state;
    const lookupMayMatter =
      status === 'PENDING' || status === 'AWAITING_PAYMENT' || (this.changes.gracePolling && this.awaitsLatePayment());
    return lookupMayMatter ? undefined : `no lookup changes an order that is ${status}`;
  }

  cancelRefusal(): Refusal | undefined {
    const { status, orderId } = this.state;
    const settled = status === 'CANCELLED' || status === 'REFUNDED';
    if (!this.acceptingRequests && !settled) return invalid(`order ${orderId} is closed`);
    if (status === 'FAILED' || status === 'EXPIRED') return invalid(`cannot cancel an order that is ${status}`);
    if (this.changes.historyBounded && (settled || this.cancelHandled)) {
      // Cancelling again changes nothing; the caller reads the order as it is.
      return { type: 'RedundantRequest', message: `order ${orderId} is ${status}; a cancel was already handled` };
    }
    return undefined;
  }

  /** True when the order is cancelled or refunded already: a cancel answers with the order at once. */
  cancelAlreadySettled(): boolean {
    return this.state.status === 'CANCELLED' || this.state.status === 'REFUNDED';
  }

  requestCancel(reason: string): void {
    this.cancelRequested ??= { reason };
  }

  private refundRequestKnown(requestId: string): boolean {
    return (
      this.settledRefundRequests.has(requestId) ||
      this.refusedRefundRequests.has(requestId) ||
      this.refundQueue.some((queued) => queued.request.requestId === requestId)
    );
  }

  refundRefusal(request: RefundOrderRequest): Refusal | undefined {
    // A repeated request answers as the first one did.
    if (this.refundRequestKnown(request.requestId)) return undefined;
    const { status } = this.state;
    if (!this.acceptingRequests || !REFUNDABLE_STATUSES.includes(status)) {
      return invalid(`cannot refund an order that is ${status}${this.acceptingRequests ? '' : ' and closed'}`);
    }
    const amount = request.amountMinor ?? this.refundableRemainder();
    if (!Number.isSafeInteger(amount) || amount <= 0 || amount > this.refundableRemainder()) {
      return refundExceeds(`refund of ${amount} exceeds the refundable ${this.refundableRemainder()}`);
    }
    return undefined;
  }

  /** Queues an accepted refund request once; false when it was decided already (nothing to wait for). */
  queueRefund(request: RefundOrderRequest): boolean {
    if (this.refundRequestDecided(request.requestId)) return false;
    if (!this.refundRequestKnown(request.requestId)) {
      this.refundQueue.push({ request, amountMinor: request.amountMinor ?? this.refundableRemainder() });
    }
    return true;
  }

  refundRequestDecided(requestId: string): boolean {
    return this.settledRefundRequests.has(requestId) || this.refusedRefundRequests.has(requestId);
  }

  refundRequestRefusal(requestId: string): Refusal | undefined {
    if (!this.refusedRefundRequests.has(requestId)) return undefined;
    return refundExceeds(`refund ${requestId} no longer fits what is left to refund`);
  }

  confirmRefusal(refundId: string): Refusal | undefined {
    const refund = this.state.refunds.find((r) => r.refundId === refundId);
    // Confirming a refund that is already confirmed answers with the order, so the admin call is idempotent.
    if (refund?.state === 'awaiting_manual' || this.settledManualRefunds.has(refundId)) return undefined;
    return invalid(
      refund ? `refund ${refundId} is ${refund.state}, not awaiting_manual` : `no refund ${refundId} on this order`,
    );
  }

  receiveManualConfirmation(request: ConfirmManualRefundRequest): void {
    if (!this.manualConfirmations.has(request.refundId)) this.manualConfirmations.set(request.refundId, request);
  }

  // ---- Fulfilment confirmation. ----

  /** Paid, asked for confirmation, and neither answered nor timed out nor refunded otherwise. */
  fulfilmentAwaited(): boolean {
    return this.changes.fulfilmentConfirmation && this.state.fulfilment?.status === 'awaiting_confirmation';
  }

  fulfilmentDueAtMs(): number {
    const dueAt = this.state.fulfilment?.dueAt;
    return this.fulfilmentAwaited() && dueAt ? Date.parse(dueAt) : Infinity;
  }

  /**
   * Why an answer is refused, or undefined when it is accepted. The same answer again is accepted (and answered as
   * the first was, keeping the first reason); another answer after one was given, or after the timeout, conflicts.
   */
  fulfilmentRefusal(answer: FulfilmentAnswer): Refusal | undefined {
    const { orderId, status } = this.state;
    const fulfilment = this.changes.fulfilmentConfirmation ? this.state.fulfilment : undefined;
    if (!fulfilment) return invalid(`order ${orderId} did not ask for fulfilment confirmation`);
    if (!this.acceptingRequests) return invalid(`order ${orderId} is closed`);
    const decided = this.pendingFulfilment?.status ?? fulfilment.status;
    if (decided === answer.status) return undefined;
    if (decided === 'fulfilled' || decided === 'failed' || decided === 'timed_out') {
      return {
        type: 'FulfilmentConflict',
        message: `the fulfilment of order ${orderId} is already ${decided}; it cannot become ${answer.status}`,
      };
    }
    if (decided === 'awaiting_payment') return invalid(`order ${orderId} is ${status}; fulfilment follows payment`);
    if (decided === 'not_needed') return invalid(`order ${orderId} is ${status}; nothing is left to fulfil`);
    return undefined;
  }

  /** An accepted answer: the first one is queued for the loop; a repeat waits for it. */
  receiveFulfilment(answer: FulfilmentAnswer): void {
    if (this.fulfilmentAwaited()) this.pendingFulfilment ??= answer;
  }

  /** True once an answer can be given: the fulfilment is recorded, or no longer awaited at all. */
  fulfilmentSettled(): boolean {
    return this.pendingFulfilment === undefined && !this.fulfilmentAwaited();
  }

  /** After the wait: what an accepted answer is told, a refusal when the order settled otherwise meanwhile. */
  fulfilmentOutcome(answer: FulfilmentAnswer): FulfilmentResult | Refusal {
    const fulfilment = this.state.fulfilment;
    if (fulfilment?.status !== answer.status) {
      return this.fulfilmentRefusal(answer) ?? invalid(`order ${this.state.orderId} no longer awaits fulfilment`);
    }
    return { orderId: this.state.orderId, fulfilment };
  }

  /** The order is paid: the merchant's answer is due within the configured timeout. */
  awaitFulfilment(nowMs: number): FulfilmentState | undefined {
    const { fulfilment } = this.state;
    const timeoutMs = this.input.fulfilment?.timeoutMs;
    if (!this.changes.fulfilmentConfirmation || fulfilment?.status !== 'awaiting_payment' || !timeoutMs) return;
    fulfilment.status = 'awaiting_confirmation';
    fulfilment.dueAt = new Date(nowMs + timeoutMs).toISOString();
    return fulfilment;
  }

  /** The fulfilment as settled by a decision, at `at`; the state changes once it is recorded (recordFulfilment). */
  settledFulfilment(decision: FulfilmentDecision, at: string): FulfilmentState | undefined {
    const { fulfilment } = this.state;
    if (!fulfilment || !this.fulfilmentAwaited()) return undefined;
    return {
      ...fulfilment,
      status: decision.status,
      reason: 'reason' in decision ? decision.reason : null,
      answeredAt: at,
    };
  }

  recordFulfilment(fulfilment: FulfilmentState | undefined): void {
    if (fulfilment) this.state.fulfilment = fulfilment;
    this.pendingFulfilment = undefined;
  }

  /** A refund that leaves nothing paid ends the wait: no answer could change anything any more. */
  fulfilmentEndedByRefund(status: OrderStatus): FulfilmentState | undefined {
    const { fulfilment } = this.state;
    if (!fulfilment || !this.fulfilmentAwaited() || status !== 'REFUNDED') return undefined;
    fulfilment.status = 'not_needed';
    return fulfilment;
  }

  // ---- Payment attempts. ----

  /** The gateway a request for an attempt means: the one named, else the latest attempt's. */
  attemptGateway(gateway: GatewayName | undefined): GatewayName {
    return gateway ?? this.attempts?.latest()?.gateway ?? this.input.gateway;
  }

  /** Why a payer's request for an attempt is refused, or undefined when it may be answered. */
  attemptRefusal(gateway: GatewayName | undefined): Refusal | undefined {
    const { attempts, state } = this;
    if (!attempts) return invalid(`order ${state.orderId} was created before payment attempts; it has one intent`);
    if (!this.acceptingRequests || state.status !== 'AWAITING_PAYMENT') {
      return invalid(`order ${state.orderId} is ${state.status}; it cannot be paid`);
    }
    const wanted = this.attemptGateway(gateway);
    if (!attempts.allowedGateways.includes(wanted)) {
      return { type: 'GatewayNotAllowed', message: `order ${state.orderId} cannot be paid with ${wanted}` };
    }
    const open = attempts.open();
    if (open && open.gateway !== wanted && attempts.exhausted()) {
      return invalid(`order ${state.orderId} has used its ${attempts.maxAttempts} attempts; the open one remains`);
    }
    return undefined;
  }

  /**
   * Queues a request unless the open attempt answers it already; the request's ID to wait for, or undefined. While a
   * lookup is due (the payer's return from a cancelled wallet page asked for one), the open attempt may be over: the
   * request waits for that lookup, so the payer is not sent back to a page that can no longer be paid.
   */
  requestAttempt(gateway: GatewayName | undefined): number | undefined {
    const wanted = this.attemptGateway(gateway);
    const lookupPending = this.statusCheckRequested || this.lookupInFlight;
    if (this.attempts?.open()?.gateway === wanted && !lookupPending) return undefined;
    const id = this.nextAttemptRequestId;
    this.nextAttemptRequestId += 1;
    this.attemptRequests.push({ id, gateway: wanted });
    return id;
  }

  /** Answered, or never to be: the order closed and stopped taking requests. */
  attemptRequestAnswered(id: number): boolean {
    return id < this.attemptRequestsAnswered || !this.acceptingRequests;
  }

  answerAttemptRequest(): void {
    this.attemptRequests.shift();
    this.attemptRequestsAnswered += 1;
  }

  /** What a payer's request is told: the open attempt while the order awaits payment, else why not (the status). */
  attemptResult(): StartPaymentAttemptResult {
    const { orderId, status } = this.state;
    const open = status === 'AWAITING_PAYMENT' ? this.attempts?.open() : undefined;
    return { orderId, status, attempt: open ?? null };
  }

  /** The intent a payer could still pay (the one to check and cancel when the order closes), if any. */
  payableIntent(): IntentAtGateway | undefined {
    if (this.attempts) return this.attempts.payableIntent();
    return this.state.intentId ? { intentId: this.state.intentId, gateway: this.state.gateway } : undefined;
  }

  /** A new attempt is open: its payment is polled from the start of the poll schedule. */
  attemptStarted(nowMs: number): void {
    this.nextPollAtMs = nowMs + pollDelayMs(this.input.policy.poll, 0);
  }

  /** The attempt a capture was taken on: the one its intent names, else the latest. */
  attemptOfCapture(capture: Capture): PaymentAttemptState | undefined {
    return this.attempts?.concerned(capture.intentId) ?? this.attempts?.latest();
  }

  /** A decline or cancel ends the open attempt only: reports about earlier attempts, or seen ones, are history. */
  private attemptEndAction(outcome: GatewayOutcome, end: AttemptEnd, failure?: PaymentFailure): OutcomeAction {
    const attempts = this.attempts;
    const attempt = attempts?.concerned(outcome.intentId);
    if (!attempts || !attempt || attempt !== attempts.open()) return { kind: 'nothing' };
    if (end === 'declined' && failure?.intentClosed && attempts.reopenedAfterDecline(attempt)) {
      // The session that took the declined try can take no other (a bank debit failed after it completed): the
      // attempt opened on it is over, without a decline of its own unless the gateway names a new one.
      if (failure.ref === undefined || attempts.isKnownDecline(attempt, failure, true)) {
        return { kind: 'end_attempt', attempt, end: 'cancelled' };
      }
    }
    if (end === 'declined' && attempts.isKnownDecline(attempt, failure, outcome.fromEvent === true)) {
      return { kind: 'nothing' };
    }
    return { kind: 'end_attempt', attempt, end, ...(failure ? { failure } : {}) };
  }

  // ---- The ledger. ----

  /** What one more refund request may take: captured, minus refunded, minus in flight, minus queued. */
  refundableRemainder(): number {
    const queued = this.refundQueue.reduce((sum, r) => sum + r.amountMinor, 0);
    if (!this.changes.ledgerChecked) return this.state.capturedAmountMinor - this.state.refundedAmountMinor - queued;
    return unrefundedMinor(this.state) - queued;
  }

  /** What a cancel refunds: the remainder of a paid order; nothing before payment or once all went back. */
  refundOnCancelMinor(): number {
    if (!REFUNDABLE_STATUSES.includes(this.state.status)) return 0;
    return Math.max(this.refundableRemainder(), 0);
  }

  /** A queued request that no longer fits the ledger (another refund settled or went in flight meanwhile). */
  queuedRefundNoLongerFits(refund: PendingRefund): boolean {
    return this.changes.ledgerChecked && refund.amountMinor > unrefundedMinor(this.state);
  }

  /** Right before the gateway call: a refund of the order's own capture must still fit the ledger. */
  refundExceedsLedger(record: RefundRecord): boolean {
    return (
      this.changes.ledgerChecked &&
      isOwnCapture(record) &&
      record.amountMinor > unrefundedMinor(this.state, record.refundId)
    );
  }

  /**
   * Records a new refund as pending, with the next deterministic refund ID (`refund-<orderId>-<seq>`). A payment
   * reference marks the refund of a second capture, which never counts in the order's own ledger.
   */
  openRefund(amountMinor: number, reason: string, requestId?: string, paymentReference?: string): RefundRecord {
    const refundId = `refund-${this.state.orderId}-${this.state.refunds.length + 1}`;
    const record: RefundRecord = {
      refundId,
      amountMinor,
      reason,
      state: 'pending',
      requestId: requestId ?? refundId,
      ...(paymentReference === undefined ? {} : { paymentReference }),
    };
    this.state.refunds.push(record);
    return record;
  }

  /** Counts a settled refund of the order's own capture; the status it leads to. */
  countRefund(amountMinor: number): 'REFUNDED' | 'PARTIALLY_REFUNDED' {
    this.state.refundedAmountMinor += amountMinor;
    return this.state.refundedAmountMinor >= this.state.capturedAmountMinor ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
  }

  settleRefundRequest(refund: PendingRefund, outcome: 'settled' | 'refused'): void {
    this.refundQueue.shift();
    (outcome === 'settled' ? this.settledRefundRequests : this.refusedRefundRequests).add(refund.request.requestId);
  }

  // ---- What the gateway said. ----

  /** Closed without the order's own money, with an intent a payer might still have paid (a lost webhook). */
  awaitsLatePayment(): boolean {
    const { state } = this;
    return CLOSED_UNPAID_STATUSES.includes(state.status) && state.capturedAmountMinor === 0 && !!state.intentId;
  }

  /** Moves the order forward on what the gateway said; stale or duplicate outcomes change nothing. */
  outcomeAction(outcome: GatewayOutcome): OutcomeAction {
    const awaiting = this.state.status === 'AWAITING_PAYMENT';
    switch (outcome.kind) {
      case 'captured':
        return this.captureAction(outcome);
      case 'failed':
        if (!awaiting) return { kind: 'nothing' };
        return this.attempts ? this.attemptEndAction(outcome, 'declined', outcome.failure) : { kind: 'decline' };
      case 'cancelled':
        if (!awaiting) return { kind: 'nothing' };
        return this.attempts ? this.attemptEndAction(outcome, 'cancelled') : { kind: 'close_expired_at_gateway' };
      case 'refunded':
        // Money went back that orderpay did not send back: reconciliation and an operator must look.
        return (outcome.amountMinor ?? 0) > this.state.refundedAmountMinor
          ? { kind: 'flag', reason: 'refund_outside_orderpay' }
          : { kind: 'nothing' };
      case 'not_found':
        return awaiting ? { kind: 'flag', reason: 'intent_not_found_at_gateway' } : { kind: 'nothing' };
      case 'pending':
        return { kind: 'nothing' };
    }
  }

  private captureAction(outcome: Capture): OutcomeAction {
    const capture: Capture = {
      amountMinor: outcome.amountMinor,
      currency: outcome.currency,
      paymentReference: outcome.paymentReference,
      ...(outcome.intentId === undefined ? {} : { intentId: outcome.intentId }),
    };
    if (this.changes.duplicateCaptures && this.isSecondCapture(capture))
      return { kind: 'refund_second_capture', capture };
    const { state } = this;
    if (state.status === 'AWAITING_PAYMENT') {
      const matches = capture.amountMinor === this.input.amountMinor && capture.currency === this.input.currency;
      // Money was taken, but not the amount this order asked for: fail the order and give the money back.
      return { kind: matches ? 'pay' : 'fail_wrong_amount', capture };
    }
    // A payment after the order closed unpaid: it is refunded in full, exactly once.
    if (CLOSED_UNPAID_STATUSES.includes(state.status) && state.capturedAmountMinor === 0) {
      return { kind: 'refund_late_capture', capture };
    }
    // PAID or refunded already: a duplicate or out-of-order event, nothing to do.
    return { kind: 'nothing' };
  }

  /**
   * A capture under another payment reference than the one the order holds: the payer paid twice (a second
   * session, a retried wallet payment). Not seen before, it is money the order never asked for.
   */
  isSecondCapture(capture: Capture): boolean {
    const reference = capture.paymentReference;
    const { state } = this;
    if (reference === undefined || state.capturedAmountMinor === 0 || state.paymentReference === null) return false;
    if (reference === state.paymentReference) return false;
    return !state.refunds.some((refund) => refund.paymentReference === reference);
  }

  /** The capture is the order's money (paid, or a late capture to refund): the ledger counts it from now on. */
  holdCapture(capture: Capture): void {
    this.state.capturedAmountMinor = capture.amountMinor;
    this.state.paymentReference = capture.paymentReference ?? null;
  }

  /** The refund reason of a late capture, named after the status the order closed in. */
  lateCaptureReason(): string {
    return `late_capture_after_${this.state.status.toLowerCase()}`;
  }

  /** The TTL shortened to the gateway's own expiry of the intent, when that comes first; undefined otherwise. */
  gatewayExpiryBeforeTtl(gatewayExpiresAt: string | undefined): number | undefined {
    return intentExpiryBefore(this.expiresAtMs, gatewayExpiresAt);
  }

  capTtl(expiresAtMs: number): void {
    this.expiresAtMs = expiresAtMs;
    this.state.expiresAt = new Date(expiresAtMs).toISOString();
  }

  // ---- The record: status moves and the operator flag. ----

  moveTo(to: OrderStatus, reason: string, at: string): void {
    this.state.status = to;
    this.state.timeline.push({ at, status: to, reason });
  }

  /** Raises the needs-attention flag; false when it is up already (an operator is told once). */
  flag(reason: string, at: string): boolean {
    if (this.state.needsAttention) return false;
    this.state.needsAttention = true;
    this.state.timeline.push({ at, status: this.state.status, reason: `needs_attention:${reason}` });
    return true;
  }

  /** The run ends, or never had a payment to wait for: the checkout is answered and requests are refused. */
  close(): void {
    this.checkoutSettled = true;
    this.acceptingRequests = false;
    this.cancelHandled = true;
  }

  // ---- The phase loop: when to wait, until when, and what to do next. ----

  /** Sets the phase's clocks, unless a previous run (continue-as-new) set them already. */
  enterPhase(phase: OrderPhase, nowMs: number): void {
    if (phase === 'awaiting_payment') {
      this.nextPollAtMs ??= nowMs + pollDelayMs(this.input.policy.poll, 0);
    } else {
      this.graceEndsAtMs ??= nowMs + this.input.policy.graceMs;
      if (this.changes.gracePolling) this.nextGracePollAtMs ??= nowMs + this.gracePollIntervalMs();
    }
  }

  phaseIsOver(phase: OrderPhase): boolean {
    return phase === 'awaiting_payment' && this.state.status !== 'AWAITING_PAYMENT';
  }

  /** Nothing queued: no event, refund request, pending cancel or due hint lookup. */
  isIdle(nowMs: number): boolean {
    return (
      this.inbox.length === 0 &&
      this.refundQueue.length === 0 &&
      !this.hintLookupReady(nowMs) &&
      !(this.cancelRequested && !this.cancelHandled) &&
      this.pendingFulfilment === undefined &&
      this.attemptRequests.length === 0 &&
      nowMs < this.fulfilmentDueAtMs()
    );
  }

  /**
   * Asked while idle: in the grace window, once it has ended, one last look for a payment whose webhooks were all
   * lost (when grace polling applies), then the close. Awaiting payment, the TTL is acted on after the wait.
   */
  closingStep(phase: OrderPhase, nowMs: number): 'final_check' | 'close' | undefined {
    if (phase === 'awaiting_payment' || nowMs < (this.graceEndsAtMs ?? Infinity)) return undefined;
    // A paid order awaiting its fulfilment answer stays open past its grace window, until the answer or timeout.
    if (this.fulfilmentAwaited()) return undefined;
    if (this.gracePollingNow() && !this.finalLookupDone) {
      this.finalLookupDone = true;
      return 'final_check';
    }
    return 'close';
  }

  /**
   * Awaiting payment, every step follows a wait (one that returns at once when work is queued); in the grace
   * window, queued work is drained first. Both are kept as recorded: each wait is a timer in the history.
   */
  waitsBeforeNextStep(phase: OrderPhase, nowMs: number): boolean {
    return phase === 'awaiting_payment' || this.isIdle(nowMs);
  }

  /** When the wait ends unless a message wakes it: the next poll, the TTL or grace end, a coalesced hint. */
  wakeAtMs(phase: OrderPhase): number {
    const hintWakeAtMs = this.changes.historyBounded && this.statusCheckRequested ? this.hintLookupDueAtMs() : Infinity;
    if (phase === 'awaiting_payment') {
      // With no attempt open there is nothing to ask the gateway about until the payer starts one.
      const pollAtMs = this.attempts && !this.attempts.open() ? Infinity : (this.nextPollAtMs ?? Infinity);
      return Math.min(pollAtMs, this.expiresAtMs, hintWakeAtMs);
    }
    const gracePollAtMs = this.gracePollingNow() ? (this.nextGracePollAtMs ?? Infinity) : Infinity;
    // While a fulfilment answer is awaited the window cannot close, so its end is no reason to wake.
    const closesAtMs = this.fulfilmentAwaited() ? this.fulfilmentDueAtMs() : (this.graceEndsAtMs ?? Infinity);
    return Math.min(closesAtMs, gracePollAtMs, hintWakeAtMs);
  }

  /**
   * What ends a wait early. It reads only state that handlers change: time passes in activations that leave no
   * history (an update the validator refuses), so a predicate reading the clock could act where a replay cannot.
   * A hint already due when the wait began is woken for by the wait's timer instead.
   */
  wakeTest(): () => boolean {
    const hintDueWhenWaitBegan = this.changes.historyBounded && this.statusCheckRequested;
    return () =>
      this.inbox.length > 0 ||
      this.refundQueue.length > 0 ||
      (this.statusCheckRequested && !hintDueWhenWaitBegan) ||
      (!!this.cancelRequested && !this.cancelHandled) ||
      this.pendingFulfilment !== undefined ||
      this.attemptRequests.length > 0 ||
      this.historyWake;
  }

  /** The next step after the wait (or without one); `timerFired` when the wait's timer ended it. */
  nextStep(phase: OrderPhase, nowMs: number, timerFired: boolean): Step {
    if (phase === 'grace' && timerFired) {
      // LEGACY, for runs recorded before grace-poll-closed-unpaid: their window closed as soon as its timer fired,
      // even when an event or request was queued in the same activation. Everything else of that old loop is this
      // loop without grace polling; only this difference would change the commands of such a run.
      if (!this.changes.gracePolling) return { kind: 'close' };
      const pollDue = nowMs >= (this.nextGracePollAtMs ?? Infinity) && nowMs < (this.graceEndsAtMs ?? Infinity);
      if (this.gracePollingNow() && pollDue) return { kind: 'lookup', trigger: 'grace_poll' };
    }
    const event = this.inbox.shift();
    if (event) return { kind: 'apply_event', event };
    const refund = this.refundQueue[0];
    if (refund) return { kind: 'refund_request', refund };
    if (this.cancelRequested && !this.cancelHandled) {
      const { reason } = this.cancelRequested;
      return phase === 'awaiting_payment'
        ? { kind: 'cancel_before_payment', reason }
        : { kind: 'cancel_after_close', reason };
    }
    const attemptRequest = this.attemptRequests[0];
    if (attemptRequest) {
      // The lookup a payer's return asked for comes first, at once: it decides whether the open attempt is over.
      if (this.statusCheckRequested) {
        this.statusCheckRequested = false;
        return { kind: 'lookup', trigger: 'hint' };
      }
      return { kind: 'start_attempt', request: attemptRequest };
    }
    if (this.pendingFulfilment) return { kind: 'fulfilment', decision: this.pendingFulfilment };
    if (nowMs >= this.fulfilmentDueAtMs()) {
      this.pendingFulfilment = { status: 'timed_out' };
      return { kind: 'fulfilment', decision: this.pendingFulfilment };
    }
    if (this.hintLookupReady(nowMs)) {
      this.statusCheckRequested = false;
      return { kind: 'lookup', trigger: 'hint' };
    }
    if (phase === 'awaiting_payment') {
      if (nowMs >= this.expiresAtMs) return { kind: 'expire' };
      if (nowMs >= (this.nextPollAtMs ?? Infinity)) return { kind: 'lookup', trigger: 'poll' };
    }
    return { kind: 'nothing' };
  }

  /** A status lookup starts: the intents to look up, none when there is nothing to ask. */
  lookupStarted(nowMs: number): IntentAtGateway[] {
    const targets = this.lookupTargets();
    if (targets.length === 0) return targets;
    this.lookupInFlight = true;
    this.state.pollCount += 1;
    this.lastLookupAtMs = nowMs;
    // Any lookup answers a due hint: it asked for exactly this.
    if (this.changes.historyBounded) this.statusCheckRequested = false;
    return targets;
  }

  /**
   * The order's intent; with payment attempts, the open attempt's while awaiting payment, the latest one's while
   * a closed unpaid order watches for a late payment, and any earlier attempt's that a payer's return named.
   */
  private lookupTargets(): IntentAtGateway[] {
    const { attempts, state } = this;
    if (!attempts) return state.intentId ? [{ intentId: state.intentId, gateway: state.gateway }] : [];
    const latest = attempts.latest();
    const current =
      state.status === 'AWAITING_PAYMENT' ? attempts.open() : this.awaitsLatePayment() ? latest : undefined;
    const earlier = this.hintedEarlierIntents.splice(0).flatMap((intentId) => {
      const attempt = attempts.concerned(intentId);
      return attempt ? [intentOf(attempt)] : [];
    });
    return [...(current ? [intentOf(current)] : []), ...earlier];
  }

  /**
   * The gateway closed the intent for good as the order closed (a Stripe session expired): the grace window stays
   * open for late events and requests, but no poll or final check asks about a payment that cannot happen.
   */
  intentClosedByGateway(intentId: string): void {
    this.intentClosedAtGateway = intentId;
  }

  /** After a scheduled lookup: the next one backs off (awaiting payment) or keeps the grace interval. */
  lookupDone(trigger: LookupTrigger, nowMs: number): void {
    if (trigger === 'poll') this.nextPollAtMs = nowMs + pollDelayMs(this.input.policy.poll, this.state.pollCount);
    if (trigger === 'grace_poll') this.nextGracePollAtMs = nowMs + this.gracePollIntervalMs();
  }

  /** When a due hint's lookup may run: under coalescing, not sooner than the interval after the last lookup. */
  hintLookupDueAtMs(): number {
    return this.changes.historyBounded ? this.lastLookupAtMs + HINT_LOOKUP_MIN_INTERVAL_MS : -Infinity;
  }

  hintLookupReady(nowMs: number): boolean {
    return this.statusCheckRequested && nowMs >= this.hintLookupDueAtMs();
  }

  /** Everything the next run needs when this one continues as new. */
  resumeState(phase: OrderPhase, nowMs: number): OrderResumeState {
    return {
      state: this.state,
      phase,
      expiresAtMs: this.expiresAtMs,
      nextPollAtMs: this.nextPollAtMs ?? nowMs,
      graceEndsAtMs: this.graceEndsAtMs,
      nextGracePollAtMs: this.nextGracePollAtMs,
      lastLookupAtMs: this.lastLookupAtMs,
      statusCheckRequested: this.statusCheckRequested,
      cancelHandled: this.cancelHandled,
      seenEventIds: this.seenEventIds,
      settledRefundRequests: [...this.settledRefundRequests],
      refusedRefundRequests: [...this.refusedRefundRequests],
      settledManualRefunds: [...this.settledManualRefunds],
      ...(this.attempts
        ? { declinedFailureRefs: this.attempts.declinedFailureRefs, hintedEarlierIntents: this.hintedEarlierIntents }
        : {}),
      ...(this.intentClosedAtGateway === undefined ? {} : { intentClosedAtGateway: this.intentClosedAtGateway }),
    };
  }

  private gracePollingNow(): boolean {
    return this.changes.gracePolling && this.awaitsLatePayment() && !this.latestIntentClosedAtGateway();
  }

  private latestIntentClosedAtGateway(): boolean {
    const latest = this.attempts ? this.attempts.latest()?.intentId : this.state.intentId;
    return latest !== undefined && latest !== null && latest === this.intentClosedAtGateway;
  }

  private gracePollIntervalMs(): number {
    return this.input.policy.gracePollIntervalMs ?? DEFAULT_GRACE_POLL_INTERVAL_MS;
  }
}

/** What a signed event or a status lookup says, in one shape; a capture without amounts never matches an order. */
export function outcomeOf(report: PaymentEvent | PaymentStatus, intentId?: string): GatewayOutcome {
  const fromEvent = 'kind' in report;
  const kind = fromEvent ? report.kind : report.state;
  const about = { ...(intentId === undefined ? {} : { intentId }), ...(fromEvent ? { fromEvent } : {}) };
  switch (kind) {
    case 'captured':
      return {
        kind,
        amountMinor: report.amountMinor ?? 0,
        currency: report.currency ?? '',
        paymentReference: report.paymentReference,
        ...about,
      };
    case 'refunded':
      return { kind, amountMinor: report.amountMinor, ...about };
    case 'failed':
      return { kind, ...(report.failure ? { failure: report.failure } : {}), ...about };
    default:
      return { kind, ...about };
  }
}

/** Whether a lookup asks for an operator (eSewa AMBIGUOUS, Khalti Pending, a status word we do not know). */
export function lookupNeedsAttention(status: PaymentStatus): boolean {
  return !!status.needsAttention || hasLegacyAttention(status);
}

/**
 * Lookups recorded before `needsAttention` existed said the same thing as `attention: "<reason>"`. Orders in flight
 * then still hold such results in their histories, and must flag the order exactly as they did when recorded.
 */
export function hasLegacyAttention(status: PaymentStatus): boolean {
  const { attention } = status as PaymentStatus & { attention?: unknown };
  return typeof attention === 'string' && attention.length > 0;
}

function invalid(message: string): Refusal {
  return { type: 'InvalidTransition', message };
}

function refundExceeds(message: string): Refusal {
  return { type: 'RefundExceedsCaptured', message };
}
