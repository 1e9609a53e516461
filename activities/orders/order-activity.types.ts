// The activity contract of the order workflow. The workflow imports these as types only; the
// implementation (createOrderActivities) satisfies OrderActivities. Function names are wire names.
import type {
  ConfirmManualRefundRequest,
  FulfilmentStatus,
  GatewayName,
  OrderStatus,
  OrderWorkflowInput,
  PaymentAttemptState,
} from '../../contracts/order.contract';
import type {
  CancelOutcome,
  CreatedIntent,
  PaymentLookupRequest,
  PaymentStatus,
  RefundRequest,
} from '../../gateways/gateway';

/** The order as checked out, with its expiry (ISO time) computed by the workflow. */
export type RecordOrderInput = Omit<OrderWorkflowInput, 'policy'> & {
  expiresAt: string;
  /** The workflow run recording the order, stored with the row (absent from inputs recorded before). */
  workflowRunId?: string;
};

export type CreatePaymentIntentInput = Omit<RecordOrderInput, 'requestHash' | 'workflowRunId'> & {
  /**
   * Which attempt (absent: the first, as in histories from before attempts). The intent is created with
   * paymentAttemptKey(orderId, attemptNumber) and recorded as that attempt; a retry returns the recorded intent and
   * never creates a second one at the gateway.
   */
  attemptNumber?: number;
};

/** The intent as the workflow gets it: a gateway expiry travels as ISO text, like every time in activity payloads. */
export type CreatePaymentIntentResult = Omit<CreatedIntent, 'expiresAt'> & { expiresAt?: string };

/**
 * The checkout's payment in one call: its first attempt's intent is created (as createPaymentIntent) and the order
 * moves to AWAITING_PAYMENT with it, its expiry brought forward to the intent's when that comes first.
 */
export interface StartPaymentInput {
  intent: CreatePaymentIntentInput;
  /** Workflow time of the transition and the attempt's start. */
  at: string;
}

/** Activities that call a gateway name it, so the worker can route to the adapter. */
export type PaymentLookupInput = PaymentLookupRequest & { gateway: GatewayName };

/**
 * refundId is `refund-<orderId>-<seq>`: the refunds row key and the gateway idempotency key. paymentReference names
 * the payment refunded: absent or the order's own for the order's capture, another one for a second (duplicate)
 * capture of the same order. The activity fills the gateway-only fields of RefundRequest itself.
 */
export type RefundPaymentInput = Omit<
  RefundRequest,
  'gatewayRefundId' | 'refundedBeforeMinor' | 'previouslyAttempted'
> & {
  gateway: GatewayName;
  /**
   * What the payment being refunded captured, as the workflow knows it. Needed for a payment the order row does not
   * hold: a late capture after the order closed unpaid (recorded on the order row by the refund), or a second capture.
   */
  capturedAmountMinor?: number;
  /**
   * The request this refund answers (`admin:<Idempotency-Key>`, or the refund ID for a refund the workflow made on
   * its own), stored with the refund so the same request after the order workflow closed finds it.
   */
  requestId?: string;
};

export interface RefundPaymentResult {
  /** The gateway's own reference (Stripe re_…, Khalti transaction_id; eSewa: `manual-<refundId>` until confirmed). */
  gatewayRefundId: string;
  /**
   * Final states, or awaiting_manual when the gateway has no refund API (the workflow then waits for an operator's
   * confirmation). A gateway "pending" is retried by the activity until it settles or until it has been pending for
   * REFUND_PENDING_LIMIT; then it is returned as `pending` (the workflow flags the order for a person).
   */
  state: 'succeeded' | 'failed' | 'awaiting_manual' | 'pending';
}

/** The operator's confirmation of a manual refund, as the workflow received it; `at` is workflow time. */
export type RecordManualRefundInput = ConfirmManualRefundRequest & { orderId: string; at: string };

