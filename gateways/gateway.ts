// The port every payment gateway adapter implements. Activities call it; nothing else does.
import type { CustomerInfo, GatewayName, PaymentEvent } from '../contracts/order.contract';

export interface CreateIntentRequest {
  orderId: string;
  amountMinor: number;
  currency: string;
  description?: string;
  customer?: CustomerInfo;
  /** Where the payer's browser goes after the hosted page. */
  returnUrl?: string;
  /** When orderpay will expire the order; the adapter may ask the gateway for a later expiry, never an earlier one. */
  expiresAt: Date;
  /** Always the order ID: a retried call returns the same intent. */
  idempotencyKey: string;
}

export interface CreatedIntent {
  intentId: string;
  paymentUrl: string;
  /** When the gateway stops accepting payment on this intent, if it says (Khalti's expires_at); never later. */
  expiresAt?: Date;
}

export interface PaymentLookupRequest {
  orderId: string;
  intentId: string;
}

/**
 * The gateway's own view of a payment.
 * - pending: nothing final (open, processing, awaiting the payer).
 * - captured: paid; amountMinor/currency are what was captured.
 * - failed: the last attempt was declined and nothing was captured.
 * - cancelled: the intent is closed (expired/cancelled) and nothing was captured.
 * - not_found: the gateway has no such intent.
 */
export type GatewayPaymentState = 'pending' | 'captured' | 'failed' | 'cancelled' | 'not_found';

export interface PaymentStatus {
  state: GatewayPaymentState;
  amountMinor?: number;
  currency?: string;
  paymentReference?: string;
  refundedAmountMinor?: number;
  /** The gateway's raw status word, for logs and the timeline. */
  gatewayStatus: string;
  /**
   * The gateway says to hold and ask a person (Khalti's Pending, or a status word we do not know): keep polling,
   * and raise an alert.
   */
  needsAttention?: boolean;
}

export type CancelOutcome =
  /** The intent is closed and can no longer be paid. */
  | { outcome: 'cancelled' }
  /** Too late: the payment was captured first. */
  | { outcome: 'already_captured'; amountMinor: number; currency: string; paymentReference?: string };

export interface RefundRequest {
  orderId: string;
  intentId: string;
  paymentReference?: string;
  /** Deterministic (`refund-<orderId>-<seq>`); the gateway's idempotency key. */
  refundId: string;
  amountMinor: number;
  currency: string;
  reason: string;
}

export interface RefundResult {
  gatewayRefundId: string;
  state: 'pending' | 'succeeded' | 'failed';
}

export interface PaymentGateway {
  readonly name: GatewayName;
  createIntent(request: CreateIntentRequest): Promise<CreatedIntent>;
  fetchPaymentStatus(request: PaymentLookupRequest): Promise<PaymentStatus>;
  cancelIntent(request: PaymentLookupRequest): Promise<CancelOutcome>;
  refund(request: RefundRequest): Promise<RefundResult>;
}

/** A gateway webhook after its signature was checked and its payload parsed. */
export interface VerifiedWebhook {
  eventId: string;
  eventType: string;
  /** Absent when the event names no order of ours (still stored, left to reconciliation). */
  orderId?: string;
  /** Absent for event types that do not move an order. */
  paymentEvent?: PaymentEvent;
}

export interface WebhookVerifier {
  readonly gateway: GatewayName;
  /** Throws WebhookSignatureError when the signature is missing, wrong or outside the tolerance. */
  verify(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): VerifiedWebhook;
  /** Header names that carry secrets or signatures and must not be stored or logged in full. */
  readonly sensitiveHeaders: readonly string[];
}
