// The Stripe objects the sandbox serves, in Stripe's own wire shape (snake_case, `object` discriminators, unix
// seconds, integer minor units, lower-case currencies), so the official SDK and real webhook consumers work
// against it unchanged. Only the fields orderpay and the hosted page need are modelled.
import { randomBytes } from 'node:crypto';

export type Metadata = Record<string, string>;

export interface CheckoutSessionObject {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number;
  amount_total: number;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string;
  customer_email: string | null;
  expires_at: number;
  livemode: false;
  metadata: Metadata;
  mode: 'payment';
  /** Created when the payer first submits the page, as in Stripe's current API versions. */
  payment_intent: string | null;
  /** What the page offers: `allowed_payment_method_types`, or the sandbox's "Dashboard" set when none was given. */
  payment_method_types: string[];
  payment_status: 'unpaid' | 'paid';
  status: 'open' | 'complete' | 'expired';
  success_url: string;
  url: string | null;
}

export interface PaymentErrorObject {
  type: 'card_error';
  code: string;
  /** The issuer's reason; Stripe omits it for errors that are not issuer declines (incorrect_cvc, expired_card). */
  decline_code?: string;
  /** The failed charge of this try: Stripe makes one per declined try, so each try has its own ID. */
  charge?: string;
  message: string;
}

/**
 * The declines the hosted page offers, with the code, decline_code and message Stripe gives each (its test cards
 * 4000000000000002, …9995, …0127 and …0069).
 */
export const DECLINE_REASONS = {
  generic_decline: { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' },
  insufficient_funds: {
    code: 'card_declined',
    decline_code: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
  incorrect_cvc: { code: 'incorrect_cvc', message: "Your card's security code is incorrect." },
  expired_card: { code: 'expired_card', message: 'Your card has expired.' },
} as const satisfies Record<string, Omit<PaymentErrorObject, 'type' | 'charge'>>;
export type DeclineReason = keyof typeof DECLINE_REASONS;
export const DEFAULT_DECLINE_REASON: DeclineReason = 'generic_decline';

export function isDeclineReason(value: unknown): value is DeclineReason {
  return typeof value === 'string' && Object.hasOwn(DECLINE_REASONS, value);
}

export interface PaymentIntentObject {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  canceled_at: number | null;
  cancellation_reason: string | null;
  created: number;
  currency: string;
  last_payment_error: PaymentErrorObject | null;
  latest_charge: string | null;
  livemode: false;
  metadata: Metadata;
  /** processing: a delayed method (bank debit) was submitted; it succeeds or fails later. */
  status: 'requires_payment_method' | 'processing' | 'succeeded' | 'canceled';
}

export interface ChargeObject {
  id: string;
  object: 'charge';
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  captured: boolean;
  created: number;
  currency: string;
  livemode: false;
  metadata: Metadata;
  paid: boolean;
  payment_intent: string;
  refunded: boolean;
  /** failed: a declined try; it moved no money and cannot be refunded. */
  status: 'succeeded' | 'failed';
  /** A failed charge's error code and message, as in the payment intent's last_payment_error; null otherwise. */
  failure_code?: string | null;
  failure_message?: string | null;
}

export interface RefundObject {
  id: string;
  object: 'refund';
  amount: number;
  charge: string;
  created: number;
  currency: string;
  metadata: Metadata;
  payment_intent: string;
  reason: string | null;
  /** pending until settled through POST /_sandbox/refunds/:id/settle when the refundsPending fault is on. */
  status: 'pending' | 'succeeded' | 'failed' | 'canceled';
}

export type EventDataObject = CheckoutSessionObject | PaymentIntentObject | ChargeObject | RefundObject;

export interface EventObject {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: EventDataObject };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

/** The API version the sandbox claims in events; the SDK does not check it. */
export const SANDBOX_API_VERSION = '2025-01-27.acacia';

/** Stripe-looking IDs (`cs_test_…`, `pi_…`): unique, unguessable, and easy to tell apart in logs. */
export function newObjectId(prefix: 'cs_test' | 'pi' | 'ch' | 're' | 'evt' | 'req'): string {
  return `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
}

/** Stripe's error body. `code` and `param` are omitted when Stripe would omit them. */
export interface StripeErrorBody {
  error: { type: string; message: string; code?: string; param?: string };
}

/**
 * An error a /v1 handler answers with. `replayable` follows Stripe's idempotency rule: an answer is stored for
 * the key once the request started executing; a request refused during parameter validation is not stored.
 */
export class SandboxApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: 'invalid_request_error' | 'api_error' | 'idempotency_error',
    message: string,
    readonly details: { code?: string; param?: string; replayable?: boolean } = {},
  ) {
    super(message);
  }

  get replayable(): boolean {
    return this.details.replayable ?? true;
  }

  toBody(): StripeErrorBody {
    const { code, param } = this.details;
    return {
      error: {
        type: this.type,
        message: this.message,
        ...(code === undefined ? {} : { code }),
        ...(param === undefined ? {} : { param }),
      },
    };
  }
}

export function resourceMissing(kind: string, id: string, param = 'id'): SandboxApiError {
  return new SandboxApiError(404, 'invalid_request_error', `No such ${kind}: '${id}'`, {
    code: 'resource_missing',
    param,
  });
}

export function invalidParameter(param: string, message: string, code = 'parameter_invalid'): SandboxApiError {
  return new SandboxApiError(400, 'invalid_request_error', message, { code, param, replayable: false });
}

/**
 * Payment methods that do not settle while the payer is on the page (bank debits, vouchers): a session paid with one
 * completes unpaid, and checkout.session.async_payment_succeeded or _failed follows later.
 */
export const DELAYED_PAYMENT_METHOD_TYPES: readonly string[] = [
  'acss_debit',
  'au_becs_debit',
  'bacs_debit',
  'boleto',
  'customer_balance',
  'konbini',
  'oxxo',
  'sepa_debit',
  'us_bank_account',
];

/** What a session offers when created without allowed_payment_method_types: like a Dashboard with ACH turned on. */
export const SANDBOX_DASHBOARD_PAYMENT_METHOD_TYPES: readonly string[] = ['card', 'us_bank_account'];
