// The activity contract of the order workflow. The workflow imports these as types only; the
// implementation (createOrderActivities) satisfies OrderActivities. Function names are wire names.
import type { CustomerInfo, GatewayName, OrderStatus } from '../contracts/order.contract';
import type { CancelOutcome, CreatedIntent, PaymentStatus } from '../gateways/gateway';

export interface RecordOrderInput {
  orderId: string;
  amountMinor: number;
  currency: string;
  gateway: GatewayName;
  description?: string;
  customer?: CustomerInfo;
  returnUrl?: string;
  requestHash: string;
  expiresAt: string;
}

export interface CreatePaymentIntentInput {
  orderId: string;
  gateway: GatewayName;
  amountMinor: number;
  currency: string;
  description?: string;
  customer?: CustomerInfo;
  returnUrl?: string;
  expiresAt: string;
}

export interface PaymentLookupInput {
  orderId: string;
  gateway: GatewayName;
  intentId: string;
}

export interface RefundPaymentInput {
  orderId: string;
  gateway: GatewayName;
  intentId: string;
  paymentReference?: string;
  /** `refund-<orderId>-<seq>`: the refunds row key and the gateway idempotency key. */
  refundId: string;
  amountMinor: number;
  currency: string;
  reason: string;
}

export interface RefundPaymentResult {
  gatewayRefundId: string;
  /** Only final states: a gateway "pending" is retried by the activity until it settles. */
  state: 'succeeded' | 'failed';
}

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
  createPaymentIntent(input: CreatePaymentIntentInput): Promise<CreatedIntent>;
  fetchPaymentStatus(input: PaymentLookupInput): Promise<PaymentStatus>;
  cancelPaymentIntent(input: PaymentLookupInput): Promise<CancelOutcome>;
  refundPayment(input: RefundPaymentInput): Promise<RefundPaymentResult>;
  /** Conditional UPDATE on the expected prior status plus a timeline row, in one transaction. */
  transitionOrder(input: TransitionOrderInput): Promise<TransitionOrderResult>;
}
