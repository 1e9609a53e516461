// The subset of Stripe's objects orderpay reads, as zod schemas. API responses and webhook payloads are parsed
// with these, so a field we rely on that is missing or mistyped fails loudly instead of becoming `undefined`.
// Status words stay plain strings: Stripe adds new ones over time, and an unknown word must mean "not final yet",
// not a parse failure.
import { z } from 'zod';
import type { PaymentFailure } from '../../contracts/order.contract';

const id = z.string().min(1);
/** Stripe amounts are integer minor units; a fraction here means we are not talking to Stripe. */
const minorAmount = z.number().int().nonnegative();
const currency = z.string().length(3);
const metadata = z
  .record(z.string(), z.string())
  .nullish()
  .transform((value) => value ?? {});

export const stripeChargeSchema = z.object({
  id,
  object: z.literal('charge'),
  amount: minorAmount,
  amount_refunded: minorAmount,
  currency,
  payment_intent: z.string().nullish(),
  metadata,
});
export type StripeCharge = z.infer<typeof stripeChargeSchema>;

export const stripePaymentIntentSchema = z.object({
  id,
  object: z.literal('payment_intent'),
  amount: minorAmount,
  amount_received: minorAmount,
  currency,
  status: z.string(),
  metadata,
  last_payment_error: z
    .object({
      code: z.string().nullish(),
      /** The issuer's reason for a card decline (insufficient_funds, ...), when it gives one. */
      decline_code: z.string().nullish(),
      /** For card errors, the ID of the failed charge: a new one for every declined try. */
      charge: z.string().nullish(),
      message: z.string().nullish(),
    })
    .nullish(),
  /** An ID, or the charge itself when the request expanded it. */
  latest_charge: z.union([z.string(), stripeChargeSchema]).nullish(),
});
export type StripePaymentIntent = z.infer<typeof stripePaymentIntentSchema>;

export const stripeCheckoutSessionSchema = z.object({
  id,
  object: z.literal('checkout.session'),
  status: z.string().nullable(),
  payment_status: z.string(),
  amount_total: minorAmount.nullable(),
  currency: currency.nullable(),
  client_reference_id: z.string().nullish(),
  metadata,
  url: z.string().nullish(),
  /** Null until the payer first submits the hosted page; an ID, or the object when expanded. */
  payment_intent: z.union([z.string(), stripePaymentIntentSchema]).nullish(),
});
export type StripeCheckoutSession = z.infer<typeof stripeCheckoutSessionSchema>;

export const stripeRefundSchema = z.object({
  id,
  object: z.literal('refund'),
  amount: minorAmount,
  currency,
  status: z.string().nullish(),
  payment_intent: z.string().nullish(),
  metadata,
});
export type StripeRefund = z.infer<typeof stripeRefundSchema>;

export const stripeEventSchema = z.object({
  id,
  object: z.literal('event'),
  type: z.string().min(1),
  created: z.number().int().nonnegative(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});
export type StripeEvent = z.infer<typeof stripeEventSchema>;

/** The order a session belongs to: our metadata first, the client reference as a fallback. */
export function orderIdOfSession(session: Pick<StripeCheckoutSession, 'metadata' | 'client_reference_id'>) {
  return session.metadata.orderId ?? session.client_reference_id ?? undefined;
}

/** The payment intent's ID whether or not the request expanded it. */
export function paymentIntentIdOf(session: Pick<StripeCheckoutSession, 'payment_intent'>): string | undefined {
  const intent = session.payment_intent;
  if (!intent) return undefined;
  return typeof intent === 'string' ? intent : intent.id;
}

/**
 * The decline a payment intent reports, as orderpay records it. The ref is the failed charge: Stripe makes a charge
 * per declined try, so a later lookup that still shows the same charge is the same decline, and a new charge is a
 * new one. Stripe names it in last_payment_error.charge; latest_charge is the same charge when only that is sent.
 * The message is left out: it is for the payer's screen, and the code says the same.
 */
export function paymentFailureOf(
  intent: Pick<StripePaymentIntent, 'last_payment_error' | 'latest_charge'>,
): PaymentFailure | undefined {
  const error = intent.last_payment_error;
  if (!error) return undefined;
  const latestCharge = typeof intent.latest_charge === 'string' ? intent.latest_charge : intent.latest_charge?.id;
  const ref = error.charge ?? latestCharge ?? undefined;
  return {
    // A last_payment_error without a code is still a failure: say so rather than leave the timeline blank.
    code: error.code ?? 'payment_failed',
    ...(error.decline_code ? { declineCode: error.decline_code } : {}),
    ...(ref ? { ref } : {}),
  };
}
