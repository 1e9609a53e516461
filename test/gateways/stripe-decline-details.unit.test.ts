// Stripe decline details: the failure (code, decline_code, the failed charge as ref) that payment_intent.payment_failed,
// checkout.session.async_payment_failed and the status lookup of an open session after a decline carry, so the
// workflow records each declined try once, with its reason, and tells a new try on the same session from an old one.
import Stripe from 'stripe';
import { paymentStatusOf } from '../../gateways/stripe/stripe.gateway';
import { paymentFailureOf, stripeCheckoutSessionSchema } from '../../gateways/stripe/stripe.schemas';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';

const SECRET = 'whsec_declines_0123456789';
const verifier = createStripeWebhookVerifier({ secrets: [SECRET], toleranceSeconds: 300 });

function verify(type: string, object: Record<string, unknown>) {
  const payload = JSON.stringify({
    id: 'evt_decline_1',
    object: 'event',
    created: 1_765_000_000,
    type,
    data: { object },
  });
  const header = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: SECRET,
    timestamp: Math.floor(Date.now() / 1000),
  });
  return verifier.verify(Buffer.from(payload), { 'stripe-signature': header });
}

/** A payment intent after a declined try, as Stripe sends it: the failed charge in last_payment_error and latest_charge. */
function declinedIntent(charge: string, error: Record<string, unknown> = {}) {
  return {
    id: 'pi_declined',
    object: 'payment_intent',
    amount: 2_500,
    amount_received: 0,
    currency: 'usd',
    status: 'requires_payment_method',
    metadata: { orderId: 'order-declined' },
    last_payment_error: {
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'insufficient_funds',
      charge,
      message: 'Your card has insufficient funds.',
      ...error,
    },
    latest_charge: charge,
  };
}

function openSession(paymentIntent: unknown, status = 'open') {
  return stripeCheckoutSessionSchema.parse({
    id: 'cs_declined',
    object: 'checkout.session',
    status,
    payment_status: 'unpaid',
    amount_total: 2_500,
    currency: 'usd',
    metadata: { orderId: 'order-declined' },
    payment_intent: paymentIntent,
  });
}

describe('Stripe decline details', () => {
  test('when payment_intent.payment_failed arrives, then the failure carries code, decline code and the failed charge', () => {
    const webhook = verify('payment_intent.payment_failed', declinedIntent('ch_try_1'));
    expect(webhook.orderId).toBe('order-declined');
    expect(webhook.paymentEvent).toEqual({
      eventId: 'evt_decline_1',
      kind: 'failed',
      verified: true,
      occurredAt: new Date(1_765_000_000_000).toISOString(),
      failure: { code: 'card_declined', declineCode: 'insufficient_funds', ref: 'ch_try_1' },
    });
    // A payment intent does not name its Checkout Session: the event must not pretend to know the intent.
    expect(webhook.paymentEvent).not.toHaveProperty('intentId');
  });

  test('when the payer is declined twice on one session, then each try has its own ref', () => {
    const first = verify('payment_intent.payment_failed', declinedIntent('ch_try_1')).paymentEvent?.failure;
    const second = verify('payment_intent.payment_failed', declinedIntent('ch_try_2')).paymentEvent?.failure;
    expect(first?.ref).toBe('ch_try_1');
    expect(second?.ref).toBe('ch_try_2');
  });

  test('when the error names its charge, then that is the ref, whatever latest_charge says', () => {
    expect(paymentFailureOf({ ...declinedIntent('ch_failed'), latest_charge: 'ch_other' })?.ref).toBe('ch_failed');
  });

  test('when the error has no decline code or charge, then the ref comes from latest_charge and nothing is made up', () => {
    expect(
      paymentFailureOf({
        last_payment_error: { code: 'incorrect_cvc', decline_code: null, charge: null, message: 'x' },
        latest_charge: 'ch_latest',
      }),
    ).toEqual({ code: 'incorrect_cvc', ref: 'ch_latest' });
    expect(
      paymentFailureOf({
        last_payment_error: { code: 'card_declined' },
        latest_charge: {
          id: 'ch_expanded',
          object: 'charge',
          amount: 1,
          amount_refunded: 0,
          currency: 'usd',
          metadata: {},
        },
      }),
    ).toEqual({ code: 'card_declined', ref: 'ch_expanded' });
    expect(paymentFailureOf({ last_payment_error: {}, latest_charge: null })).toEqual({ code: 'payment_failed' });
    expect(paymentFailureOf({ last_payment_error: null, latest_charge: 'ch_paid' })).toBeUndefined();
  });

  test('when async_payment_failed carries the expanded payment intent, then it has the failure; unexpanded, only that the session is closed', () => {
    const session = { ...openSession('pi_declined', 'complete') };
    const unexpanded = verify('checkout.session.async_payment_failed', session).paymentEvent;
    expect(unexpanded).toMatchObject({ kind: 'failed', intentId: 'cs_declined' });
    expect(unexpanded?.failure).toEqual({ code: 'async_payment_failed', intentClosed: true });

    const expanded = verify('checkout.session.async_payment_failed', {
      ...session,
      payment_intent: declinedIntent('ch_debit', { code: 'payment_method_customer_decline' }),
    }).paymentEvent;
    expect(expanded).toMatchObject({
      kind: 'failed',
      intentId: 'cs_declined',
      failure: {
        code: 'payment_method_customer_decline',
        declineCode: 'insufficient_funds',
        ref: 'ch_debit',
        intentClosed: true,
      },
    });
  });

  test('when the status lookup finds an open session after a decline, then it is failed with the decline details', () => {
    const status = paymentStatusOf(openSession(declinedIntent('ch_try_3', { decline_code: 'generic_decline' })));
    expect(status).toMatchObject({
      state: 'failed',
      failure: { code: 'card_declined', declineCode: 'generic_decline', ref: 'ch_try_3' },
    });
  });

  test('when the status lookup finds a completed session whose debit failed, then the failure says the session is closed', () => {
    const status = paymentStatusOf(openSession(declinedIntent('ch_debit'), 'complete'));
    expect(status).toMatchObject({ state: 'failed', failure: { ref: 'ch_debit', intentClosed: true } });
    // An open session after a decline still takes another card.
    expect(paymentStatusOf(openSession(declinedIntent('ch_card'))).failure).not.toHaveProperty('intentClosed');
  });

  test('when the status lookup finds an open session with no decline, then it is pending without a failure', () => {
    const intent = { ...declinedIntent('ch_unused'), last_payment_error: null, latest_charge: null };
    const status = paymentStatusOf(openSession(intent));
    expect(status.state).toBe('pending');
    expect(status.failure).toBeUndefined();
  });
});
