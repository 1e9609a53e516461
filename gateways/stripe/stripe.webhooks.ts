// Verifies Stripe webhooks with the SDK's own signature check and turns the events that move an order into
// PaymentEvents. Everything else is still returned as verified, without a paymentEvent, so it can be stored.
import Stripe from 'stripe';
import type { z } from 'zod';
import type { PaymentEvent } from '../../contracts/order.contract';
import type { VerifiedWebhook, WebhookVerifier } from '../gateway';
import { WebhookPayloadError, WebhookSignatureError } from '../gateway-errors';
import {
  orderIdOfSession,
  paymentFailureOf,
  paymentIntentIdOf,
  stripeChargeSchema,
  stripeCheckoutSessionSchema,
  stripeEventSchema,
  stripePaymentIntentSchema,
  type StripeEvent,
} from './stripe.schemas';

export interface StripeWebhookVerifierOptions {
  /** Every secret that is currently valid; more than one while a signing secret is being rotated. */
  secrets: readonly string[];
  /**
   * Maximum distance of the signed timestamp from our clock, in the past or the future. Stripe re-signs each retry,
   * so this bounds replay, not delivery.
   */
  toleranceSeconds: number;
}

export const STRIPE_SENSITIVE_HEADERS = ['stripe-signature', 'authorization'] as const;

export function createStripeWebhookVerifier(options: StripeWebhookVerifierOptions): WebhookVerifier {
  const secrets = options.secrets.filter((secret) => secret.length > 0);
  if (secrets.length === 0) throw new Error('createStripeWebhookVerifier: at least one webhook secret is required');
  // The SDK reads a tolerance of 0 as "do not check the timestamp", which would accept replays forever.
  if (!Number.isInteger(options.toleranceSeconds) || options.toleranceSeconds <= 0) {
    throw new Error('createStripeWebhookVerifier: toleranceSeconds must be a positive integer');
  }
  const toleranceSeconds = options.toleranceSeconds;

  return {
    gateway: 'stripe',
    sensitiveHeaders: STRIPE_SENSITIVE_HEADERS,
    verify(rawBody, headers) {
      const signature = signatureHeaderOf(headers);
      const event = parseEvent(constructVerifiedEvent(rawBody, signature, secrets, toleranceSeconds));
      return toVerifiedWebhook(event);
    },
  };
}

function signatureHeaderOf(headers: Record<string, string | string[] | undefined>): string {
  const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === 'stripe-signature');
  const value = entry?.[1];
  // Two signature headers would let a forger append one of their own; Stripe only ever sends one.
  if (typeof value !== 'string' || value.length === 0) {
    throw new WebhookSignatureError('missing or repeated Stripe-Signature header');
  }
  return value;
}

function constructVerifiedEvent(
  rawBody: Buffer,
  signature: string,
  secrets: readonly string[],
  toleranceSeconds: number,
): unknown {
  // The SDK only refuses timestamps older than the tolerance; a signature dated ahead of our clock by more than the
  // tolerance is refused too, so the replay window is bounded both ways (every `t=` counts, not only the SDK's).
  const nowSeconds = Math.floor(Date.now() / 1000);
  for (const part of signature.split(',')) {
    const [key, value] = part.split('=', 2);
    if (key?.trim() !== 't') continue;
    const timestamp = Number(value);
    if (!Number.isSafeInteger(timestamp) || timestamp - nowSeconds > toleranceSeconds) {
      throw new WebhookSignatureError('Stripe-Signature timestamp is outside the tolerance');
    }
  }
  for (const secret of secrets) {
    try {
      return Stripe.webhooks.constructEvent(rawBody, signature, secret, toleranceSeconds);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) continue;
      // The signature matched (the SDK checks it before parsing), so what failed is the body itself.
      throw new WebhookPayloadError('signed webhook body is not valid JSON');
    }
  }
  throw new WebhookSignatureError('Stripe-Signature matches none of the webhook secrets, or is too old');
}

function parseEvent(value: unknown): StripeEvent {
  const result = stripeEventSchema.safeParse(value);
  if (!result.success) throw new WebhookPayloadError(`not a Stripe event: ${describeIssues(result.error)}`);
  return result.data;
}

