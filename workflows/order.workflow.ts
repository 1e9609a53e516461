// The order workflow: one per order, ID `order-<orderId>`. It records the order, creates the payment intent,
// then waits for a payment event, a status poll, the TTL or a cancel request, and compensates with refunds.
// Handlers only enqueue work; the main loop does every side effect, one at a time, so no two activities of an
// order ever race each other.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OrderActivities, OrderChanges } from '../activities/orders/order-activity.types';
import type { PaymentStatus } from '../gateways/gateway';
import {
  ORDER_ERROR_TYPES,
  cancelOrderUpdate,
  checkoutUpdate,
  confirmManualRefundUpdate,
  orderSearchAttributes,
  orderStateQuery,
  paymentEventSignal,
  paymentHintUpdate,
  refundOrderUpdate,
  type CheckoutResult,
  type ConfirmManualRefundRequest,
  type OrderState,
  type OrderStatus,
  type OrderResumeState,
  type OrderWorkflowInput,
  type PaymentEvent,
  type RefundOrderRequest,
  type RefundRecord,
} from '../contracts/order.contract';
import { CLOSED_UNPAID_STATUSES, REFUNDABLE_STATUSES, statusesLeadingTo } from '../domain/order-status';
import {
  DEFAULT_GRACE_POLL_INTERVAL_MS,
  DEFAULT_HISTORY_EVENT_LIMIT,
  HINT_LOOKUP_MIN_INTERVAL_MS,
  pollDelayMs,
} from '../domain/poll-schedule';
import { isOwnCapture, unrefundedMinor } from '../domain/refund-ledger';
import { databaseWrites, gatewayRefunds } from './activity-policies';
import { failureType } from './failure-type';

// Business failures never retry; everything else (DB or gateway outages) retries with backoff.
const NON_RETRYABLE = [
  ORDER_ERROR_TYPES.orderRecordConflict,
  ORDER_ERROR_TYPES.invalidTransition,
  ORDER_ERROR_TYPES.gatewayRejected,
  ORDER_ERROR_TYPES.orderNotFound,
  ORDER_ERROR_TYPES.refundRecordConflict,
  ORDER_ERROR_TYPES.invalidOrderData,
  ORDER_ERROR_TYPES.refundExceedsCaptured,
];

/** Database writes: retried until the database is back, because the order must be recorded. */
const db = proxyActivities<Pick<OrderActivities, 'recordOrder' | 'transitionOrder' | 'recordManualRefund'>>(
  databaseWrites(NON_RETRYABLE),
);

/** Intent creation: bounded, so a dead gateway fails the checkout instead of hanging it. */
const intents = proxyActivities<Pick<OrderActivities, 'createPaymentIntent'>>({
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '2m',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 6,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
});

/** A routine poll: a few quick tries; the next poll comes anyway. */
const polls = proxyActivities<Pick<OrderActivities, 'fetchPaymentStatus'>>({
  startToCloseTimeout: '10s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '5s',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
});

/** The final check and cancel at expiry must get through; they retry for up to 30 minutes. */
const closing = proxyActivities<Pick<OrderActivities, 'fetchPaymentStatus' | 'cancelPaymentIntent'>>({
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '30m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE },
});

/** Refunds retry until the gateway settles them (a pending refund is a retryable failure). */
const refunds = proxyActivities<Pick<OrderActivities, 'refundPayment'>>(gatewayRefunds(NON_RETRYABLE));

/** Event IDs remembered for de-duplication; replays beyond this are still harmless, just not short-circuited. */
const SEEN_EVENT_LIMIT = 256;

interface Capture {
  amountMinor: number;
  currency: string;
  paymentReference?: string;
}

/** What the gateway says, whether it came in a signed event or a status lookup. */
type GatewayOutcome =
  | ({ kind: 'captured' } & Capture)
  | { kind: 'failed' }
  | { kind: 'cancelled' }
  | { kind: 'refunded'; amountMinor?: number }
  | { kind: 'pending' }
  | { kind: 'not_found' };

interface PendingRefund {
  request: RefundOrderRequest;
  amountMinor: number;
}

