// The fake gateway that activity and workflow tests rely on. Proves its scripted behaviours do what their names
// promise, so a workflow test that passes against it is not passing by accident.
import { GatewayRejectedError, GatewayUnavailableError } from '../../gateways/gateway-errors';
import type { CreateIntentRequest } from '../../gateways/gateway';
import { paymentAttemptKey } from '../../domain/payment-attempts';
import { FakeGateway } from '../support/fake-gateway';

function intentRequest(orderId: string, overrides: Partial<CreateIntentRequest> = {}): CreateIntentRequest {
  return {
    orderId,
    amountMinor: 2_000,
    currency: 'USD',
    expiresAt: new Date('2030-01-01T00:15:00Z'),
    idempotencyKey: orderId,
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('FakeGateway', () => {
  it('when createIntent repeats an idempotency key, then it returns the same intent, and refuses changed parameters', async () => {
    const gateway = new FakeGateway();

    const first = await gateway.createIntent(intentRequest('o1'));
    const again = await gateway.createIntent(intentRequest('o1'));
    const changed = await rejection(gateway.createIntent(intentRequest('o1', { amountMinor: 1 })));

    expect(again).toEqual(first);
    expect(gateway.intents).toHaveLength(1);
    expect(changed).toBeInstanceOf(GatewayRejectedError);
    expect((changed as GatewayRejectedError).code).toBe('idempotency_key_in_use');
    expect(gateway.callsTo('createIntent')).toHaveLength(3);
  });

  it('when the payer pays before the intent exists, then the intent is captured as soon as it is created', async () => {
    const gateway = new FakeGateway();
    gateway.payerPays('o1');

    const { intentId } = await gateway.createIntent(intentRequest('o1'));

    expect(await gateway.fetchPaymentStatus({ orderId: 'o1', intentId })).toMatchObject({
      state: 'captured',
      amountMinor: 2_000,
      currency: 'USD',
      paymentReference: gateway.intentFor('o1')?.paymentReference,
    });
  });

  it('when the payer pays after two polls, then the first lookup is pending and the second captured', async () => {
    const gateway = new FakeGateway();
    const { intentId } = await gateway.createIntent(intentRequest('o1'));
    gateway.payerPays('o1', { afterPolls: 2, amountMinor: 1_500 });

    const first = await gateway.fetchPaymentStatus({ orderId: 'o1', intentId });
    const second = await gateway.fetchPaymentStatus({ orderId: 'o1', intentId });

    expect(first.state).toBe('pending');
    expect(second).toMatchObject({ state: 'captured', amountMinor: 1_500 });
  });

  it('when the payer declines and then pays, then lookups show failed and then captured', async () => {
    const gateway = new FakeGateway();
    const { intentId } = await gateway.createIntent(intentRequest('o1'));

    gateway.payerDeclines('o1');
    const declined = await gateway.fetchPaymentStatus({ orderId: 'o1', intentId });
    gateway.payerPays('o1');
    const paid = await gateway.fetchPaymentStatus({ orderId: 'o1', intentId });

    expect([declined.state, paid.state]).toEqual(['failed', 'captured']);
  });

  it('when a cancel races with a capture, then the cancel reports already_captured; an uncontested cancel closes the intent', async () => {
    const gateway = new FakeGateway();
    const raced = await gateway.createIntent(intentRequest('o1'));
    const calm = await gateway.createIntent(intentRequest('o2'));
    gateway.cancelRacesWithCapture('o1');

    const racedOutcome = await gateway.cancelIntent({ orderId: 'o1', intentId: raced.intentId });
    const calmOutcome = await gateway.cancelIntent({ orderId: 'o2', intentId: calm.intentId });

    expect(racedOutcome).toMatchObject({ outcome: 'already_captured', amountMinor: 2_000, currency: 'USD' });
    expect(calmOutcome).toEqual({ outcome: 'cancelled' });
    expect((await gateway.fetchPaymentStatus({ orderId: 'o2', intentId: calm.intentId })).state).toBe('cancelled');
    expect(() => gateway.payerPays('o2')).toThrow(/cancelled/);
  });

  it('when a refund stays pending twice, then the third call settles it and the refunded amount counts once', async () => {
    const gateway = new FakeGateway();
    gateway.payerPays('o1');
    const { intentId } = await gateway.createIntent(intentRequest('o1'));
    gateway.refundStaysPending('o1', 2);
    const request = {
      orderId: 'o1',
      intentId,
      refundId: 'refund-o1-1',
      amountMinor: 500,
      currency: 'USD',
      reason: 'r',
    };

    const states = [];
    for (let i = 0; i < 4; i += 1) states.push((await gateway.refund(request)).state);

    expect(states).toEqual(['pending', 'pending', 'succeeded', 'succeeded']);
    expect(gateway.refundsFor('o1')).toHaveLength(1);
    expect(gateway.intentFor('o1')?.refundedAmountMinor).toBe(500);
    const tooMuch = await rejection(gateway.refund({ ...request, refundId: 'refund-o1-2', amountMinor: 1_501 }));
    expect((tooMuch as GatewayRejectedError).code).toBe('amount_too_large');
  });

  it('when calls are set to fail for one order, then only that order fails, as many times as asked, and each call is recorded', async () => {
    const gateway = new FakeGateway();
    gateway.failNextCalls('createIntent', 2, { orderId: 'o1', retryAfterMs: 100 });

    const other = await gateway.createIntent(intentRequest('o2'));
    const failures = [
      await rejection(gateway.createIntent(intentRequest('o1'))),
      await rejection(gateway.createIntent(intentRequest('o1'))),
    ];
    const third = await gateway.createIntent(intentRequest('o1'));

    expect(other.intentId).toBeDefined();
    expect(failures.map((error) => (error as GatewayUnavailableError).retryAfterMs)).toEqual([100, 100]);
    expect(failures[0]).toBeInstanceOf(GatewayUnavailableError);
    expect(third.intentId).toBe(gateway.intentFor('o1')?.intentId);
    expect(gateway.calls.map((call) => [call.request.orderId, call.error === undefined])).toEqual([
      ['o2', true],
      ['o1', false],
      ['o1', false],
      ['o1', true],
    ]);
  });

  it('when statuses are scripted, then lookups answer them in order and then report the intent again', async () => {
    const gateway = new FakeGateway();
    const { intentId } = await gateway.createIntent(intentRequest('o1'));
    gateway.scriptStatuses(
      'o1',
      { state: 'not_found', gatewayStatus: 'not_found' },
      { state: 'failed', gatewayStatus: 'x' },
    );

    const states = [];
    for (let i = 0; i < 3; i += 1) states.push((await gateway.fetchPaymentStatus({ orderId: 'o1', intentId })).state);

    expect(states).toEqual(['not_found', 'failed', 'pending']);
  });

  it('when a test asks for the webhook event of a captured order, then it describes the capture', async () => {
    const gateway = new FakeGateway({ clock: () => new Date('2030-01-01T00:01:00Z') });
    gateway.payerPays('o1');
    const { intentId } = await gateway.createIntent(intentRequest('o1'));

    const event = gateway.eventFor('o1');

    expect(event).toMatchObject({
      kind: 'captured',
      verified: true,
      intentId,
      paymentReference: gateway.intentFor('o1')?.paymentReference,
      amountMinor: 2_000,
      currency: 'USD',
      occurredAt: '2030-01-01T00:01:00.000Z',
    });
    expect(gateway.eventFor('o1').eventId).not.toBe(event.eventId);
  });
  it('when intents are not idempotent (like Khalti), then a repeated createIntent makes a new intent and the old one is orphaned', async () => {
    const gateway = new FakeGateway({ idempotentIntents: false });

    const first = await gateway.createIntent(intentRequest('o1'));
    const second = await gateway.createIntent(intentRequest('o1'));

    expect(second.intentId).not.toBe(first.intentId);
    expect(gateway.intentFor('o1')?.intentId).toBe(second.intentId);
    expect(gateway.orphanedIntents.map((intent) => intent.intentId)).toEqual([first.intentId]);
    gateway.payerPays('o1');
    expect(await gateway.fetchPaymentStatus({ orderId: 'o1', intentId: second.intentId })).toMatchObject({
      state: 'captured',
    });
  });

  it('when the gateway sets its own intent lifetime (like Khalti), then createIntent reports that expiry', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const gateway = new FakeGateway({ clock: () => now, intentLifetimeMs: 60 * 60_000 });
    const plain = new FakeGateway({ clock: () => now });

    const intent = await gateway.createIntent(intentRequest('o1'));
    const replayed = await gateway.createIntent(intentRequest('o1'));

    expect(intent.expiresAt?.toISOString()).toBe('2030-01-01T01:00:00.000Z');
    expect(replayed.expiresAt).toEqual(intent.expiresAt);
    expect((await plain.createIntent(intentRequest('o1'))).expiresAt).toBeUndefined();
  });

  it('when attempts 1 and 2 are created, then each has its own intent and the payer acts on the newest', async () => {
    const gateway = new FakeGateway();
    const first = await gateway.createIntent(intentRequest('o1', { idempotencyKey: paymentAttemptKey('o1', 1) }));
    const second = await gateway.createIntent(
      intentRequest('o1', { idempotencyKey: paymentAttemptKey('o1', 2), attemptNumber: 2 }),
    );
    const secondAgain = await gateway.createIntent(
      intentRequest('o1', { idempotencyKey: paymentAttemptKey('o1', 2), attemptNumber: 2 }),
    );

    expect(second.intentId).not.toBe(first.intentId);
    expect(secondAgain).toEqual(second);
    expect(gateway.intentsFor('o1').map((intent) => intent.intentId)).toEqual([first.intentId, second.intentId]);
    gateway.payerPays('o1');
    expect((await gateway.fetchPaymentStatus({ orderId: 'o1', intentId: second.intentId })).state).toBe('captured');
    expect((await gateway.fetchPaymentStatus({ orderId: 'o1', intentId: first.intentId })).state).toBe('pending');

    gateway.lateCapture('o1', { intentId: first.intentId });
    expect(gateway.eventFor('o1', { intentId: first.intentId })).toMatchObject({
      kind: 'captured',
      intentId: first.intentId,
    });
  });

  it('when the payer is declined twice on one intent, then each decline has its reason and a ref of its own', async () => {
    const gateway = new FakeGateway();
    const { intentId } = await gateway.createIntent(intentRequest('o1'));

    gateway.payerDeclines('o1', { declineCode: 'insufficient_funds' });
    const first = await gateway.fetchPaymentStatus({ orderId: 'o1', intentId });
    const firstAgain = await gateway.fetchPaymentStatus({ orderId: 'o1', intentId });
    gateway.payerDeclines('o1', { code: 'incorrect_cvc', declineCode: null });
    const second = await gateway.fetchPaymentStatus({ orderId: 'o1', intentId });

    expect(first).toMatchObject({
      state: 'failed',
      failure: { code: 'card_declined', declineCode: 'insufficient_funds', ref: expect.any(String) },
    });
    expect(firstAgain.failure).toEqual(first.failure);
    expect(second.failure).toEqual({ code: 'incorrect_cvc', ref: expect.any(String) });
    expect(second.failure?.ref).not.toBe(first.failure?.ref);
    expect(gateway.eventFor('o1')).toMatchObject({ kind: 'failed', failure: second.failure });

    gateway.payerPays('o1');
    const paid = await gateway.fetchPaymentStatus({ orderId: 'o1', intentId });
    expect(paid.state).toBe('captured');
    expect(paid.failure).toBeUndefined();
  });

  it('when a wallet payer cancels, then the intent is cancelled with the wallet word and can no longer be paid', async () => {
    const gateway = new FakeGateway({ name: 'khalti', idempotentIntents: false });
    const { intentId } = await gateway.createIntent(intentRequest('o1', { currency: 'NPR' }));

    gateway.payerCancels('o1', { afterPolls: 1 });
    expect(await gateway.fetchPaymentStatus({ orderId: 'o1', intentId })).toEqual({
      state: 'cancelled',
      gatewayStatus: 'User canceled',
      failure: { code: 'User canceled' },
    });
    expect(() => gateway.payerPays('o1')).toThrow(/cancelled/);
    expect(gateway.eventFor('o1').kind).toBe('cancelled');
  });
});