/** Column changes that ride along with a status transition. Amounts are absolute values, so retries are safe. */
export interface OrderChanges {
  /** The order row follows its latest attempt's gateway (a payer may switch wallets). */
  gateway?: GatewayName;
  intentId?: string;
  paymentUrl?: string;
  paymentReference?: string;
  capturedAmountMinor?: number;
  refundedAmountMinor?: number;
  failureReason?: string;
  needsAttention?: boolean;
  paidAt?: string;
  /** A gateway expiry earlier than the requested one (Khalti's expires_at). */
  expiresAt?: string;
  /** Fulfilment confirmation (orders that asked for it): where the merchant's answer stands. */
  fulfilmentStatus?: FulfilmentStatus;
  fulfilmentDueAt?: string;
  fulfilmentReason?: string;
  fulfilmentAnsweredAt?: string;
}

export interface TransitionOrderInput {
  orderId: string;
  /** The update applies only while the row is in one of these statuses. */
  from: OrderStatus[];
  to: OrderStatus;
  reason: string;
  /** Workflow time of the transition (deterministic), stored in the timeline. */
  at: string;
  changes?: OrderChanges;
  /**
   * The payment attempt this transition started or ended, upserted by (order, number) in the same transaction. A
   * transition that changes only an attempt (a declined try while the order keeps awaiting payment) is applied when
   * the attempt row changed, so a retry writes no second timeline row.
   */
  attempt?: PaymentAttemptState;
}

export interface TransitionOrderResult {
  /** False when the row was already in `to` (a retried activity): nothing was written again. */
  applied: boolean;
  status: OrderStatus;
}

export interface RecordOrderResult {
  created: boolean;
  status?: OrderStatus;
  /**
   * When the row was there already: its expiry. A first workflow task that timed out after its local recordOrder
   * (the worker was killed) is run again with a later clock; the row written by the first try keeps its expiry.
   */
  expiresAt?: string;
  /**
   * True when the row was recorded by this same workflow run and has moved to AWAITING_PAYMENT: a try of the run's
   * first workflow task that was then discarded (its worker killed, its completion refused) had already started the
   * payment, and this try goes on from there (its steps find their effects recorded). Absent in results recorded
   * before, and for a row another run left.
   */
  recordedByThisRun?: boolean;
}

/**
 * What the gateway said at expiry. `cancel` is absent exactly when the final status showed a capture (there was
 * nothing to cancel); `finalStatus` is absent when the status could not be fetched, in which case the cancel went
 * ahead regardless, since every gateway's cancel reports a capture that won the race.
 */
export interface ClosePaymentAtExpiryResult {
  finalStatus?: PaymentStatus;
  cancel?: CancelOutcome;
}

export interface OrderActivities {
  /** INSERT … ON CONFLICT DO NOTHING with the PENDING timeline entry; a different request hash is non-retryable. */
  /** When the row already existed, `status` is its current status (results recorded before it had none). */
  recordOrder(input: RecordOrderInput): Promise<RecordOrderResult>;
  /** Creates the intent with the order ID as idempotency key and records the attempt. */
  createPaymentIntent(input: CreatePaymentIntentInput): Promise<CreatePaymentIntentResult>;
  /** createPaymentIntent, then the transition to AWAITING_PAYMENT with the attempt it opened, in one activity. */
  startPayment(input: StartPaymentInput): Promise<CreatePaymentIntentResult>;
  fetchPaymentStatus(input: PaymentLookupInput): Promise<PaymentStatus>;
  cancelPaymentIntent(input: PaymentLookupInput): Promise<CancelOutcome>;
  /** The expiry's close at the gateway in one call: the final status check, then the cancel unless it was paid. */
  closePaymentAtExpiry(input: PaymentLookupInput): Promise<ClosePaymentAtExpiryResult>;
  refundPayment(input: RefundPaymentInput): Promise<RefundPaymentResult>;
  /** Marks an awaiting_manual refund as made, with the operator's reference; a repeat changes nothing. */
  recordManualRefund(input: RecordManualRefundInput): Promise<{ applied: boolean }>;
  /** Conditional UPDATE on the expected prior status plus a timeline row, in one transaction. */
  transitionOrder(input: TransitionOrderInput): Promise<TransitionOrderResult>;
}