export async function orderWorkflow(input: OrderWorkflowInput): Promise<OrderState> {
  const { orderId, policy } = input;
  const resume = input.resume;
  // Changes to the process, decided once before the first command so that a run takes one path throughout: an
  // order started before a change replays without its marker and keeps the old behaviour.
  /** A closed unpaid order keeps asking the gateway during its grace window, and once more before it closes. */
  const gracePolling = patched('grace-poll-closed-unpaid');
  /** Refunds are checked against captured minus refunded minus in flight, again right before the gateway call. */
  const ledgerChecked = patched('refund-ledger-in-flight');
  /** A capture with another payment reference than the order's is refunded in full, once per reference. */
  const duplicateCaptures = patched('duplicate-capture-refund');
  /** Hints are coalesced into at most one lookup per interval, and the run continues as new on a long history. */
  const historyBounded = patched('bounded-history');

  /** Shortened once if the gateway's intent expires before orderpay's TTL (Khalti's expires_at). */
  let expiresAtMs = resume?.expiresAtMs ?? Date.now() + policy.ttlMs;
  const state: OrderState = resume?.state ?? {
    orderId,
    gateway: input.gateway,
    status: 'PENDING',
    amountMinor: input.amountMinor,
    currency: input.currency,
    intentId: null,
    paymentUrl: null,
    paymentReference: null,
    expiresAt: new Date(expiresAtMs).toISOString(),
    capturedAmountMinor: 0,
    refundedAmountMinor: 0,
    refunds: [],
    failureReason: null,
    needsAttention: false,
    pollCount: 0,
    timeline: [{ at: new Date().toISOString(), status: 'PENDING', reason: 'order_created' }],
  };

  const inbox: PaymentEvent[] = [];
  const seenEventIds: string[] = resume?.seenEventIds ?? [];
  let statusCheckRequested = resume?.statusCheckRequested ?? false;
  /** When the last status lookup started; hints wait HINT_LOOKUP_MIN_INTERVAL_MS after it. */
  let lastLookupAtMs = resume?.lastLookupAtMs ?? 0;
  /** Set by a handler that saw the history pass its bound: the loop wakes to continue as new. */
  let historyWake = false;
  let checkoutSettled = resume !== undefined;
  let cancelRequested: { reason: string } | undefined = resume?.cancelHandled ? { reason: 'handled' } : undefined;
  let cancelHandled = resume?.cancelHandled ?? false;
  /** False once the grace window has closed: later requests are rejected instead of waiting forever. */
  let acceptingRequests = true;
  const refundQueue: PendingRefund[] = [];
  const settledRefundRequests = new Set<string>(resume?.settledRefundRequests);
  /** Refund requests refused right before the gateway call: the ledger no longer had room for them. */
  const refusedRefundRequests = new Set<string>(resume?.refusedRefundRequests);
  /** Operators' confirmations of manual refunds, by refund ID; a refund awaiting_manual waits for its entry. */
  const manualConfirmations = new Map<string, ConfirmManualRefundRequest>();
  /** Manual refunds whose confirmation has been recorded and counted. */
  const settledManualRefunds = new Set<string>(resume?.settledManualRefunds);
  let nextPollAtMs = resume?.nextPollAtMs;
  let graceEndsAtMs = resume?.graceEndsAtMs;
  let nextGracePollAtMs = resume?.nextGracePollAtMs;
  const gracePollIntervalMs = policy.gracePollIntervalMs ?? DEFAULT_GRACE_POLL_INTERVAL_MS;
  /** Every lookup names the order's amount: eSewa's status API is keyed by it. */
  const lookupOf = (intentId: string) => ({
    orderId,
    gateway: input.gateway,
    intentId,
    amountMinor: input.amountMinor,
    currency: input.currency,
  });

  // ---- Handlers: validate and enqueue; the main loop acts. ----
  setHandler(orderStateQuery, () => state);

  setHandler(
    checkoutUpdate,
    async (): Promise<CheckoutResult> => {
      await condition(() => checkoutSettled);
      return {
        orderId,
        status: state.status,
        paymentUrl: state.paymentUrl,
        intentId: state.intentId,
        expiresAt: state.expiresAt,
        failureReason: state.failureReason,
      };
    },
    {
      validator: ({ requestHash }) => {
        if (requestHash !== input.requestHash) {
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.idempotencyConflict,
            message: `order ${orderId} already exists with a different request`,
            nonRetryable: true,
          });
        }
      },
    },
  );

  setHandler(paymentEventSignal, (event) => {
    noteHistoryLength();
    if (!rememberEvent(event.eventId)) return;
    if (event.verified) inbox.push(event);
    // An unsigned event is only a hint: the gateway's own status lookup decides.
    else statusCheckRequested = true;
  });

  setHandler(
    paymentHintUpdate,
    (event) => {
      noteHistoryLength();
      rememberEvent(event.eventId);
      statusCheckRequested = true;
    },
    {
      // A rejected update leaves no trace in the history: a flood of hints costs nothing while a lookup is due.
      validator: (event) => {
        const redundancy = hintRedundancy(event);
        if (redundancy) throw redundant(`hint ignored: ${redundancy}`);
      },
    },
  );

  setHandler(
    cancelOrderUpdate,
    async ({ reason }) => {
      if (state.status === 'CANCELLED' || state.status === 'REFUNDED') return state;
      cancelRequested ??= { reason };
      await condition(() => cancelHandled);
      return state;
    },
    {
      validator: (_request) => {
        if (!acceptingRequests && state.status !== 'CANCELLED' && state.status !== 'REFUNDED') {
          throw invalidTransition(`order ${orderId} is closed`);
        }
        if (state.status === 'FAILED' || state.status === 'EXPIRED') {
          throw invalidTransition(`cannot cancel an order that is ${state.status}`);
        }
        if (historyBounded && (state.status === 'CANCELLED' || state.status === 'REFUNDED' || cancelHandled)) {
          // Cancelling again changes nothing; the caller reads the order as it is.
          throw redundant(`order ${orderId} is ${state.status}; a cancel was already handled`);
        }
      },
    },
  );

  setHandler(
    refundOrderUpdate,
    async (request) => {
      if (!settledRefundRequests.has(request.requestId) && !refusedRefundRequests.has(request.requestId)) {
        if (!refundQueue.some((queued) => queued.request.requestId === request.requestId)) {
          refundQueue.push({ request, amountMinor: request.amountMinor ?? refundableRemainder() });
        }
        await condition(
          () => settledRefundRequests.has(request.requestId) || refusedRefundRequests.has(request.requestId),
        );
      }
      if (refusedRefundRequests.has(request.requestId)) {
        throw refundExceeds(`refund ${request.requestId} no longer fits what is left to refund`);
      }
      return state;
    },
    {
      validator: (request) => {
        if (
          settledRefundRequests.has(request.requestId) ||
          refusedRefundRequests.has(request.requestId) ||
          refundQueue.some((r) => r.request.requestId === request.requestId)
        ) {
          return;
        }
        if (!acceptingRequests || !REFUNDABLE_STATUSES.includes(state.status)) {
          throw invalidTransition(
            `cannot refund an order that is ${state.status}${acceptingRequests ? '' : ' and closed'}`,
          );
        }
        const amount = request.amountMinor ?? refundableRemainder();
        if (!Number.isSafeInteger(amount) || amount <= 0 || amount > refundableRemainder()) {
          throw refundExceeds(`refund of ${amount} exceeds the refundable ${refundableRemainder()}`);
        }
      },
    },
  );

  setHandler(
    confirmManualRefundUpdate,
    async (request) => {
      if (!manualConfirmations.has(request.refundId)) manualConfirmations.set(request.refundId, request);
      await condition(() => settledManualRefunds.has(request.refundId));
      return state;
    },
    {
      validator: ({ refundId }) => {
        const refund = state.refunds.find((r) => r.refundId === refundId);
        // Confirming a refund that is already confirmed answers with the order, so the admin call is idempotent.
        if (refund?.state === 'awaiting_manual' || settledManualRefunds.has(refundId)) return;
        throw invalidTransition(
          refund ? `refund ${refundId} is ${refund.state}, not awaiting_manual` : `no refund ${refundId} on this order`,
        );
      },
    },
  );

  /** Signals and accepted updates grow the history while the loop sleeps: past the bound, they wake it. */
  function noteHistoryLength(): void {
    if (historyTooLong()) historyWake = true;
  }

  /** Remembers an event ID; false when it was seen already (a duplicate delivery). */
  function rememberEvent(eventId: string): boolean {
    if (seenEventIds.includes(eventId)) return false;
    seenEventIds.push(eventId);
    if (seenEventIds.length > SEEN_EVENT_LIMIT) seenEventIds.shift();
    return true;
  }

  /** Why a hint cannot change anything, or undefined when it may. */
  function hintRedundancy(event: PaymentEvent): string | undefined {
    if (seenEventIds.includes(event.eventId)) return 'event already seen';
    if (!acceptingRequests) return 'order closed';
    if (statusCheckRequested) return 'a status lookup is already due';
    const lookupMayMatter =
      state.status === 'PENDING' || state.status === 'AWAITING_PAYMENT' || (gracePolling && awaitsLatePayment());
    return lookupMayMatter ? undefined : `no lookup changes an order that is ${state.status}`;
  }

  /** The ledger: captured, minus refunded, minus refunds in flight, minus refunds queued. */
  function refundableRemainder(): number {
    const queued = refundQueue.reduce((sum, r) => sum + r.amountMinor, 0);
    if (!ledgerChecked) return state.capturedAmountMinor - state.refundedAmountMinor - queued;
    return unrefundedMinor(state) - queued;
  }

  /** Closed without the order's own money, with an intent a payer might still have paid (a lost webhook). */
  function awaitsLatePayment(): boolean {
    return CLOSED_UNPAID_STATUSES.includes(state.status) && state.capturedAmountMinor === 0 && !!state.intentId;
  }

  // ---- The process. ----
  if (!resume) {
    upsertSearchAttributes([
      { key: orderSearchAttributes.orderId, value: orderId },
      { key: orderSearchAttributes.gateway, value: input.gateway },
      { key: orderSearchAttributes.amountMinor, value: input.amountMinor },
      { key: orderSearchAttributes.currency, value: input.currency },
      { key: orderSearchAttributes.expiresAt, value: new Date(expiresAtMs) },
      { key: orderSearchAttributes.orderStatus, value: state.status },
      { key: orderSearchAttributes.needsAttention, value: false },
    ]);

    const recorded = await recordOrder();
    if (recorded === 'not_recordable') return closeWithoutPayment();
    if (recorded.status !== undefined && recorded.status !== 'PENDING') {
      // The order's row is past PENDING: an earlier workflow of this order ran (and was purged by retention). A new
      // intent could take a second payment, so the checkout answers with what the row says and nothing else runs.
      log.warn('order already recorded past PENDING; no new intent', { orderId, status: recorded.status });
      state.status = recorded.status;
      state.timeline.push({ at: new Date().toISOString(), status: recorded.status, reason: 'already_recorded' });
      upsertSearchAttributes([{ key: orderSearchAttributes.orderStatus, value: recorded.status }]);
      return closeWithoutPayment();
    }

    await startPayment();
  }
  if (state.status === 'AWAITING_PAYMENT') await awaitPayment();
  await stayOpenForLateEvents();

  await condition(allHandlersFinished);
  return state;

  // ---- Steps. ----

  /** Records the order row; a row the database refuses ends the order FAILED at once, with nothing to undo. */
  async function recordOrder(): Promise<Awaited<ReturnType<OrderActivities['recordOrder']>> | 'not_recordable'> {
    try {
      return await db.recordOrder({
        orderId,
        amountMinor: input.amountMinor,
        currency: input.currency,
        gateway: input.gateway,
        description: input.description,
        customer: input.customer,
        returnUrl: input.returnUrl,
        requestHash: input.requestHash,
        expiresAt: state.expiresAt,
      });
    } catch (error) {
      if (isCancellation(error) || failureType(error) !== ORDER_ERROR_TYPES.invalidOrderData) throw error;
      // No row exists, so there is no transition to record: the checkout answers FAILED with the reason.
      log.warn('order could not be recorded', { orderId, reason: 'order_not_recordable' });
      state.status = 'FAILED';
      state.failureReason = 'order_not_recordable';
      state.timeline.push({ at: new Date().toISOString(), status: 'FAILED', reason: 'order_not_recordable' });
      upsertSearchAttributes([{ key: orderSearchAttributes.orderStatus, value: 'FAILED' }]);
      return 'not_recordable';
    }
  }

  /** Ends a run that never had a payment of its own to wait for: the checkout is answered, requests refused. */
  async function closeWithoutPayment(): Promise<OrderState> {
    checkoutSettled = true;
    acceptingRequests = false;
    cancelHandled = true;
    await condition(allHandlersFinished);
    return state;
  }

  async function startPayment(): Promise<void> {
    try {
      const intent = await intents.createPaymentIntent({
        orderId,
        gateway: input.gateway,
        amountMinor: input.amountMinor,
        currency: input.currency,
        description: input.description,
        customer: input.customer,
        returnUrl: input.returnUrl,
        expiresAt: state.expiresAt,
      });
      state.intentId = intent.intentId;
      state.paymentUrl = intent.paymentUrl;
      const gatewayExpiryMs = intent.expiresAt === undefined ? NaN : Date.parse(intent.expiresAt);
      // The order must not outlive the intent: a payer could no longer pay, yet the order would still wait.
      const shortenTtl =
        Number.isFinite(gatewayExpiryMs) && gatewayExpiryMs < expiresAtMs && patched('ttl-capped-by-gateway-expiry');
      if (shortenTtl) {
        expiresAtMs = gatewayExpiryMs;
        state.expiresAt = new Date(expiresAtMs).toISOString();
        upsertSearchAttributes([{ key: orderSearchAttributes.expiresAt, value: new Date(expiresAtMs) }]);
      }
      await transition('AWAITING_PAYMENT', 'intent_created', {
        intentId: intent.intentId,
        paymentUrl: intent.paymentUrl,
        ...(shortenTtl ? { expiresAt: state.expiresAt } : {}),
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      // Retries are exhausted or the gateway refused: no intent exists that a payer could pay.
      const reason = intentFailureReason(failureType(error));
      log.warn('payment intent could not be created', { orderId, reason });
      state.failureReason = reason;
      await transition('FAILED', reason, { failureReason: reason });
    } finally {
      checkoutSettled = true;
    }
  }

  /** When a due hint's lookup may run: under coalescing, not sooner than the interval after the last lookup. */
  function hintLookupDueAtMs(): number {
    return historyBounded ? lastLookupAtMs + HINT_LOOKUP_MIN_INTERVAL_MS : -Infinity;
  }

  function hintLookupReady(): boolean {
    return statusCheckRequested && Date.now() >= hintLookupDueAtMs();
  }

  /**
   * What ends a wait on account of hints. Wait predicates read only state that handlers change: time passes in
   * activations that leave no history (an update the validator refuses), so a predicate reading the clock could
   * act where a replay cannot. A hint already due when the wait began is woken for by the wait's timer instead.
   */
  function hintWakeTest(): () => boolean {
    if (!historyBounded) return () => statusCheckRequested;
    const dueWhenWaitBegan = statusCheckRequested;
    return () => statusCheckRequested && !dueWhenWaitBegan;
  }

  async function awaitPayment(): Promise<void> {
    nextPollAtMs ??= Date.now() + pollDelayMs(policy.poll, 0);
    while (state.status === 'AWAITING_PAYMENT') {
      if (inbox.length === 0 && !cancelRequested && !hintLookupReady()) await continueAsNewIfLong('awaiting_payment');
      const hintWakeAtMs = historyBounded && statusCheckRequested ? hintLookupDueAtMs() : Infinity;
      const wakeAtMs = Math.min(nextPollAtMs, expiresAtMs, hintWakeAtMs);
      const hintWakes = hintWakeTest();
      await condition(
        () => inbox.length > 0 || hintWakes() || cancelRequested !== undefined || historyWake,
        Math.max(wakeAtMs - Date.now(), 1),
      );
      const event = inbox.shift();
      if (event) {
        await applyOutcome(outcomeOf(event), `webhook:${event.kind}`);
      } else if (cancelRequested) {
        await cancelBeforePayment(cancelRequested.reason);
      } else if (hintLookupReady()) {
        statusCheckRequested = false;
        await pollStatus('hint');
      } else if (Date.now() >= expiresAtMs) {
        await expire();
      } else if (Date.now() >= nextPollAtMs) {
        await pollStatus('poll');
        nextPollAtMs = Date.now() + pollDelayMs(policy.poll, state.pollCount);
      }
    }
  }

  async function stayOpenForLateEvents(): Promise<void> {
    if (!gracePolling) return stayOpenForLateEventsWithoutPolling();
    graceEndsAtMs ??= Date.now() + policy.graceMs;
    nextGracePollAtMs ??= Date.now() + gracePollIntervalMs;
    let finalLookupDone = false;
    for (;;) {
      const queued =
        inbox.length > 0 || refundQueue.length > 0 || hintLookupReady() || (!!cancelRequested && !cancelHandled);
      if (!queued) {
        await continueAsNewIfLong('grace');
        const polling = awaitsLatePayment();
        const remainingMs = graceEndsAtMs - Date.now();
        if (remainingMs <= 0) {
          // One last look before the order closes for good: a payment whose webhooks were all lost is refunded now.
          if (polling && !finalLookupDone) {
            finalLookupDone = true;
            await pollStatus('grace_final_check');
            continue;
          }
          break;
        }
        const hintWakeAtMs = statusCheckRequested ? hintLookupDueAtMs() : Infinity;
        const wakeAtMs = Math.min(graceEndsAtMs, polling ? nextGracePollAtMs : Infinity, hintWakeAtMs);
        const hintWakes = hintWakeTest();
        const woke = await condition(
          () =>
            inbox.length > 0 ||
            refundQueue.length > 0 ||
            hintWakes() ||
            (!!cancelRequested && !cancelHandled) ||
            historyWake,
          Math.max(wakeAtMs - Date.now(), 1),
        );
        // Woken by a request: the top of the loop sees what is queued. Otherwise a timer fired.
        if (!woke && polling && Date.now() >= nextGracePollAtMs && Date.now() < graceEndsAtMs) {
          await pollStatus('grace_poll');
          nextGracePollAtMs = Date.now() + gracePollIntervalMs;
        }
        continue;
      }
      const event = inbox.shift();
      const refund = event ? undefined : refundQueue[0];
      if (event) {
        await applyOutcome(outcomeOf(event), `webhook:${event.kind}`);
      } else if (refund) {
        await refundRequested(refund);
      } else if (cancelRequested && !cancelHandled) {
        await cancelAfterClose(cancelRequested.reason);
      } else if (hintLookupReady()) {
        statusCheckRequested = false;
        await pollStatus('hint');
      }
    }
    // Nothing is queued (the loop drains before it sleeps); from here on requests are refused.
    acceptingRequests = false;
    cancelHandled = true;
  }

  /** The grace window of orders started before grace polling: it only waits for events and requests. */
  async function stayOpenForLateEventsWithoutPolling(): Promise<void> {
    const graceEndsAtMs = Date.now() + policy.graceMs;
    for (;;) {
      if (
        !(cancelRequested && !cancelHandled) &&
        inbox.length === 0 &&
        refundQueue.length === 0 &&
        !statusCheckRequested
      ) {
        const remainingMs = graceEndsAtMs - Date.now();
        if (remainingMs <= 0) break;
        const woke = await condition(
          () =>
            inbox.length > 0 || refundQueue.length > 0 || statusCheckRequested || (!!cancelRequested && !cancelHandled),
          remainingMs,
        );
        if (!woke) break;
      }
      const event = inbox.shift();
      const refund = event ? undefined : refundQueue[0];
      if (event) {
        await applyOutcome(outcomeOf(event), `webhook:${event.kind}`);
      } else if (refund) {
        await refundRequested(refund);
      } else if (cancelRequested && !cancelHandled) {
        await cancelAfterClose(cancelRequested.reason);
      } else if (statusCheckRequested) {
        statusCheckRequested = false;
        await pollStatus('hint');
      }
    }
    acceptingRequests = false;
    cancelHandled = true;
  }

  /** The run's history passed its bound (or the server suggests a new run); it wakes the loop, too. */
  function historyTooLong(): boolean {
    if (!historyBounded) return false;
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested || info.historyLength >= (policy.historyEventLimit ?? DEFAULT_HISTORY_EVENT_LIMIT)
    );
  }

  /**
   * At a quiescent point (nothing queued, no handler running), a run whose history grew past the bound hands the
   * whole order to a fresh run under the same workflow ID: queries, updates and signals keep reaching it.
   */
  async function continueAsNewIfLong(phase: OrderResumeState['phase']): Promise<void> {
    if (!historyTooLong()) return;
    const info = workflowInfo();
    await condition(allHandlersFinished);
    // A handler may have queued work while we waited; it is done in this run, and the check comes again.
    if (inbox.length > 0 || refundQueue.length > 0 || hintLookupReady() || (!!cancelRequested && !cancelHandled)) {
      return;
    }
    log.info('history is long; continuing as new', { orderId, historyLength: info.historyLength, phase });
    const carried: OrderResumeState = {
      state,
      phase,
      expiresAtMs,
      nextPollAtMs: nextPollAtMs ?? Date.now(),
      graceEndsAtMs,
      nextGracePollAtMs,
      lastLookupAtMs,
      statusCheckRequested,
      cancelHandled,
      seenEventIds,
      settledRefundRequests: [...settledRefundRequests],
      refusedRefundRequests: [...refusedRefundRequests],
      settledManualRefunds: [...settledManualRefunds],
    };
    await continueAsNew<typeof orderWorkflow>({ ...input, resume: carried });
  }

  /** A refund request from the queue: refunded if the ledger still has room for it, refused otherwise. */
  async function refundRequested(refund: PendingRefund): Promise<void> {
    if (ledgerChecked && refund.amountMinor > unrefundedMinor(state)) {
      log.warn('queued refund no longer fits the ledger; refused', { orderId, requestId: refund.request.requestId });
      refundQueue.shift();
      refusedRefundRequests.add(refund.request.requestId);
      return;
    }
    await refundCaptured(refund.amountMinor, refund.request.reason, refund.request.requestId);
    refundQueue.shift();
    settledRefundRequests.add(refund.request.requestId);
  }

  async function pollStatus(trigger: 'poll' | 'hint' | 'grace_poll' | 'grace_final_check'): Promise<void> {
    if (!state.intentId) return;
    state.pollCount += 1;
    lastLookupAtMs = Date.now();
    // Any lookup answers a due hint: it asked for exactly this.
    if (historyBounded) statusCheckRequested = false;
    try {
      const status = await polls.fetchPaymentStatus(lookupOf(state.intentId));
      await applyStatus(status, `${trigger}:${status.gatewayStatus}`);
    } catch (error) {
      if (isCancellation(error)) throw error;
      // The next poll, the TTL's final check or reconciliation will try again.
      log.warn('status poll failed', { orderId, trigger, error: failureType(error) });
    }
  }

  async function expire(): Promise<void> {
    const intentId = state.intentId;
    if (!intentId) return;
    try {
      const finalStatus = await closing.fetchPaymentStatus(lookupOf(intentId));
      await applyStatus(finalStatus, `final_check:${finalStatus.gatewayStatus}`);
      if (state.status !== 'AWAITING_PAYMENT') return;
    } catch (error) {
      if (isCancellation(error)) throw error;
      log.warn('final status check failed; cancelling the intent anyway', { orderId });
    }
    await closeIntentThen('EXPIRED', 'ttl_elapsed');
  }

  async function cancelBeforePayment(reason: string): Promise<void> {
    await closeIntentThen('CANCELLED', `cancel_requested:${reason}`);
    if (REFUNDABLE_STATUSES.includes(state.status)) {
      // The payment won the race with the cancel: a cancellation after capture is a refund.
      await refundCaptured(refundableRemainder(), reason);
    }
    cancelHandled = true;
  }

  async function cancelAfterClose(reason: string): Promise<void> {
    if (REFUNDABLE_STATUSES.includes(state.status) && refundableRemainder() > 0) {
      await refundCaptured(refundableRemainder(), reason);
    }
    cancelHandled = true;
  }

  /** Cancels the intent at the gateway; the order closes unpaid, unless the payer paid first. */
  async function closeIntentThen(status: 'EXPIRED' | 'CANCELLED' | 'FAILED', reason: string): Promise<void> {
    const intentId = state.intentId;
    if (intentId) {
      try {
        const result = await closing.cancelPaymentIntent(lookupOf(intentId));
        if (result.outcome === 'already_captured') {
          await applyOutcome({ kind: 'captured', ...result }, 'cancel_found_capture');
          return;
        }
      } catch (error) {
        if (isCancellation(error)) throw error;
        // The intent may still be payable; a late capture is refunded, and an operator is told.
        log.error('intent could not be cancelled at the gateway', { orderId, intentId });
        await flagForAttention('intent_cancel_failed');
      }
    }
    await transition(status, reason);
  }

  /** A status lookup's answer: an operator is told first when the gateway asks for it (eSewa AMBIGUOUS, Khalti Pending). */
  async function applyStatus(status: PaymentStatus, source: string): Promise<void> {
    if (status.needsAttention || hasLegacyAttention(status)) {
      await flagForAttention(`gateway_status:${status.gatewayStatus}`);
    }
    await applyOutcome(outcomeOf(status), source);
  }

  /** Moves the order forward on what the gateway said; stale or duplicate outcomes change nothing. */
  async function applyOutcome(outcome: GatewayOutcome, source: string): Promise<void> {
    switch (outcome.kind) {
      case 'captured':
        return applyCapture(outcome, source);
      case 'failed':
        if (state.status === 'AWAITING_PAYMENT') {
          // A decline closes the order: the intent is cancelled so the payer cannot pay a failed order.
          state.failureReason = 'payment_declined';
          await closeIntentThen('FAILED', `payment_declined:${source}`);
        }
        return;
      case 'cancelled':
        if (state.status === 'AWAITING_PAYMENT') await transition('EXPIRED', `intent_closed_at_gateway:${source}`);
        return;
      case 'refunded':
        if ((outcome.amountMinor ?? 0) > state.refundedAmountMinor) {
          // Money went back that orderpay did not send back: reconciliation and an operator must look.
          await flagForAttention('refund_outside_orderpay');
        }
        return;
      case 'not_found':
        if (state.status === 'AWAITING_PAYMENT') await flagForAttention('intent_not_found_at_gateway');
        return;
      case 'pending':
        return;
    }
  }

  async function applyCapture(capture: Capture, source: string): Promise<void> {
    if (duplicateCaptures && isSecondCapture(capture)) return refundSecondCapture(capture, source);
    const matches = capture.amountMinor === input.amountMinor && capture.currency === input.currency;
    if (state.status === 'AWAITING_PAYMENT' && matches) {
      state.capturedAmountMinor = capture.amountMinor;
      state.paymentReference = capture.paymentReference ?? null;
      await transition('PAID', `payment_captured:${source}`, {
        capturedAmountMinor: capture.amountMinor,
        paymentReference: capture.paymentReference,
        paidAt: new Date().toISOString(),
      });
      return;
    }
    if (state.status === 'AWAITING_PAYMENT') {
      // Money was taken, but not the amount this order asked for: fail the order and give the money back.
      await flagForAttention('capture_amount_mismatch');
      state.failureReason = 'capture_amount_mismatch';
      await transition('FAILED', `capture_amount_mismatch:${source}`, { failureReason: 'capture_amount_mismatch' });
    }
    if (CLOSED_UNPAID_STATUSES.includes(state.status) && state.capturedAmountMinor === 0) {
      // A payment after the order closed unpaid: it is refunded in full, exactly once.
      state.capturedAmountMinor = capture.amountMinor;
      state.paymentReference = capture.paymentReference ?? null;
      await refundCaptured(capture.amountMinor, `late_capture_after_${state.status.toLowerCase()}`);
    }
    // PAID or refunded already: a duplicate or out-of-order event, nothing to do.
  }

  /**
   * A capture under another payment reference than the one the order holds: the payer paid twice (a second
   * session, a retried wallet payment). Not seen before, it is money the order never asked for.
   */
  function isSecondCapture(capture: Capture): boolean {
    const reference = capture.paymentReference;
    if (reference === undefined || state.capturedAmountMinor === 0 || state.paymentReference === null) return false;
    if (reference === state.paymentReference) return false;
    return !state.refunds.some((refund) => refund.paymentReference === reference);
  }

  /**
   * Refunds a second capture in full, once per payment reference, as a late capture is. It is recorded on the
   * order as a refund with reason duplicate_capture, but the order's own amounts and status stay as they are.
   */
  async function refundSecondCapture(capture: Capture & { paymentReference?: string }, source: string): Promise<void> {
    log.error('a second capture for the order; refunding it', { orderId, source });
    await flagForAttention('duplicate_capture');
    if (!state.intentId || capture.amountMinor <= 0) return;
    const refundId = `refund-${orderId}-${state.refunds.length + 1}`;
    const record: RefundRecord = {
      refundId,
      amountMinor: capture.amountMinor,
      reason: 'duplicate_capture',
      state: 'pending',
      requestId: refundId,
      paymentReference: capture.paymentReference,
    };
    state.refunds.push(record);
    const index = state.refunds.length - 1;
    const outcome = await refundAtGateway(record, index, {
      paymentReference: capture.paymentReference,
      capturedAmountMinor: capture.amountMinor,
    });
    if (outcome === 'succeeded' && record.manualReference !== undefined) settledManualRefunds.add(refundId);
  }

  /** Refunds `amountMinor` of the captured money with a deterministic refund ID, then records the new status. */
  async function refundCaptured(amountMinor: number, reason: string, requestId?: string): Promise<void> {
    if (amountMinor <= 0 || !state.intentId) return;
    const refundId = `refund-${orderId}-${state.refunds.length + 1}`;
    const record: RefundRecord = { refundId, amountMinor, reason, state: 'pending', requestId: requestId ?? refundId };
    state.refunds.push(record);
    const index = state.refunds.length - 1;
    const outcome = await refundAtGateway(record, index, {
      paymentReference: state.paymentReference ?? undefined,
      capturedAmountMinor: state.capturedAmountMinor,
    });
    if (outcome !== 'succeeded') return;
    state.refundedAmountMinor += amountMinor;
    const fullyRefunded = state.refundedAmountMinor >= state.capturedAmountMinor;
    await transition(fullyRefunded ? 'REFUNDED' : 'PARTIALLY_REFUNDED', `refund_succeeded:${reason}`, {
      refundedAmountMinor: state.refundedAmountMinor,
      capturedAmountMinor: state.capturedAmountMinor,
      paymentReference: state.paymentReference ?? undefined,
    });
    if (record.manualReference !== undefined) settledManualRefunds.add(refundId);
  }

  /**
   * Sends one recorded refund to the gateway and settles its record: succeeded (also once an operator confirmed a
   * manual refund), failed (flagged), or pending past the activity's limit (flagged, not counted as refunded).
   */
  async function refundAtGateway(
    record: RefundRecord,
    index: number,
    against: { paymentReference?: string; capturedAmountMinor: number },
  ): Promise<'succeeded' | 'failed' | 'pending'> {
    const { refundId, amountMinor, reason } = record;
    let outcome: 'succeeded' | 'failed' | 'awaiting_manual' | 'pending';
    if (ledgerChecked && isOwnCapture(record) && amountMinor > unrefundedMinor(state, refundId)) {
      // Another refund settled or went in flight since this one was decided: sending it would refund too much.
      log.error('refund exceeds what is left to refund; not sent', { orderId, refundId });
      outcome = 'failed';
    } else {
      try {
        const result = await refunds.refundPayment({
          orderId,
          gateway: input.gateway,
          intentId: state.intentId ?? '',
          paymentReference: against.paymentReference,
          capturedAmountMinor: against.capturedAmountMinor,
          requestId: record.requestId,
          refundId,
          amountMinor,
          currency: input.currency,
          reason,
        });
        outcome = result.state;
      } catch (error) {
        if (isCancellation(error)) throw error;
        // Includes RefundExceedsCaptured: the database's ledger refused it, which is a failed refund as well.
        outcome = 'failed';
      }
    }
    if (outcome === 'awaiting_manual') {
      // No refund API (eSewa): an operator refunds by hand. Nothing counts as refunded until they confirm, and the
      // workflow cannot close meanwhile, because this wait has no timeout.
      state.refunds[index] = { ...record, state: 'awaiting_manual' };
      await flagForAttention('manual_refund_required');
      await condition(() => manualConfirmations.has(refundId));
      const confirmation = manualConfirmations.get(refundId);
      if (confirmation) {
        await db.recordManualRefund({ ...confirmation, orderId, at: new Date().toISOString() });
        record.manualReference = confirmation.reference;
      }
      outcome = 'succeeded';
    }
    state.refunds[index] = { ...record, state: outcome };
    if (outcome === 'failed') {
      log.error('refund failed', { orderId, refundId });
      await flagForAttention('refund_failed');
    } else if (outcome === 'pending') {
      // Still pending at the gateway past the activity's limit: it may yet settle, so it stays in flight in the
      // ledger and is not counted as refunded; reconciliation and an operator follow it up.
      log.error('refund still pending at the gateway', { orderId, refundId });
      await flagForAttention('refund_pending_too_long');
    }
    return outcome;
  }

  async function flagForAttention(reason: string): Promise<void> {
    if (state.needsAttention) return;
    state.needsAttention = true;
    state.timeline.push({ at: new Date().toISOString(), status: state.status, reason: `needs_attention:${reason}` });
    await db.transitionOrder({
      orderId,
      from: [state.status],
      to: state.status,
      reason: `needs_attention:${reason}`,
      at: new Date().toISOString(),
      changes: { needsAttention: true },
    });
    upsertSearchAttributes([{ key: orderSearchAttributes.needsAttention, value: true }]);
  }

  async function transition(to: OrderStatus, reason: string, changes?: OrderChanges): Promise<void> {
    const at = new Date().toISOString();
    await db.transitionOrder({ orderId, from: statusesLeadingTo(to), to, reason, at, changes });
    state.status = to;
    state.timeline.push({ at, status: to, reason });
    upsertSearchAttributes([{ key: orderSearchAttributes.orderStatus, value: to }]);
  }
}

