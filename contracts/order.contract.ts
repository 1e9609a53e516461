// The contract of the order domain, shared by the API, the worker and the workflow.
// Workflow-safe: it imports only @temporalio/workflow and declares names, types and IDs, no logic.
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const DEFAULT_ORDER_TASK_QUEUE = 'orderpay-orders';
/** The workflow type: the name `orderWorkflow` is exported under from workflows/index.ts (a wire name). */
export const ORDER_WORKFLOW_TYPE = 'orderWorkflow';

/** The order ID is the idempotency key all the way down: workflow ID, gateway key, DB keys. */
export function orderWorkflowId(orderId: string): string {
  return `order-${orderId}`;
}

/** Order IDs: the same rule as the orders.order_id CHECK constraint; also the workflow ID suffix. */
export const ORDER_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export const GATEWAY_NAMES = ['stripe', 'esewa', 'khalti'] as const;
export type GatewayName = (typeof GATEWAY_NAMES)[number];

export const ORDER_STATUSES = [
  'PENDING',
  'AWAITING_PAYMENT',
  'PAID',
  'FAILED',
  'EXPIRED',
  'CANCELLED',
  'PARTIALLY_REFUNDED',
  'REFUNDED',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface CustomerInfo {
  name?: string;
  email?: string;
  phone?: string;
}

/** How often the workflow asks the gateway for the payment status while it waits (exponential backoff). */
export interface PollPolicy {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maxIntervalMs: number;
}

export interface OrderPolicy {
  /** Time from checkout until the order expires and the intent is cancelled. */
  ttlMs: number;
  /** How long the workflow stays open after a terminal status to handle late events. */
  graceMs: number;
  poll: PollPolicy;
  /**
   * While a closed unpaid order with an intent waits out its grace window, the gateway is asked this often whether
   * a payment arrived anyway (its webhook may have been lost). Absent: DEFAULT_GRACE_POLL_INTERVAL_MS.
   */
  gracePollIntervalMs?: number;
  /**
   * History length (events) past which the workflow continues as new at its next quiescent point. Absent:
   * DEFAULT_HISTORY_EVENT_LIMIT.
   */
  historyEventLimit?: number;
  /**
   * Payment attempts an order may use before it fails with reason `too_many_attempts` (ORDER_MAX_ATTEMPTS).
   * Absent (inputs from before payment attempts): DEFAULT_MAX_PAYMENT_ATTEMPTS.
   */
  maxAttempts?: number;
}

/** The longest ORDER_TTL config accepts: a longer wait would only grow the workflow's history. */
export const MAX_ORDER_TTL_MS = 7 * 24 * 60 * 60 * 1_000;

export interface OrderWorkflowInput {
  orderId: string;
  amountMinor: number;
  currency: string;
  /** The gateway of the first payment attempt. */
  gateway: GatewayName;
  /**
   * The gateways the payer may choose from for a new attempt (POST /orders `gateways`), `gateway` among them.
   * Absent: only `gateway`.
   */
  gateways?: GatewayName[];
  description?: string;
  customer?: CustomerInfo;
  returnUrl?: string;
  /** Hash of the canonical checkout request; a different request for the same order is a conflict. */
  requestHash: string;
  policy: OrderPolicy;
  /** Absent: the order is done once paid. Inputs recorded before fulfilment confirmation existed have no field. */
  fulfilment?: FulfilmentPolicy;
  /** Set only by the workflow itself when it continues as new: where the previous run left the order. */
  resume?: OrderResumeState;
}

/**
 * The merchant confirms fulfilment of a paid order (POST /orders/:orderId/fulfilment) within timeoutMs of payment;
 * a failure, or no answer in time, refunds the payment.
 */
export interface FulfilmentPolicy {
  mode: 'confirm';
  timeoutMs: number;
}

/**
 * Where an order that asked for fulfilment confirmation stands:
 * - awaiting_payment: not paid yet, so nothing to confirm.
 * - awaiting_confirmation: paid; the merchant's answer is due by dueAt.
 * - fulfilled / failed: the merchant's answer (a failure is compensated by a refund).
 * - timed_out: no answer by dueAt; compensated by a refund.
 * - not_needed: the payment was refunded in full by other means before an answer came.
 */
export const FULFILMENT_STATUSES = [
  'awaiting_payment',
  'awaiting_confirmation',
  'fulfilled',
  'failed',
  'timed_out',
  'not_needed',
] as const;
export type FulfilmentStatus = (typeof FULFILMENT_STATUSES)[number];

export interface FulfilmentState {
  mode: 'confirm';
  status: FulfilmentStatus;
  /** Set once the order is paid: when a missing answer counts as a failure. */
  dueAt: string | null;
  /** The merchant's reason for a failed fulfilment. */
  reason: string | null;
  /** When the answer (or the timeout) was recorded. */
  answeredAt: string | null;
}

/** The merchant's answer; repeating it is harmless, contradicting it is refused (FulfilmentConflict). */
export type FulfilmentAnswer = { status: 'fulfilled' } | { status: 'failed'; reason: string };

export interface FulfilmentResult {
  orderId: string;
  fulfilment: FulfilmentState;
}

/** Everything a run of the order workflow hands to the next when it continues as new (same workflow ID). */
export interface OrderResumeState {
  state: OrderState;
  /** awaiting_payment: waiting for a payment; grace: closed, open for late events until graceEndsAtMs. */
  phase: 'awaiting_payment' | 'grace';
  expiresAtMs: number;
  nextPollAtMs: number;
  graceEndsAtMs?: number;
  nextGracePollAtMs?: number;
  lastLookupAtMs: number;
  statusCheckRequested: boolean;
  /** A cancel was handled already: a later one finds nothing to do. */
  cancelHandled: boolean;
  seenEventIds: string[];
  settledRefundRequests: string[];
  refusedRefundRequests: string[];
  settledManualRefunds: string[];
  /** Payment attempts: the gateway IDs of declined tries already recorded. Absent before payment attempts. */
  declinedFailureRefs?: string[];
  /** Payment attempts: earlier attempts' intents a payer's return named, not yet looked up. */
  hintedEarlierIntents?: string[];
  /** The intent the gateway itself closed when the order closed: nothing can be paid on it, so it is not polled. */
  intentClosedAtGateway?: string;
}

/**
 * What the gateway says about a payment, from a signed webhook, an unsigned callback or a status lookup.
 * - captured: money has been taken.
 * - failed: the payer's attempt was declined.
 * - cancelled: the intent was cancelled or expired at the gateway; no money can be taken any more.
 * - refunded: (some of) the money was returned.
 * - pending: nothing final yet.
 */
export const PAYMENT_EVENT_KINDS = ['captured', 'failed', 'cancelled', 'refunded', 'pending'] as const;
export type PaymentEventKind = (typeof PAYMENT_EVENT_KINDS)[number];

/** Why the gateway declined a payer's try: what is recorded on the attempt, never the card or the payer. */
export interface PaymentFailure {
  /** The gateway's error code (Stripe `card_declined`, eSewa/Khalti status words). */
  code: string;
  /** The issuer's reason where the gateway gives one (Stripe `decline_code`: `insufficient_funds`, ...). */
  declineCode?: string;
  /**
   * The gateway's ID of the declined try (Stripe's failed charge): a status lookup that still reports the same
   * decline after the payer tried again is recognised by it.
   */
  ref?: string;
  /**
   * No further try can be made on this intent (a Stripe session that completed, then its bank debit failed): the next
   * attempt needs a new intent, started from the pay link.
   */
  intentClosed?: boolean;
}

export interface PaymentEvent {
  /** The gateway's event ID; the de-duplication key. */
  eventId: string;
  kind: PaymentEventKind;
  /** True when the gateway signed it. Unsigned events are hints that trigger a status lookup. */
  verified: boolean;
  intentId?: string;
  /** The gateway's reference for the captured payment (what a refund is made against). */
  paymentReference?: string;
  amountMinor?: number;
  currency?: string;
  /** kind `failed`: what the gateway said about the decline, when it said anything. */
  failure?: PaymentFailure;
  occurredAt: string;
}

export interface CheckoutRequest {
  requestHash: string;
}

export interface CheckoutResult {
  orderId: string;
  status: OrderStatus;
  paymentUrl: string | null;
  intentId: string | null;
  expiresAt: string;
  failureReason: string | null;
}

export interface CancelOrderRequest {
  reason: string;
}

export interface RefundOrderRequest {
  /** Caller's idempotency key: the same key never refunds twice. */
  requestId: string;
  /** Omit for the whole refundable remainder. */
  amountMinor?: number;
  reason: string;
}

export interface RefundRecord {
  refundId: string;
  amountMinor: number;
  reason: string;
  /** awaiting_manual: the gateway has no refund API (eSewa); an operator refunds and confirms it. */
  state: 'pending' | 'awaiting_manual' | 'succeeded' | 'failed';
  requestId: string;
  /** The operator's reference at the gateway, once a manual refund was confirmed. */
  manualReference?: string;
  /**
   * Set when the refund returns another capture than the order's own (reason `duplicate_capture`): the payment it
   * was made against. Such refunds never count in the order's captured or refunded amounts.
   */
  paymentReference?: string;
}

/** An operator's word that a manual refund was made at the gateway (POST /admin/refunds/:refundId/confirm). */
export interface ConfirmManualRefundRequest {
  refundId: string;
  /** The gateway's reference of the refund the operator made (e.g. from the eSewa merchant portal). */
  reference: string;
  note?: string;
  actor: string;
}

/**
 * One try at paying an order: one intent at one gateway (a Checkout Session, an eSewa transaction UUID, a Khalti
 * pidx), or one more try on a Stripe session that stays open after a decline (same intent, next number).
 * - open: the payer may pay it now; at most one attempt of an order is open.
 * - declined: the gateway declined the payer's try (failureReason, declineCode).
 * - cancelled: the payer cancelled on the gateway's page, or the wallet reported a failure.
 * - expired: the intent expired at the gateway, or the order closed unpaid while it was open.
 * - superseded: the payer started another attempt; its intent was cancelled where the gateway allows it.
 * - paid: its capture paid the order.
 */
export const PAYMENT_ATTEMPT_STATUSES = ['open', 'declined', 'cancelled', 'expired', 'superseded', 'paid'] as const;
export type PaymentAttemptStatus = (typeof PAYMENT_ATTEMPT_STATUSES)[number];

export interface PaymentAttemptState {
  /** 1, 2, ...: part of the gateway idempotency key of every attempt after the first. */
  number: number;
  gateway: GatewayName;
  intentId: string;
  paymentUrl: string;
  status: PaymentAttemptStatus;
  /** Why it ended unpaid: payment_declined, cancelled_at_gateway, superseded, order_closed (workflows/order/payment-attempts.ts). */
  failureReason: string | null;
  /** The gateway's decline code (PaymentFailure.declineCode, else its code) for a declined attempt. */
  declineCode: string | null;
  startedAt: string;
  endedAt: string | null;
}

/** The payer asks for a (new) attempt from the order's pay link; absent gateway: the last attempt's gateway. */
export interface StartPaymentAttemptRequest {
  gateway?: GatewayName;
}

/** The open attempt the payer should go to now, or null when the order is no longer payable (status says why). */
export interface StartPaymentAttemptResult {
  orderId: string;
  status: OrderStatus;
  attempt: PaymentAttemptState | null;
}

export interface TimelineEntry {
  at: string;
  status: OrderStatus;
  reason: string;
}

export interface OrderState {
  orderId: string;
  gateway: GatewayName;
  status: OrderStatus;
  amountMinor: number;
  currency: string;
  intentId: string | null;
  paymentUrl: string | null;
  paymentReference: string | null;
  expiresAt: string;
  capturedAmountMinor: number;
  refundedAmountMinor: number;
  refunds: RefundRecord[];
  failureReason: string | null;
  needsAttention: boolean;
  pollCount: number;
  timeline: TimelineEntry[];
  /** Present only for orders that asked for fulfilment confirmation. */
  fulfilment?: FulfilmentState;
  /**
   * Every payment attempt, oldest first. Absent for runs started before payment attempts existed (one intent,
   * and a decline failed the order). `gateway`, `intentId` and `paymentUrl` above follow the latest attempt.
   */
  attempts?: PaymentAttemptState[];
}

export const paymentEventSignal = defineSignal<[PaymentEvent]>('paymentEventSignal');
export const orderStateQuery = defineQuery<OrderState>('orderStateQuery');
/** Started together with the workflow (update-with-start); returns once the intent exists or checkout failed. */
export const checkoutUpdate = defineUpdate<CheckoutResult, [CheckoutRequest]>('checkoutUpdate');
/**
 * An unsigned payment event (a hint): it only asks for a status lookup. The validator rejects, with type
 * RedundantRequest and without a trace in the history, a hint that cannot change anything (a lookup is already
 * due, the event was seen, or no lookup could change the order); the sender counts that as delivered.
 */
export const paymentHintUpdate = defineUpdate<void, [PaymentEvent]>('paymentHintUpdate');
/** Before payment: cancel. After payment: full refund. */
export const cancelOrderUpdate = defineUpdate<OrderState, [CancelOrderRequest]>('cancelOrderUpdate');
export const refundOrderUpdate = defineUpdate<OrderState, [RefundOrderRequest]>('refundOrderUpdate');
/** Delivers the confirmation a manual refund waits for; confirming twice is harmless. */
export const confirmManualRefundUpdate = defineUpdate<OrderState, [ConfirmManualRefundRequest]>(
  'confirmManualRefundUpdate',
);

/**
 * The merchant's fulfilment answer for a paid order that asked for confirmation. Returns once the answer is recorded;
 * a failure's refund follows. Refused with FulfilmentConflict when another answer (or the timeout) came first.
 */
/**
 * The payer asks to pay from the order's pay link: answers with the open attempt, or starts a new one (a new intent,
 * after cancelling an open one at another gateway). Refused (InvalidTransition, GatewayNotAllowed) when the order
 * is not awaiting payment or the gateway is not one the order allows.
 */
export const startPaymentAttemptUpdate = defineUpdate<StartPaymentAttemptResult, [StartPaymentAttemptRequest]>(
  'startPaymentAttemptUpdate',
);

export const fulfilmentUpdate = defineUpdate<FulfilmentResult, [FulfilmentAnswer]>('fulfilmentUpdate');

/**
 * Every ApplicationFailure type of the order domain: update rejections the API maps to HTTP errors, and activity
 * failures the workflow branches on. All are non-retryable except where noted.
 */
export const ORDER_ERROR_TYPES = {
  idempotencyConflict: 'IdempotencyConflict',
  invalidTransition: 'InvalidTransition',
  refundExceedsCaptured: 'RefundExceedsCaptured',
  gatewayRejected: 'GatewayRejected',
  orderRecordConflict: 'OrderRecordConflict',
  orderNotFound: 'OrderNotFound',
  refundRecordConflict: 'RefundRecordConflict',
  /** The database refused the values (constraint or data error): the same input would be refused again. */
  invalidOrderData: 'InvalidOrderData',
  /** A request that could not change anything (a hint while a lookup is due, a repeated cancel): nothing to do. */
  redundantRequest: 'RedundantRequest',
  /** A payment attempt at a gateway the order does not allow. */
  gatewayNotAllowed: 'GatewayNotAllowed',
  /** A fulfilment answer that contradicts the one recorded (or the timeout). */
  fulfilmentConflict: 'FulfilmentConflict',
  /** Retryable: the gateway accepted the refund but has not settled it. */
  refundPending: 'RefundPending',
  /** Retryable: network failure, timeout, 5xx or 429 at the gateway. */
  gatewayUnavailable: 'GatewayUnavailable',
} as const;

export const orderSearchAttributes = {
  orderStatus: defineSearchAttributeKey('OrderStatus', 'KEYWORD'),
  gateway: defineSearchAttributeKey('Gateway', 'KEYWORD'),
  orderId: defineSearchAttributeKey('OrderId', 'KEYWORD'),
  amountMinor: defineSearchAttributeKey('AmountMinor', 'INT'),
  currency: defineSearchAttributeKey('Currency', 'KEYWORD'),
  expiresAt: defineSearchAttributeKey('ExpiresAt', 'DATETIME'),
  needsAttention: defineSearchAttributeKey('NeedsAttention', 'BOOL'),
} as const;
