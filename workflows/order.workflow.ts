// The order workflow: one per order, ID `order-<orderId>`. It records the order, creates the payment intent,
// then waits for a payment event, a status poll, the TTL or a cancel request, and compensates with refunds.
// Handlers only enqueue work; the main loop does every side effect, one at a time, so no two activities of an
// order ever race each other.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { OrderActivities, OrderChanges } from '../activities/order-activity.types';
import type { PaymentStatus } from '../gateways/gateway';
import {
  ORDER_ERROR_TYPES,
  cancelOrderUpdate,
  checkoutUpdate,
  confirmManualRefundUpdate,
  orderSearchAttributes,
  orderStateQuery,
  paymentEventSignal,
  refundOrderUpdate,
  type CheckoutResult,
  type ConfirmManualRefundRequest,
  type OrderState,
  type OrderStatus,
  type OrderWorkflowInput,
  type PaymentEvent,
  type RefundOrderRequest,
  type RefundRecord,
} from '../contracts/order.contract';
import { CLOSED_UNPAID_STATUSES, REFUNDABLE_STATUSES, statusesLeadingTo } from '../domain/order-status';
import { pollDelayMs } from '../domain/poll-schedule';

// Business failures never retry; everything else (DB or gateway outages) retries with backoff.
const NON_RETRYABLE = [
  ORDER_ERROR_TYPES.orderRecordConflict,
  ORDER_ERROR_TYPES.invalidTransition,
  ORDER_ERROR_TYPES.gatewayRejected,
  ORDER_ERROR_TYPES.orderNotFound,
  ORDER_ERROR_TYPES.refundRecordConflict,
  ORDER_ERROR_TYPES.invalidOrderData,
];