function invalidTransition(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ORDER_ERROR_TYPES.invalidTransition, message, nonRetryable: true });
}

function redundant(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ORDER_ERROR_TYPES.redundantRequest, message, nonRetryable: true });
}

function refundExceeds(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ORDER_ERROR_TYPES.refundExceedsCaptured, message, nonRetryable: true });
}

/** Why no intent exists: the gateway refused it, it refused the order's data, or it could not be reached. */
function intentFailureReason(type: string | undefined): string {
  if (type === ORDER_ERROR_TYPES.gatewayRejected) return 'intent_rejected';
  if (type === ORDER_ERROR_TYPES.invalidOrderData) return 'invalid_order_data';
  return 'intent_unavailable';
}

/**
 * Lookups recorded before `needsAttention` existed said the same thing as `attention: "<reason>"`. Orders in flight
 * then still hold such results in their histories, and must flag the order exactly as they did when recorded.
 */
function hasLegacyAttention(status: PaymentStatus): boolean {
  const { attention } = status as PaymentStatus & { attention?: unknown };
  return typeof attention === 'string' && attention.length > 0;
}

/** What a signed event or a status lookup says, in one shape; a capture without amounts never matches an order. */
function outcomeOf(report: PaymentEvent | PaymentStatus): GatewayOutcome {
  const kind = 'kind' in report ? report.kind : report.state;
  switch (kind) {
    case 'captured':
      return {
        kind,
        amountMinor: report.amountMinor ?? 0,
        currency: report.currency ?? '',
        paymentReference: report.paymentReference,
      };
    case 'refunded':
      return { kind, amountMinor: report.amountMinor };
    default:
      return { kind };
  }
}
