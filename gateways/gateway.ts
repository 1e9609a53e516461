// The port every payment gateway adapter implements. Activities call it; nothing else does.
import type { CustomerInfo, GatewayName, PaymentEvent, PaymentFailure } from '../contracts/order.contract';

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
  /** paymentAttemptKey(orderId, attemptNumber): a retried call returns the same intent. */
  idempotencyKey: string;
  /** Which attempt of the order this intent serves; absent: the first. eSewa's transaction UUID carries it. */
  attemptNumber?: number;
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
  /** The order's amount and currency; gateways whose lookup is keyed by the amount (eSewa) need them. */
  amountMinor?: number;
  currency?: string;
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
  /** state `failed` (a declined try) or `cancelled` (a wallet's status word): what the gateway said. */
  failure?: PaymentFailure;
  /**
   * The gateway says to hold and ask a person (Khalti's Pending, or a status word we do not know): keep polling,
   * and raise an alert.
   */
  needsAttention?: boolean;
}

export type CancelOutcome =
  /**
   * The intent can no longer be paid through orderpay. `closedAtGateway`: the gateway itself closed it, so no payment
   * can ever arrive on it (Stripe's expired session); absent where the gateway has no such close (eSewa, Khalti), and
   * a payment the payer completed meanwhile may still come.
   */
  | { outcome: 'cancelled'; closedAtGateway?: true }
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
  /**
   * The gateway's refund ID from an earlier answer for this refund. When set, the adapter looks the refund up and
   * never creates it again: the gateway may have forgotten the idempotency key (Stripe keeps them 24 hours).
   */
  gatewayRefundId?: string;
  /**
   * What orderpay refunded on this payment before this refund (succeeded refunds, minor units). Gateways that keep
   * no refund IDs (Khalti) compare it with what they say is refunded to tell whether this refund already happened.
   */
  refundedBeforeMinor?: number;
  /**
   * True when an earlier attempt of this refund may have reached the gateway (its answer was lost, or the worker
   * died before recording it); false when the gateway has certainly never seen it. Absent counts as true.
   */
  previouslyAttempted?: boolean;
}

export interface RefundResult {
  /** The gateway's own reference (see RefundRow.gatewayRefundId in db/refunds/refunds.repo.ts for what each one is). */
  gatewayRefundId: string;
  /** awaiting_manual: the gateway has no refund API; an operator refunds by hand and confirms (admin API). */
  state: 'pending' | 'awaiting_manual' | 'succeeded' | 'failed';
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

/**
 * A payer's browser coming back from a wallet (eSewa success/failure redirect, Khalti return_url), as the API saw
 * it: `GET /callbacks/<gateway>/<path...>?<query>`.
 */
export interface IncomingCallback {
  /** The path segments after `/callbacks/<gateway>/` (`['success']`, `['failure', '<transaction_uuid>']`, `[]`). */
  path: readonly string[];
  /** Query parameters; a repeated parameter keeps its first value. */
  query: Readonly<Record<string, string>>;
}

/** What a callback says, once its handler has checked what it can. */
export interface ParsedCallback {
  /** Deterministic: the same redirect loaded twice has the same ID (the webhook_events de-duplication key). */
  eventId: string;
  eventType: string;
  orderId: string;
  /**
   * Signed callbacks (eSewa success) carry a verified event; unsigned ones (eSewa failure, every Khalti return) an
   * unverified hint, which makes the workflow ask the gateway's status API.
   */
  paymentEvent: PaymentEvent;
  /** What to tell the payer: only a verified capture is "paid"; a hint is "processing" or "failed". */
  payerOutcome: 'paid' | 'processing' | 'failed';
}

export interface CallbackHandler {
  readonly gateway: GatewayName;
  /**
   * Throws WebhookSignatureError when a signed callback's signature is missing or wrong, and WebhookPayloadError
   * when the callback cannot be read or names no order of ours. Never contacts the gateway.
   */
  parse(callback: IncomingCallback): ParsedCallback;
}
