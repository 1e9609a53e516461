// The PaymentGateway port over Stripe's hosted Checkout, through the official SDK. The API base is configurable,
// so the same code talks to api.stripe.com or to the sandbox (sandbox/), which speaks the same subset.
import Stripe from 'stripe';
import { z } from 'zod';
import type {
  CancelOutcome,
  CreatedIntent,
  CreateIntentRequest,
  PaymentGateway,
  PaymentLookupRequest,
  PaymentStatus,
  RefundRequest,
  RefundResult,
} from '../gateway';
import { httpUrlSchema, timeoutMsSchema } from '../gateway-options.schema';
import { GatewayRejectedError, GatewayUnavailableError } from '../gateway-errors';
import { toGatewayError } from './stripe.errors';
import {
  orderIdOfSession,
  paymentFailureOf,
  paymentIntentIdOf,
  stripeCheckoutSessionSchema,
  stripeRefundSchema,
  type StripeCheckoutSession,
} from './stripe.schemas';

export interface StripeGatewayOptions {
  /** Scheme, host and port only, e.g. https://api.stripe.com or http://127.0.0.1:12111; the SDK adds /v1. */
  apiBase: string;
  secretKey: string;
  /** Per-HTTP-call timeout; Temporal retries the activity, so keep it well under the activity timeout. */
  timeoutMs: number;
  /** Where payers land when the order gave no return URL: `<publicBaseUrl>/orders/<orderId>`. */
  publicBaseUrl: string;
  /** Injectable clock, for the expires_at decision. */
  now?: () => Date;
  /**
   * The payment method types Checkout may offer (`allowed_payment_method_types`); 'dashboard' sends none, so Stripe
   * offers what the Dashboard enables, delayed methods included. Default: cards only, so a session is paid or not
   * while the payer is on the page.
   */
  paymentMethodTypes?: readonly string[] | 'dashboard';
}

const optionsSchema = z.object({
  apiBase: httpUrlSchema,
  secretKey: z.string().min(1),
  timeoutMs: timeoutMsSchema,
  publicBaseUrl: httpUrlSchema,
});

/**
 * Stripe rejects an `expires_at` less than 30 minutes or more than 24 hours after creation. One extra minute on
 * each side absorbs latency and clock skew between us and Stripe.
 */
const MIN_GATEWAY_EXPIRY_MS = 31 * 60_000;
const MAX_GATEWAY_EXPIRY_MS = 23 * 60 * 60_000 + 59 * 60_000;
/** Stripe caps metadata values and product names; longer descriptions are cut rather than rejected. */
const MAX_PRODUCT_NAME_LENGTH = 250;

const SESSION_EXPANSIONS = ['payment_intent', 'payment_intent.latest_charge'];
/**
 * Left to itself, Checkout offers every method the Dashboard enables, delayed ones included: such a session completes
 * unpaid, cannot be expired any more, and its payment may succeed days later, after the order's workflow closed.
 */
const IMMEDIATE_PAYMENT_METHOD_TYPES: readonly string[] = ['card'];

