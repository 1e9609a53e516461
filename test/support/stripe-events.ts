// Stripe event payloads as the gateway sends them, for tests that post webhooks to the API. The payload is the exact
// string to sign and send: the signature covers its bytes.
import { uniqueId } from './temporal';

export interface StripeTestEvent {
  eventId: string;
  payload: string;
}

export function stripeEvent(
  type: string,
  object: Record<string, unknown>,
  eventId = `evt_${uniqueId('t')}`,
): StripeTestEvent {
  return {
    eventId,
    payload: JSON.stringify({
      id: eventId,
      object: 'event',
      type,
      created: Math.floor(Date.now() / 1000),
      data: { object },
    }),
  };
}

/** `payment_intent.succeeded` for an order; `extra` adds fields to the payment intent (receipt email, shipping…). */
export function paymentSucceeded(
  orderId: string,
  amount: number,
  options: { currency?: string; eventId?: string; extra?: Record<string, unknown> } = {},
): StripeTestEvent {
  const { currency = 'usd', eventId, extra = {} } = options;
  return stripeEvent(
    'payment_intent.succeeded',
    {
      id: `pi_${uniqueId('p')}`,
      object: 'payment_intent',
      amount,
      amount_received: amount,
      currency,
      status: 'succeeded',
      ...extra,
      metadata: { orderId, ...((extra.metadata as Record<string, unknown> | undefined) ?? {}) },
    },
    eventId,
  );
}