/** Database writes: retried until the database is back, because the order must be recorded. */
const db = proxyActivities<Pick<OrderActivities, 'recordOrder' | 'transitionOrder' | 'recordManualRefund'>>({
  startToCloseTimeout: '10s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
});

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
const refunds = proxyActivities<Pick<OrderActivities, 'refundPayment'>>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m', nonRetryableErrorTypes: NON_RETRYABLE },
});

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
  /** Shortened once if the gateway's intent expires before orderpay's TTL (Khalti's expires_at). */
  let expiresAtMs = Date.now() + policy.ttlMs;
  const state: OrderState = {
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
  const seenEventIds: string[] = [];
  let statusCheckRequested = false;
  let checkoutSettled = false;
  let cancelRequested: { reason: string } | undefined;
  let cancelHandled = false;
  /** False once the grace window has closed: later requests are rejected instead of waiting forever. */
  let acceptingRequests = true;
  const refundQueue: PendingRefund[] = [];
  const settledRefundRequests = new Set<string>();
  /** Operators' confirmations of manual refunds, by refund ID; a refund awaiting_manual waits for its entry. */
  const manualConfirmations = new Map<string, ConfirmManualRefundRequest>();
  /** Manual refunds whose confirmation has been recorded and counted. */
  const settledManualRefunds = new Set<string>();
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
    if (seenEventIds.includes(event.eventId)) return;
    seenEventIds.push(event.eventId);
    if (seenEventIds.length > SEEN_EVENT_LIMIT) seenEventIds.shift();
    if (event.verified) inbox.push(event);
    // An unsigned event is only a hint: the gateway's own status lookup decides.
    else statusCheckRequested = true;
  });

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
      },
    },
  );

  setHandler(
    refundOrderUpdate,
    async (request) => {
      if (settledRefundRequests.has(request.requestId)) return state;
      if (!refundQueue.some((queued) => queued.request.requestId === request.requestId)) {
        refundQueue.push({ request, amountMinor: request.amountMinor ?? refundableRemainder() });
      }
      await condition(() => settledRefundRequests.has(request.requestId));
      return state;
    },
    {
      validator: (request) => {
        if (
          settledRefundRequests.has(request.requestId) ||
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
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.refundExceedsCaptured,
            message: `refund of ${amount} exceeds the refundable ${refundableRemainder()}`,
            nonRetryable: true,
          });
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

  function refundableRemainder(): number {
    const queued = refundQueue.reduce((sum, r) => sum + r.amountMinor, 0);
    return state.capturedAmountMinor - state.refundedAmountMinor - queued;
  }

  // ---- The process. ----
  upsertSearchAttributes([
    { key: orderSearchAttributes.orderId, value: orderId },
    { key: orderSearchAttributes.gateway, value: input.gateway },
    { key: orderSearchAttributes.amountMinor, value: input.amountMinor },
    { key: orderSearchAttributes.currency, value: input.currency },
    { key: orderSearchAttributes.expiresAt, value: new Date(expiresAtMs) },
    { key: orderSearchAttributes.orderStatus, value: state.status },
    { key: orderSearchAttributes.needsAttention, value: false },
  ]);

  await db.recordOrder({
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

  await startPayment();
  await awaitPayment();
  await stayOpenForLateEvents();

  await condition(allHandlersFinished);
  return state;

  // ---- Steps. ----

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
      const reason =
        failureType(error) === ORDER_ERROR_TYPES.gatewayRejected ? 'intent_rejected' : 'intent_unavailable';
      log.warn('payment intent could not be created', { orderId, reason });
      state.failureReason = reason;
      await transition('FAILED', reason, { failureReason: reason });
    } finally {
      checkoutSettled = true;
    }
  }

  async function awaitPayment(): Promise<void> {
    let nextPollAtMs = Date.now() + pollDelayMs(policy.poll, 0);
    while (state.status === 'AWAITING_PAYMENT') {
      const wakeAtMs = Math.min(nextPollAtMs, expiresAtMs);
      await condition(
        () => inbox.length > 0 || statusCheckRequested || cancelRequested !== undefined,
        Math.max(wakeAtMs - Date.now(), 1),
      );
      const event = inbox.shift();
      if (event) {
        await applyOutcome(outcomeOf(event), `webhook:${event.kind}`);
      } else if (cancelRequested) {
        await cancelBeforePayment(cancelRequested.reason);
      } else if (statusCheckRequested) {
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
        await refundCaptured(refund.amountMinor, refund.request.reason, refund.request.requestId);
        refundQueue.shift();
        settledRefundRequests.add(refund.request.requestId);
      } else if (cancelRequested && !cancelHandled) {
        await cancelAfterClose(cancelRequested.reason);
      } else if (statusCheckRequested) {
        statusCheckRequested = false;
        await pollStatus('hint');
      }
    }
    // Nothing is queued (the loop drains before it sleeps); from here on requests are refused.
    acceptingRequests = false;
    cancelHandled = true;
  }

  async function pollStatus(trigger: 'poll' | 'hint'): Promise<void> {
    if (!state.intentId) return;
    state.pollCount += 1;
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

  /** Refunds `amountMinor` of the captured money with a deterministic refund ID, then records the new status. */
  async function refundCaptured(amountMinor: number, reason: string, requestId?: string): Promise<void> {
    if (amountMinor <= 0 || !state.intentId) return;
    const refundId = `refund-${orderId}-${state.refunds.length + 1}`;
    const record: RefundRecord = { refundId, amountMinor, reason, state: 'pending', requestId: requestId ?? refundId };
    state.refunds.push(record);
    const index = state.refunds.length - 1;
    let outcome: 'succeeded' | 'failed' | 'awaiting_manual';
    try {
      const result = await refunds.refundPayment({
        orderId,
        gateway: input.gateway,
        intentId: state.intentId,
        paymentReference: state.paymentReference ?? undefined,
        // What this payment captured: the refund's ledger check needs it when the order row does not hold the
        // capture yet (a late capture after the order closed unpaid, a capture of the wrong amount).
        capturedAmountMinor: state.capturedAmountMinor,
        refundId,
        amountMinor,
        currency: input.currency,
        reason,
      });
      // Stop-gap until the workflow handles a refund returned still pending (past REFUND_PENDING_LIMIT): it is not
      // refunded, so it is flagged like a failed one rather than counted.
      outcome = result.state === 'pending' ? 'failed' : result.state;
    } catch (error) {
      if (isCancellation(error)) throw error;
      outcome = 'failed';
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
      return;
    }
    state.refundedAmountMinor += amountMinor;
    const fullyRefunded = state.refundedAmountMinor >= state.capturedAmountMinor;
    await transition(fullyRefunded ? 'REFUNDED' : 'PARTIALLY_REFUNDED', `refund_succeeded:${reason}`, {
      refundedAmountMinor: state.refundedAmountMinor,
      capturedAmountMinor: state.capturedAmountMinor,
      paymentReference: state.paymentReference ?? undefined,
    });
    if (record.manualReference !== undefined) settledManualRefunds.add(refundId);
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

/** The failure type of an activity error (ApplicationFailure.type), for branching without instanceof. */
function failureType(error: unknown): string | undefined {
  const cause = (error as { cause?: { type?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.type === 'string') return cause.type;
  return error instanceof ApplicationFailure ? (error.type ?? undefined) : undefined;
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