export function createStripeGateway(options: StripeGatewayOptions): PaymentGateway {
  const { apiBase, secretKey, timeoutMs, publicBaseUrl } = optionsSchema.parse(options);
  const now = options.now ?? (() => new Date());
  const paymentMethodTypes = options.paymentMethodTypes ?? IMMEDIATE_PAYMENT_METHOD_TYPES;
  const stripe = createStripeClient(apiBase, secretKey, timeoutMs);

  async function retrieveSession(intentId: string): Promise<StripeCheckoutSession> {
    const session = await stripe.checkout.sessions.retrieve(intentId, { expand: SESSION_EXPANSIONS });
    return stripeCheckoutSessionSchema.parse(session);
  }

  async function createIntent(request: CreateIntentRequest): Promise<CreatedIntent> {
    assertMinorAmount(request.amountMinor, 'amountMinor');
    const params = checkoutSessionParams(request, publicBaseUrl, paymentMethodTypes);
    const gatewayExpiry = Math.floor(request.expiresAt.getTime() / 1000);
    const msUntilExpiry = request.expiresAt.getTime() - now().getTime();
    const withExpiry = msUntilExpiry >= MIN_GATEWAY_EXPIRY_MS && msUntilExpiry <= MAX_GATEWAY_EXPIRY_MS;
    const create = (includeExpiry: boolean) =>
      stripe.checkout.sessions.create(includeExpiry ? { ...params, expires_at: gatewayExpiry } : params, {
        idempotencyKey: request.idempotencyKey,
      });

    let created: unknown;
    try {
      created = await create(withExpiry);
    } catch (error) {
      const mapped = toGatewayError(error, 'createIntent');
      // Whether expires_at is sent depends on the clock, so a retry that crosses the 31-minute line sends other
      // parameters under the same idempotency key, and Stripe refuses it. The first attempt must have used the
      // other choice: repeat it to get Stripe's stored session back. A real conflict fails the same way twice.
      if (!(mapped instanceof GatewayRejectedError && mapped.code === 'idempotency_error')) throw mapped;
      try {
        created = await create(!withExpiry);
      } catch (retryError) {
        throw toGatewayError(retryError, 'createIntent');
      }
    }
    const session = parseResponse(stripeCheckoutSessionSchema, created, 'createIntent');
    if (!session.url) {
      throw new GatewayUnavailableError(`stripe createIntent: session ${session.id} came back without a payment URL`);
    }
    return { intentId: session.id, paymentUrl: session.url };
  }

  async function fetchPaymentStatus(request: PaymentLookupRequest): Promise<PaymentStatus> {
    let session: StripeCheckoutSession;
    try {
      session = await retrieveSession(request.intentId);
    } catch (error) {
      const mapped = toGatewayError(error, 'fetchPaymentStatus');
      if (isResourceMissing(mapped)) return { state: 'not_found', gatewayStatus: 'resource_missing' };
      throw mapped;
    }
    const owner = orderIdOfSession(session);
    if (owner !== undefined && owner !== request.orderId) {
      throw new GatewayRejectedError(
        `stripe fetchPaymentStatus: session ${session.id} belongs to order ${owner}, not ${request.orderId}`,
        'intent_order_mismatch',
      );
    }
    return paymentStatusOf(session);
  }

  async function cancelIntent(request: PaymentLookupRequest): Promise<CancelOutcome> {
    try {
      const expired = stripeCheckoutSessionSchema.parse(await stripe.checkout.sessions.expire(request.intentId));
      if (expired.status === 'expired') return { outcome: 'cancelled', closedAtGateway: true };
    } catch (error) {
      const mapped = toGatewayError(error, 'cancelIntent');
      // Stripe answers 400 when the session is no longer open. Only its current state says whether that is
      // because it was paid first (a race with the payer we must report) or because it already expired.
      if (!(mapped instanceof GatewayRejectedError && mapped.httpStatus === 400)) throw mapped;
    }
    const session = await retrieveSession(request.intentId).catch((error: unknown) => {
      throw toGatewayError(error, 'cancelIntent');
    });
    const captured = capturedPaymentOf(session);
    if (captured) return { outcome: 'already_captured', ...captured };
    if (session.status === 'expired') return { outcome: 'cancelled', closedAtGateway: true };
    // Completed, then its bank debit failed: nothing can be taken on this session any more.
    if (paymentStatusOf(session).failure?.intentClosed) return { outcome: 'cancelled', closedAtGateway: true };
    throw new GatewayRejectedError(
      `stripe cancelIntent: session ${session.id} cannot be expired (${describeSession(session)})`,
      'session_not_cancellable',
    );
  }

  /**
   * Creates the refund once; from then on retrieves it. Once the first answer gave us Stripe's refund ID
   * (request.gatewayRefundId), a retry never calls refunds.create again: Stripe forgets idempotency keys after 24
   * hours, and a create after that would refund a second time. failed and canceled refunds are final failures.
   */
  async function refund(request: RefundRequest): Promise<RefundResult> {
    assertMinorAmount(request.amountMinor, 'amountMinor');
    try {
      if (request.gatewayRefundId !== undefined) {
        const retrieved = stripeRefundSchema.parse(await stripe.refunds.retrieve(request.gatewayRefundId));
        if (retrieved.amount !== request.amountMinor) {
          throw new GatewayRejectedError(
            `stripe refund: ${retrieved.id} is for ${retrieved.amount}, not ${request.amountMinor}`,
            'refund_mismatch',
          );
        }
        return { gatewayRefundId: retrieved.id, state: refundStateOf(retrieved.status) };
      }
      const paymentIntent = request.paymentReference ?? (await paymentIntentOfSession(request.intentId));
      const created = await stripe.refunds.create(
        {
          payment_intent: paymentIntent,
          amount: request.amountMinor,
          metadata: { orderId: request.orderId, refundId: request.refundId },
        },
        { idempotencyKey: request.refundId },
      );
      const parsed = stripeRefundSchema.parse(created);
      return { gatewayRefundId: parsed.id, state: refundStateOf(parsed.status) };
    } catch (error) {
      throw toGatewayError(error, 'refund');
    }
  }

  async function paymentIntentOfSession(intentId: string): Promise<string> {
    const session = stripeCheckoutSessionSchema.parse(await stripe.checkout.sessions.retrieve(intentId));
    const paymentIntent = paymentIntentIdOf(session);
    if (paymentIntent === undefined || session.payment_status !== 'paid') {
      throw new GatewayRejectedError(
        `stripe refund: session ${intentId} has no captured payment`,
        'no_captured_payment',
      );
    }
    return paymentIntent;
  }

  return {
    name: 'stripe',
    createIntent,
    fetchPaymentStatus,
    cancelIntent,
    refund,
  };
}

