// Stripe's delayed payment methods, in the two places that decide about them without I/O: the worker's
// STRIPE_DELAYED_PAYMENT_METHODS setting (cards only unless switched on), and the webhook parsing of a delayed
// payment's life (completed unpaid → pending, async success → capture, async failure → failure), in the shape Stripe
// and the sandbox send (status complete, a payment intent, payment_method_types).
import Stripe from 'stripe';
import { loadConfig, workerConfigSchema } from '../../config/env';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';

const SECRET = 'whsec_delayed_0123456789';
const verifier = createStripeWebhookVerifier({ secrets: [SECRET], toleranceSeconds: 300 });

function verify(type: string, object: Record<string, unknown>, id = 'evt_delayed_1') {
  const payload = JSON.stringify({
    id,
    object: 'event',
    api_version: '2026-10-28.endive',
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

const session = {
  id: 'cs_test_ach',
  object: 'checkout.session',
  status: 'complete',
  payment_status: 'unpaid',
  amount_total: 9_900,
  currency: 'usd',
  client_reference_id: 'order-ach',
  metadata: { orderId: 'order-ach' },
  payment_intent: 'pi_ach',
  payment_method_types: ['card', 'us_bank_account'],
};

describe('STRIPE_DELAYED_PAYMENT_METHODS', () => {
  test.each([
    ['unset', undefined, ['card']],
    ['false', 'false', ['card']],
    ['true', 'true', 'dashboard'],
    ['TRUE', 'TRUE', 'dashboard'],
    ['a list', 'us_bank_account, sepa_debit', ['card', 'us_bank_account', 'sepa_debit']],
    ['a list naming card', 'card,sepa_debit', ['card', 'sepa_debit']],
  ])('when it is %s (%s), then sessions allow %j', (_case, value, expected) => {
    const env = value === undefined ? {} : { STRIPE_DELAYED_PAYMENT_METHODS: value };
    expect(loadConfig(workerConfigSchema, env).STRIPE_DELAYED_PAYMENT_METHODS).toEqual(expected);
  });

  test('when it names something that is not a payment method type, then the worker refuses to start, naming it', () => {
    expect(() => loadConfig(workerConfigSchema, { STRIPE_DELAYED_PAYMENT_METHODS: 'yes please' })).toThrow(
      /STRIPE_DELAYED_PAYMENT_METHODS/,
    );
  });
});

describe('webhooks of a delayed payment', () => {
  test('when the session completes unpaid, then it is pending for the order, not money', () => {
    const webhook = verify('checkout.session.completed', session);
    expect(webhook).toMatchObject({ orderId: 'order-ach', eventType: 'checkout.session.completed' });
    expect(webhook.paymentEvent).toEqual({
      eventId: 'evt_delayed_1',
      kind: 'pending',
      verified: true,
      intentId: 'cs_test_ach',
      occurredAt: new Date(1_765_000_000 * 1000).toISOString(),
    });
  });

  test('when async_payment_succeeded arrives, then it is a capture of the session total against its payment intent', () => {
    const webhook = verify('checkout.session.async_payment_succeeded', { ...session, payment_status: 'paid' }, 'evt_2');
    expect(webhook.orderId).toBe('order-ach');
    expect(webhook.paymentEvent).toMatchObject({
      eventId: 'evt_2',
      kind: 'captured',
      verified: true,
      intentId: 'cs_test_ach',
      paymentReference: 'pi_ach',
      amountMinor: 9_900,
      currency: 'USD',
    });
  });

  test('when async_payment_failed arrives, then it is a failure of the session', () => {
    const webhook = verify('checkout.session.async_payment_failed', session, 'evt_3');
    expect(webhook.orderId).toBe('order-ach');
    expect(webhook.paymentEvent).toMatchObject({
      eventId: 'evt_3',
      kind: 'failed',
      verified: true,
      intentId: 'cs_test_ach',
    });
  });

  test('when async_payment_succeeded says paid without an amount, then the payload is refused rather than guessed', () => {
    expect(() =>
      verify('checkout.session.async_payment_succeeded', { ...session, payment_status: 'paid', amount_total: null }),
    ).toThrow(/amount_total/);
  });
});
