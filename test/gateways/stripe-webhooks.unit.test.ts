// Proves the Stripe webhook verifier accepts exactly what Stripe signs (with either secret during a rotation),
// refuses forgeries, stale and malformed signatures, and maps each event type to the right PaymentEvent.
import Stripe from 'stripe';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';
import { WebhookPayloadError, WebhookSignatureError } from '../../gateways/gateway-errors';
import { signStripePayload } from '../../sandbox/webhook.signer';

const CURRENT_SECRET = 'whsec_current_0123456789';
const ROTATED_SECRET = 'whsec_previous_abcdefghij';
// Not the SDK default (300), so a verifier that forgot to pass its tolerance fails the age tests.
const TOLERANCE_SECONDS = 120;

const verifier = createStripeWebhookVerifier({
  secrets: [CURRENT_SECRET, ROTATED_SECRET],
  toleranceSeconds: TOLERANCE_SECONDS,
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

function stripeEvent(type: string, object: Record<string, unknown>, id = 'evt_test_1', created = 1_700_000_000) {
  return { id, object: 'event', api_version: '2025-01-27.acacia', created, type, data: { object } };
}

function signed(payload: string, secret = CURRENT_SECRET, timestamp = nowSeconds()) {
  const header = Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
  return { raw: Buffer.from(payload, 'utf8'), headers: { 'stripe-signature': header } };
}

function verifyEvent(event: unknown) {
  const { raw, headers } = signed(JSON.stringify(event, null, 2));
  return verifier.verify(raw, headers);
}

const paidSession = {
  id: 'cs_test_1',
  object: 'checkout.session',
  status: 'complete',
  payment_status: 'paid',
  amount_total: 12_345,
  currency: 'usd',
  client_reference_id: 'order-ref',
  metadata: { orderId: 'order-1' },
  payment_intent: 'pi_1',
  url: null,
};
const paymentIntent = {
  id: 'pi_1',
  object: 'payment_intent',
  amount: 12_345,
  amount_received: 12_345,
  currency: 'usd',
  status: 'succeeded',
  metadata: { orderId: 'order-1' },
  last_payment_error: null,
  latest_charge: 'ch_1',
};

describe('Stripe webhook signatures', () => {
  const payload = JSON.stringify(stripeEvent('customer.created', { id: 'cus_1', object: 'customer' }));

  test('when signed with the current secret, then the event is accepted', () => {
    const { raw, headers } = signed(payload, CURRENT_SECRET);
    expect(verifier.verify(raw, headers)).toEqual({ eventId: 'evt_test_1', eventType: 'customer.created' });
  });

  test('when signed with the other secret of a rotation, then the event is accepted', () => {
    const { raw, headers } = signed(payload, ROTATED_SECRET);
    expect(verifier.verify(raw, headers).eventId).toBe('evt_test_1');
  });

  test('when the body is changed after signing, then it is rejected', () => {
    const { headers } = signed(payload);
    const tampered = Buffer.from(payload.replace('cus_1', 'cus_2'), 'utf8');
    expect(() => verifier.verify(tampered, headers)).toThrow(WebhookSignatureError);
  });

  test('when signed with a secret we do not hold, then it is rejected', () => {
    const { raw, headers } = signed(payload, 'whsec_someone_else');
    expect(() => verifier.verify(raw, headers)).toThrow(WebhookSignatureError);
  });

  test('when the timestamp is older than the tolerance, then it is rejected', () => {
    const { raw, headers } = signed(payload, CURRENT_SECRET, nowSeconds() - TOLERANCE_SECONDS - 10);
    expect(() => verifier.verify(raw, headers)).toThrow(WebhookSignatureError);
  });

  test('when the timestamp is old but inside the tolerance, then it is accepted', () => {
    const { raw, headers } = signed(payload, CURRENT_SECRET, nowSeconds() - TOLERANCE_SECONDS + 30);
    expect(verifier.verify(raw, headers).eventId).toBe('evt_test_1');
  });

  test.each([
    ['no header at all', {}],
    ['an empty header', { 'stripe-signature': '' }],
    ['garbage', { 'stripe-signature': 'not-a-signature' }],
    ['no v1 signature', { 'stripe-signature': `t=${nowSeconds()}` }],
    ['no timestamp', { 'stripe-signature': `v1=${'0'.repeat(64)}` }],
    ['a non-numeric timestamp', { 'stripe-signature': `t=soon,v1=${'0'.repeat(64)}` }],
    ['a v0 signature only', { 'stripe-signature': `t=${nowSeconds()},v0=${'0'.repeat(64)}` }],
    ['the header twice', { 'stripe-signature': [signed(payload).headers['stripe-signature'], 't=1,v1=00'] }],
  ])('when the Stripe-Signature header is malformed (%s), then it is rejected', (_name, headers) => {
    expect(() => verifier.verify(Buffer.from(payload, 'utf8'), headers)).toThrow(WebhookSignatureError);
  });

  test('when the header name arrives in another case, then it is still found', () => {
    const { raw, headers } = signed(payload);
    expect(verifier.verify(raw, { 'Stripe-Signature': headers['stripe-signature'] }).eventId).toBe('evt_test_1');
  });

  test('when a correctly signed body is not JSON, then it is a payload error, not a signature error', () => {
    const { raw, headers } = signed('{not json');
    expect(() => verifier.verify(raw, headers)).toThrow(WebhookPayloadError);
  });

  test('when a correctly signed body is not a Stripe event, then it is a payload error', () => {
    const { raw, headers } = signed(JSON.stringify({ hello: 'world' }));
    expect(() => verifier.verify(raw, headers)).toThrow(WebhookPayloadError);
  });

  test('when a mapped event carries a malformed object, then it is a payload error', () => {
    const broken = stripeEvent('checkout.session.completed', { ...paidSession, amount_total: 123.45 });
    expect(() => verifyEvent(broken)).toThrow(WebhookPayloadError);
  });

  test('when the sandbox signs a payload, then the verifier accepts it and the header matches the SDK byte for byte', () => {
    const timestamp = nowSeconds();
    const header = signStripePayload(payload, CURRENT_SECRET, timestamp);
    expect(header).toBe(Stripe.webhooks.generateTestHeaderString({ payload, secret: CURRENT_SECRET, timestamp }));
    expect(verifier.verify(Buffer.from(payload, 'utf8'), { 'stripe-signature': header }).eventId).toBe('evt_test_1');
  });

  test('when the sandbox signs with an unknown secret, then the verifier rejects it', () => {
    const header = signStripePayload(payload, 'whsec_unknown', nowSeconds());
    expect(() => verifier.verify(Buffer.from(payload, 'utf8'), { 'stripe-signature': header })).toThrow(
      WebhookSignatureError,
    );
  });

  test('when asked which headers are sensitive, then the signature and authorization headers are named', () => {
    expect(verifier.sensitiveHeaders).toEqual(expect.arrayContaining(['stripe-signature', 'authorization']));
  });

  test('when configured without secrets or with a zero tolerance, then construction fails', () => {
    expect(() => createStripeWebhookVerifier({ secrets: [], toleranceSeconds: 300 })).toThrow();
    expect(() => createStripeWebhookVerifier({ secrets: [''], toleranceSeconds: 300 })).toThrow();
    // A zero tolerance disables the SDK's timestamp check and would accept replays forever.
    expect(() => createStripeWebhookVerifier({ secrets: [CURRENT_SECRET], toleranceSeconds: 0 })).toThrow();
  });
});

describe('Stripe event mapping', () => {
  const occurredAt = new Date(1_700_000_000 * 1000).toISOString();

  test('when checkout.session.completed is paid, then it is a capture of the session total', () => {
    expect(verifyEvent(stripeEvent('checkout.session.completed', paidSession))).toEqual({
      eventId: 'evt_test_1',
      eventType: 'checkout.session.completed',
      orderId: 'order-1',
      paymentEvent: {
        eventId: 'evt_test_1',
        kind: 'captured',
        verified: true,
        intentId: 'cs_test_1',
        paymentReference: 'pi_1',
        amountMinor: 12_345,
        currency: 'USD',
        occurredAt,
      },
    });
  });

  test('when checkout.session.completed is not paid yet (delayed method), then it is pending', () => {
    const webhook = verifyEvent(
      stripeEvent('checkout.session.completed', { ...paidSession, payment_status: 'unpaid' }),
    );
    expect(webhook.paymentEvent).toMatchObject({ kind: 'pending', intentId: 'cs_test_1' });
  });

  test('when checkout.session.async_payment_succeeded arrives, then it is a capture', () => {
    const webhook = verifyEvent(stripeEvent('checkout.session.async_payment_succeeded', paidSession));
    expect(webhook.paymentEvent).toMatchObject({ kind: 'captured', amountMinor: 12_345, currency: 'USD' });
  });

  test('when the session has no metadata, then the order comes from client_reference_id', () => {
    const webhook = verifyEvent(stripeEvent('checkout.session.completed', { ...paidSession, metadata: {} }));
    expect(webhook.orderId).toBe('order-ref');
    expect(webhook.paymentEvent?.kind).toBe('captured');
  });

  test.each([
    [
      'checkout.session.async_payment_failed',
      'failed',
      { ...paidSession, payment_status: 'unpaid' },
      // The session completed: it takes no further try, whatever the (unexpanded) details say.
      { failure: { code: 'async_payment_failed', intentClosed: true } },
    ],
    ['checkout.session.expired', 'cancelled', { ...paidSession, status: 'expired', payment_status: 'unpaid' }, {}],
  ])('when %s arrives, then it is %s for the session', (type, kind, session, extra) => {
    const webhook = verifyEvent(stripeEvent(type, session));
    expect(webhook.orderId).toBe('order-1');
    expect(webhook.paymentEvent).toEqual({
      eventId: 'evt_test_1',
      kind,
      verified: true,
      intentId: 'cs_test_1',
      occurredAt,
      ...extra,
    });
  });

  test('when payment_intent.succeeded arrives, then it is a capture of the amount received', () => {
    const webhook = verifyEvent(stripeEvent('payment_intent.succeeded', { ...paymentIntent, amount_received: 12_000 }));
    expect(webhook.orderId).toBe('order-1');
    expect(webhook.paymentEvent).toEqual({
      eventId: 'evt_test_1',
      kind: 'captured',
      verified: true,
      paymentReference: 'pi_1',
      amountMinor: 12_000,
      currency: 'USD',
      occurredAt,
    });
  });

  test.each([
    [
      'payment_intent.payment_failed',
      'failed',
      { status: 'requires_payment_method', amount_received: 0, last_payment_error: { code: 'card_declined' } },
      { failure: { code: 'card_declined', ref: 'ch_1' } },
    ],
    ['payment_intent.canceled', 'cancelled', { status: 'canceled', amount_received: 0 }, {}],
  ])('when %s arrives, then it is %s for the order in the metadata', (type, kind, changes, details) => {
    const webhook = verifyEvent(stripeEvent(type, { ...paymentIntent, ...changes }));
    expect(webhook.orderId).toBe('order-1');
    expect(webhook.paymentEvent).toEqual({ eventId: 'evt_test_1', kind, verified: true, occurredAt, ...details });
  });

  test('when charge.refunded arrives, then it is a refund of the cumulative refunded amount', () => {
    const charge = {
      id: 'ch_1',
      object: 'charge',
      amount: 12_345,
      amount_refunded: 5_000,
      currency: 'eur',
      payment_intent: 'pi_1',
      metadata: { orderId: 'order-1' },
    };
    const webhook = verifyEvent(stripeEvent('charge.refunded', charge));
    expect(webhook.orderId).toBe('order-1');
    expect(webhook.paymentEvent).toEqual({
      eventId: 'evt_test_1',
      kind: 'refunded',
      verified: true,
      paymentReference: 'pi_1',
      amountMinor: 5_000,
      currency: 'EUR',
      occurredAt,
    });
  });

  test('when an event type that moves no order arrives, then it is verified without a payment event', () => {
    const webhook = verifyEvent(stripeEvent('payment_intent.created', paymentIntent));
    expect(webhook).toEqual({ eventId: 'evt_test_1', eventType: 'payment_intent.created' });
  });

  test('when a mapped event names no order of ours, then it carries no order and no payment event', () => {
    const webhook = verifyEvent(stripeEvent('payment_intent.succeeded', { ...paymentIntent, metadata: {} }));
    expect(webhook).toEqual({ eventId: 'evt_test_1', eventType: 'payment_intent.succeeded' });
  });
});
