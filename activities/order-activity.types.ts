// The activity contract of the order workflow. The workflow imports these as types only; the
// implementation (createOrderActivities) satisfies OrderActivities. Function names are wire names.
import type {
  ConfirmManualRefundRequest,
  GatewayName,
  OrderStatus,
  OrderWorkflowInput,
} from '../contracts/order.contract';
import type {
  CancelOutcome,
  CreatedIntent,
  PaymentLookupRequest,
  PaymentStatus,
  RefundRequest,
} from '../gateways/gateway';

/** The order as checked out, with its expiry (ISO time) computed by the workflow. */
export type RecordOrderInput = Omit<OrderWorkflowInput, 'policy'> & { expiresAt: string };

export type CreatePaymentIntentInput = Omit<RecordOrderInput, 'requestHash'>;

/** The intent as the workflow gets it: a gateway expiry travels as ISO text, like every time in activity payloads. */
export type CreatePaymentIntentResult = Omit<CreatedIntent, 'expiresAt'> & { expiresAt?: string };

/** Activities that call a gateway name it, so the worker can route to the adapter. */
export type PaymentLookupInput = PaymentLookupRequest & { gateway: GatewayName };

/** refundId is `refund-<orderId>-<seq>`: the refunds row key and the gateway idempotency key. */
export type RefundPaymentInput = RefundRequest & {
  gateway: GatewayName;
  /** The capture the refund is made against (the order's captured amount); checked with the ledger before the call. */
  capturedAmountMinor?: number;
};

export interface RefundPaymentResult {
  gatewayRefundId: string;
  /**
   * Final states, or awaiting_manual when the gateway has no refund API (the workflow then waits for an operator's
   * confirmation). A gateway "pending" is retried by the activity until it settles.
   */
  state: 'succeeded' | 'failed' | 'awaiting_manual';
}

/** The operator's confirmation of a manual refund, as the workflow received it; `at` is workflow time. */
export type RecordManualRefundInput = ConfirmManualRefundRequest & { orderId: string; at: string };

/** Column changes that ride along with a status transition. Amounts are absolute values, so retries are safe. */
export interface OrderChanges {
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
}

export interface TransitionOrderResult {
  /** False when the row was already in `to` (a retried activity): nothing was written again. */
  applied: boolean;
  status: OrderStatus;
}

export interface OrderActivities {
  /** INSERT … ON CONFLICT DO NOTHING with the PENDING timeline entry; a different request hash is non-retryable. */
  recordOrder(input: RecordOrderInput): Promise<{ created: boolean }>;
  /** Creates the intent with the order ID as idempotency key and records the attempt. */
  createPaymentIntent(input: CreatePaymentIntentInput): Promise<CreatePaymentIntentResult>;
  fetchPaymentStatus(input: PaymentLookupInput): Promise<PaymentStatus>;
  cancelPaymentIntent(input: PaymentLookupInput): Promise<CancelOutcome>;
  refundPayment(input: RefundPaymentInput): Promise<RefundPaymentResult>;
  /** Marks an awaiting_manual refund as made, with the operator's reference; a repeat changes nothing. */
  recordManualRefund(input: RecordManualRefundInput): Promise<{ applied: boolean }>;
  /** Conditional UPDATE on the expected prior status plus a timeline row, in one transaction. */
  transitionOrder(input: TransitionOrderInput): Promise<TransitionOrderResult>;
}