export function createStripeClient(apiBase: string, secretKey: string, timeoutMs: number): Stripe {
  const base = new URL(apiBase);
  if (base.pathname !== '/' || base.search !== '') {
    throw new Error(
      `STRIPE_API_BASE must be scheme://host[:port] only (the SDK adds /v1), got ${base.origin}${base.pathname}`,
    );
  }
  const protocol = base.protocol === 'https:' ? 'https' : 'http';
  return new Stripe(secretKey, {
    host: base.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: base.port === '' ? (protocol === 'https' ? 443 : 80) : Number(base.port),
    protocol,
    // Temporal owns retries; SDK retries inside an activity attempt would hide failures and stretch timeouts.
    maxNetworkRetries: 0,
    timeout: timeoutMs,
    telemetry: false,
  });
}

function checkoutSessionParams(
  request: CreateIntentRequest,
  publicBaseUrl: string,
  paymentMethodTypes: readonly string[] | 'dashboard',
): Stripe.Checkout.SessionCreateParams {
  const landingUrl = landingUrlFor(request, publicBaseUrl);
  const productName = (request.description ?? `Order ${request.orderId}`).slice(0, MAX_PRODUCT_NAME_LENGTH);
  return {
    mode: 'payment',
    line_items: [
      {
        quantity: 1,
        price_data: {
          currency: request.currency.toLowerCase(),
          unit_amount: request.amountMinor,
          product_data: { name: productName },
        },
      },
    ],
    client_reference_id: request.orderId,
    metadata: { orderId: request.orderId },
    // Copied onto the payment intent and its charge, so payment_intent.* and charge.* events name the order too.
    payment_intent_data: { metadata: { orderId: request.orderId } },
    // Since API version 2026-09-30.endive (the SDK's), sessions take allowed_payment_method_types, a filter over the
    // Dashboard's methods; payment_method_types is no longer accepted at creation.
    ...(paymentMethodTypes === 'dashboard' ? {} : { allowed_payment_method_types: [...paymentMethodTypes] }),
    success_url: landingUrl,
    cancel_url: landingUrl,
    ...(request.customer?.email ? { customer_email: request.customer.email } : {}),
  };
}