function parseObject<S extends z.ZodType>(schema: S, event: StripeEvent): z.infer<S> {
  const result = schema.safeParse(event.data.object);
  if (!result.success) {
    throw new WebhookPayloadError(
      `${event.type} ${event.id}: unexpected data.object (${describeIssues(result.error)})`,
    );
  }
  return result.data;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}

type EventFields = Omit<PaymentEvent, 'eventId' | 'verified' | 'occurredAt'>;

/** Each mapped event type names the order (when the object carries our metadata) and what happened to it. */
function toVerifiedWebhook(event: StripeEvent): VerifiedWebhook {
  const routed = routeEvent(event);
  const base: VerifiedWebhook = { eventId: event.id, eventType: event.type };
  if (!routed) return base;
  const { orderId, fields } = routed;
  if (orderId === undefined) return base;
  if (!fields) return { ...base, orderId };
  const paymentEvent: PaymentEvent = {
    eventId: event.id,
    verified: true,
    occurredAt: new Date(event.created * 1000).toISOString(),
    ...fields,
  };
  return { ...base, orderId, paymentEvent };
}

function routeEvent(event: StripeEvent): { orderId: string | undefined; fields?: EventFields } | undefined {
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = parseObject(stripeCheckoutSessionSchema, event);
      const orderId = orderIdOfSession(session);
      // A session completed with a delayed method (bank debit) is not money yet; async_payment_* follows.
      if (session.payment_status !== 'paid') {
        return { orderId, fields: { kind: 'pending', intentId: session.id } };
      }
      if (session.amount_total === null || session.currency === null) {
        throw new WebhookPayloadError(`${event.type} ${event.id}: paid session without amount_total or currency`);
      }
      const paymentReference = paymentIntentIdOf(session);
      return {
        orderId,
        fields: {
          kind: 'captured',
          intentId: session.id,
          ...(paymentReference === undefined ? {} : { paymentReference }),
          amountMinor: session.amount_total,
          currency: session.currency.toUpperCase(),
        },
      };
    }
    case 'checkout.session.async_payment_failed': {
      const session = parseObject(stripeCheckoutSessionSchema, event);
      // Webhook payloads do not expand payment_intent, so the decline details are there only when it is expanded;
      // otherwise the workflow's status lookup (which expands it) brings them.
      const failure =
        typeof session.payment_intent === 'object' && session.payment_intent !== null
          ? paymentFailureOf(session.payment_intent)
          : undefined;
      // The session completed: no further try can be made on it, whatever the details say.
      return {
        orderId: orderIdOfSession(session),
        fields: {
          kind: 'failed',
          intentId: session.id,
          failure: { ...(failure ?? { code: 'async_payment_failed' }), intentClosed: true },
        },
      };
    }
    case 'checkout.session.expired': {
      const session = parseObject(stripeCheckoutSessionSchema, event);
      return { orderId: orderIdOfSession(session), fields: { kind: 'cancelled', intentId: session.id } };
    }
    // Payment-intent and charge events do not carry the checkout session ID (our intentId), only the order
    // from the metadata we copied onto the payment intent at checkout.
    case 'payment_intent.succeeded': {
      const intent = parseObject(stripePaymentIntentSchema, event);
      return {
        orderId: intent.metadata.orderId,
        fields: {
          kind: 'captured',
          paymentReference: intent.id,
          amountMinor: intent.amount_received,
          currency: intent.currency.toUpperCase(),
        },
      };
    }
    // A PaymentIntent does not name the Checkout Session that created it, so this event carries no intentId.
    case 'payment_intent.payment_failed': {
      const intent = parseObject(stripePaymentIntentSchema, event);
      const failure = paymentFailureOf(intent);
      return { orderId: intent.metadata.orderId, fields: { kind: 'failed', ...(failure ? { failure } : {}) } };
    }
    case 'payment_intent.canceled': {
      const intent = parseObject(stripePaymentIntentSchema, event);
      return { orderId: intent.metadata.orderId, fields: { kind: 'cancelled' } };
    }
    case 'charge.refunded': {
      const charge = parseObject(stripeChargeSchema, event);
      return {
        orderId: charge.metadata.orderId,
        fields: {
          kind: 'refunded',
          ...(charge.payment_intent ? { paymentReference: charge.payment_intent } : {}),
          // Cumulative: what has been refunded on this charge so far, not this refund alone.
          amountMinor: charge.amount_refunded,
          currency: charge.currency.toUpperCase(),
        },
      };
    }
    default:
      return undefined;
  }
}
