// Delayed payment methods over real HTTP: the Stripe adapter (official SDK) against the sandbox, and the sandbox's
// signed webhooks through our verifier. By default a session offers cards only, so it is paid or not while the payer
// is on the page; with delayed methods allowed, a bank debit completes the session unpaid (pending), and the bank's
// later answer arrives as checkout.session.async_payment_succeeded (a capture) or _failed (a failure).
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';
import type { CreateIntentRequest, PaymentGateway } from '../../gateways/gateway';
import type { RunningSandbox } from '../../sandbox/server';
import {
  eventually,
  startTestSandbox,
  startWebhookReceiver,
  TEST_STRIPE_KEY,
  TEST_WEBHOOK_SECRET,
  type WebhookReceiver,
} from '../support/sandbox';
import { uniqueId } from '../support/temporal';

let running: RunningSandbox;
let receiver: WebhookReceiver;
const verifier = createStripeWebhookVerifier({ secrets: [TEST_WEBHOOK_SECRET], toleranceSeconds: 300 });

beforeEach(async () => {
  receiver = await startWebhookReceiver();
  running = await startTestSandbox({ webhookUrl: receiver.url });
});

afterEach(async () => {
  await running.stop();
  await receiver.close();
});

function gatewayWith(paymentMethodTypes?: readonly string[] | 'dashboard'): PaymentGateway {
  return createStripeGateway({
    apiBase: running.url,
    secretKey: TEST_STRIPE_KEY,
    timeoutMs: 2_000,
    publicBaseUrl: 'http://shop.test',
    ...(paymentMethodTypes === undefined ? {} : { paymentMethodTypes }),
  });
}

function intentRequest(): CreateIntentRequest {
  const orderId = uniqueId('dly');
  return {
    orderId,
    amountMinor: 7_300,
    currency: 'USD',
    description: 'A bicycle',
    expiresAt: new Date(Date.now() + 15 * 60_000),
    idempotencyKey: orderId,
  };
}

const post = (url: string, body?: unknown) =>
  fetch(url, {
    method: 'POST',
    redirect: 'manual',
    ...(body === undefined
      ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'outcome=pay-later' }
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });

const settle = (sessionId: string, outcome: 'succeeded' | 'failed') =>
  post(`${running.url}/_sandbox/sessions/${sessionId}/async-payment`, { outcome });

/** The verified payment events of the webhooks received so far, by event type. */
function verifiedEvents() {
  return receiver.received.map((webhook) => verifier.verify(webhook.rawBody, webhook.headers));
}

describe('payment methods a session offers', () => {
  test('when delayed methods are not configured, then the session offers cards only and a bank debit is refused', async () => {
    const request = intentRequest();
    const { intentId, paymentUrl } = await gatewayWith().createIntent(request);

    const [session] = running.sandbox.sessions(request.orderId);
    expect(session?.payment_method_types).toEqual(['card']);
    expect(await (await fetch(paymentUrl)).text()).not.toContain('Pay by bank debit');
    expect((await post(`${paymentUrl}/pay-later`)).status).toBe(400);
    expect(running.sandbox.sessions(request.orderId)[0]?.status).toBe('open');
    expect(await gatewayWith().fetchPaymentStatus({ orderId: request.orderId, intentId })).toMatchObject({
      state: 'pending',
    });
  });

  test('when a list is configured, then cards plus those methods are allowed', async () => {
    const request = intentRequest();
    await gatewayWith(['card', 'sepa_debit']).createIntent(request);
    expect(running.sandbox.sessions(request.orderId)[0]?.payment_method_types).toEqual(['card', 'sepa_debit']);
  });
});

describe('a delayed payment', () => {
  test('when the bank debit succeeds later, then the session goes from pending to captured, by webhook and by lookup', async () => {
    const gateway = gatewayWith('dashboard');
    const request = intentRequest();
    const { intentId, paymentUrl } = await gateway.createIntent(request);
    expect(await (await fetch(paymentUrl)).text()).toContain('Pay by bank debit');

    expect((await post(`${paymentUrl}/pay-later`)).status).toBe(303);
    await eventually(() => expect(receiver.received.map((w) => w.event.type)).toEqual(['checkout.session.completed']));
    expect(verifiedEvents()[0]?.paymentEvent).toMatchObject({ kind: 'pending', intentId });
    expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId })).toMatchObject({
      state: 'pending',
    });
    // Completed unpaid: it can no longer be expired, so the order cannot close it at its TTL either.
    await expect(gateway.cancelIntent({ orderId: request.orderId, intentId })).rejects.toMatchObject({
      code: 'session_not_cancellable',
    });

    expect((await settle(intentId, 'succeeded')).status).toBe(200);

    await eventually(() =>
      expect(verifiedEvents().find((w) => w.eventType === 'checkout.session.async_payment_succeeded')).toBeDefined(),
    );
    const succeeded = verifiedEvents().find((w) => w.eventType === 'checkout.session.async_payment_succeeded');
    expect(succeeded?.orderId).toBe(request.orderId);
    expect(succeeded?.paymentEvent).toMatchObject({
      kind: 'captured',
      verified: true,
      intentId,
      amountMinor: 7_300,
      currency: 'USD',
      paymentReference: expect.stringMatching(/^pi_/),
    });
    expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId })).toMatchObject({
      state: 'captured',
      amountMinor: 7_300,
    });
    // Settling twice is refused: the bank answers once.
    expect((await settle(intentId, 'succeeded')).status).toBe(400);
  });

  test('when the bank debit fails later, then async_payment_failed maps to failed, and so does a lookup', async () => {
    const gateway = gatewayWith('dashboard');
    const request = intentRequest();
    const { intentId, paymentUrl } = await gateway.createIntent(request);
    expect((await post(`${paymentUrl}/pay-later`)).status).toBe(303);

    expect((await settle(intentId, 'failed')).status).toBe(200);

    await eventually(() =>
      expect(verifiedEvents().find((w) => w.eventType === 'checkout.session.async_payment_failed')).toBeDefined(),
    );
    const failed = verifiedEvents().find((w) => w.eventType === 'checkout.session.async_payment_failed');
    expect(failed?.paymentEvent).toMatchObject({ kind: 'failed', verified: true, intentId });
    expect(await gateway.fetchPaymentStatus({ orderId: request.orderId, intentId })).toMatchObject({ state: 'failed' });
  });

  test('when no delayed payment is in flight, then the sandbox refuses to settle one', async () => {
    const request = intentRequest();
    const { intentId } = await gatewayWith('dashboard').createIntent(request);
    const refused = await settle(intentId, 'succeeded');
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });
});