function landingUrlFor(request: CreateIntentRequest, publicBaseUrl: string): string {
  if (request.returnUrl === undefined) {
    return `${publicBaseUrl.replace(/\/+$/, '')}/orders/${encodeURIComponent(request.orderId)}`;
  }
  let url: URL;
  try {
    url = new URL(request.returnUrl);
  } catch {
    throw new GatewayRejectedError('stripe createIntent: returnUrl is not an absolute URL', 'invalid_return_url');
  }
  url.searchParams.set('orderId', request.orderId);
  return url.toString();
}

/**
 * - paid: captured, whatever the session status says (an async method can complete later).
 * - expired and unpaid: nothing can be taken any more.
 * - open with a declined last attempt: failed; the payer may still retry on the same page.
 * - complete but unpaid: a delayed method (bank debit) in flight, pending; failed once its debit failed.
 */
export function paymentStatusOf(session: StripeCheckoutSession): PaymentStatus {
  const gatewayStatus = describeSession(session);
  const captured = capturedPaymentOf(session);
  if (captured) {
    const intent = expandedIntentOf(session);
    const charge = typeof intent?.latest_charge === 'object' ? intent.latest_charge : undefined;
    return {
      state: 'captured',
      ...captured,
      ...(charge ? { refundedAmountMinor: charge.amount_refunded } : {}),
      gatewayStatus,
    };
  }
  if (session.status === 'expired') return { state: 'cancelled', gatewayStatus };
  const intent = expandedIntentOf(session);
  const failure = intent?.status === 'requires_payment_method' ? paymentFailureOf(intent) : undefined;
  // Open: the payer may still retry on the same page. Complete: a delayed method (bank debit) failed after the session
  // completed, and nothing will be taken for this session.
  if (failure && session.status === 'open') return { state: 'failed', gatewayStatus, failure };
  if (failure && session.status === 'complete') {
    return { state: 'failed', gatewayStatus, failure: { ...failure, intentClosed: true } };
  }
  return { state: 'pending', gatewayStatus };
}

function capturedPaymentOf(
  session: StripeCheckoutSession,
): { amountMinor: number; currency: string; paymentReference?: string } | undefined {
  if (session.payment_status !== 'paid') return undefined;
  if (session.amount_total === null || session.currency === null) {
    throw new GatewayUnavailableError(`stripe: paid session ${session.id} has no amount_total or currency`);
  }
  const paymentReference = paymentIntentIdOf(session);
  return {
    amountMinor: session.amount_total,
    currency: session.currency.toUpperCase(),
    ...(paymentReference === undefined ? {} : { paymentReference }),
  };
}

function expandedIntentOf(session: StripeCheckoutSession) {
  return typeof session.payment_intent === 'object' && session.payment_intent !== null
    ? session.payment_intent
    : undefined;
}

/** Stripe's raw words, for logs and the order timeline. */
function describeSession(session: StripeCheckoutSession): string {
  const intent = expandedIntentOf(session);
  return [
    `session=${session.status ?? 'null'}`,
    `payment_status=${session.payment_status}`,
    ...(intent ? [`payment_intent=${intent.status}`] : []),
    ...(intent?.last_payment_error ? [`last_payment_error=${intent.last_payment_error.code ?? 'unknown'}`] : []),
  ].join(' ');
}

function refundStateOf(status: string | null | undefined): RefundResult['state'] {
  switch (status) {
    case 'succeeded':
      return 'succeeded';
    case 'failed':
    case 'canceled':
      return 'failed';
    default:
      // pending, requires_action, and any word Stripe adds later: not final yet.
      return 'pending';
  }
}

function isResourceMissing(error: Error): boolean {
  return error instanceof GatewayRejectedError && error.httpStatus === 404 && error.code === 'resource_missing';
}

function parseResponse<S extends z.ZodType>(schema: S, value: unknown, operation: string): z.infer<S> {
  try {
    return schema.parse(value);
  } catch (error) {
    throw toGatewayError(error, operation);
  }
}

/** The SDK would send 12.5 as "12.5" and let Stripe refuse it; refuse it here, before any money moves. */
function assertMinorAmount(amount: number, field: string): void {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new GatewayRejectedError(
      `${field} must be a positive integer of minor units, got ${amount}`,
      'invalid_amount',
    );
  }
}
