// The pure parts of merchant events: which events a change announces, the sealing of stored signing secrets, the
// signed headers (checked with standardwebhooks' own verify) and the configuration of the configured endpoint.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { merchantEventBody, signedHeaders } from '../../activities/merchant-events/merchant-event.activities';
import { loadConfig, workerConfigSchema } from '../../config/env';
import { generateWebhookSecret, openSecret, sealSecret } from '../../config/secret-sealing';
import { announcementsOf, type Announced } from '../../domain/merchant-announcements';

const nothingYet: Announced = { status: null, refundedAmountMinor: 0, needsAttention: false, fulfilmentFailed: false };
const paid: Announced = { status: 'PAID', refundedAmountMinor: 0, needsAttention: false, fulfilmentFailed: false };

describe('what a change of an order announces', () => {
  it('when the status moves, then its event is announced; PENDING announces nothing', () => {
    expect(
      announcementsOf(nothingYet, { status: 'PENDING', refundedAmountMinor: 0, needsAttention: false }, 'order_created')
        .types,
    ).toEqual([]);
    expect(
      announcementsOf(
        nothingYet,
        { status: 'AWAITING_PAYMENT', refundedAmountMinor: 0, needsAttention: false },
        'intent_created',
      ).types,
    ).toEqual(['order.awaiting_payment']);
    expect(
      announcementsOf(
        { ...nothingYet, status: 'AWAITING_PAYMENT' },
        { status: 'PAID', refundedAmountMinor: 0, needsAttention: false },
        'webhook',
      ).types,
    ).toEqual(['order.paid']);
  });

  it('when a timeline row changes nothing the merchant sees, then nothing is announced', () => {
    expect(
      announcementsOf(paid, { status: 'PAID', refundedAmountMinor: 0, needsAttention: false }, 'anything').types,
    ).toEqual([]);
  });

  it('when a further partial refund lands, then order.partially_refunded is announced again', () => {
    const once = announcementsOf(
      paid,
      { status: 'PARTIALLY_REFUNDED', refundedAmountMinor: 100, needsAttention: false },
      'refund',
    );
    expect(once.types).toEqual(['order.partially_refunded']);
    const again = announcementsOf(
      once.announced,
      { status: 'PARTIALLY_REFUNDED', refundedAmountMinor: 300, needsAttention: false },
      'refund',
    );
    expect(again.types).toEqual(['order.partially_refunded']);
    const flagOnly = announcementsOf(
      again.announced,
      { status: 'PARTIALLY_REFUNDED', refundedAmountMinor: 300, needsAttention: true },
      'needs_attention:refund_failed',
    );
    expect(flagOnly.types).toEqual(['order.needs_attention']);
  });

  it('when the attention flag is raised twice, then it is announced once; after it is lowered, again', () => {
    const raised = announcementsOf(paid, { status: 'PAID', refundedAmountMinor: 0, needsAttention: true }, 'x');
    expect(raised.types).toEqual(['order.needs_attention']);
    expect(
      announcementsOf(raised.announced, { status: 'PAID', refundedAmountMinor: 0, needsAttention: true }, 'y').types,
    ).toEqual([]);
    const lowered = announcementsOf(
      raised.announced,
      { status: 'PAID', refundedAmountMinor: 0, needsAttention: false },
      'z',
    );
    expect(
      announcementsOf(lowered.announced, { status: 'PAID', refundedAmountMinor: 0, needsAttention: true }, 'w').types,
    ).toEqual(['order.needs_attention']);
  });

  it.each(['fulfilment_failed', 'fulfilment_timeout'])(
    'when a transition carries reason %s, then order.fulfilment_failed comes before the refund, once',
    (reason) => {
      const refunded = announcementsOf(
        paid,
        { status: 'REFUNDED', refundedAmountMinor: 2_500, needsAttention: false },
        reason,
      );
      expect(refunded.types).toEqual(['order.fulfilment_failed', 'order.refunded']);
      const flagged = announcementsOf(paid, { status: 'PAID', refundedAmountMinor: 0, needsAttention: false }, reason);
      expect(flagged.types).toEqual(['order.fulfilment_failed']);
      expect(
        announcementsOf(
          flagged.announced,
          { status: 'REFUNDED', refundedAmountMinor: 2_500, needsAttention: false },
          reason,
        ).types,
      ).toEqual(['order.refunded']);
    },
  );
});

describe('sealed signing secrets', () => {
  const keys = [
    { id: 'k2', key: randomBytes(32) },
    { id: 'k1', key: randomBytes(32) },
  ];

  it('when a secret is sealed, then it opens for the same endpoint only, and the stored text does not contain it', () => {
    const secret = generateWebhookSecret();
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    const sealed = sealSecret(keys, secret, 'shop');
    expect(sealed).toMatch(/^v1:k2:/);
    expect(sealed).not.toContain(secret.slice('whsec_'.length, 20));
    expect(openSecret(keys, sealed, 'shop')).toBe(secret);
    expect(() => openSecret(keys, sealed, 'other-shop')).toThrow(/failed authentication/);
    expect(() => openSecret([keys[1]!], sealed, 'shop')).toThrow(/needs codec key "k2"/);
  });

  it('when an older key sealed it, then it still opens while that key is listed', () => {
    const sealed = sealSecret([keys[1]!], 'whsec_abc', 'shop');
    expect(openSecret(keys, sealed, 'shop')).toBe('whsec_abc');
  });
});

describe('signed deliveries', () => {
  const delivery = {
    state: 'pending' as const,
    event: {
      eventId: 'evt_0123456789abcdef0123456789abcdef',
      orderId: 'o-1',
      sequence: 3,
      type: 'order.paid' as const,
      data: { order: { orderId: 'o-1' } } as never,
      createdAt: new Date('2026-01-01T00:00:00.000Z'),
    },
  };

  it('when signed with two secrets, then each verifies with standardwebhooks, and a changed body does not', () => {
    const [first, second] = [generateWebhookSecret(), generateWebhookSecret()];
    const body = merchantEventBody(delivery);
    const headers = signedHeaders([first, second], delivery.event.eventId, new Date(), body);
    expect(new Webhook(first).verify(body, headers)).toEqual({
      id: delivery.event.eventId,
      type: 'order.paid',
      timestamp: '2026-01-01T00:00:00.000Z',
      sequence: 3,
      data: { order: { orderId: 'o-1' } },
    });
    expect(new Webhook(second).verify(body, headers)).toBeDefined();
    expect(() => new Webhook(first).verify(body.replace('"sequence":3', '"sequence":4'), headers)).toThrow();
  });

  it('when the endpoint takes personal data, then the customer is in data; otherwise it is absent', () => {
    expect(JSON.parse(merchantEventBody(delivery)).data).not.toHaveProperty('customer');
    const withCustomer = JSON.parse(merchantEventBody({ ...delivery, customer: { email: 'a@example.com' } }));
    expect(withCustomer.data.customer).toEqual({ email: 'a@example.com' });
  });
});

describe('configured endpoint', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

  it('when MERCHANT_WEBHOOK_URL comes without a secret, or with one that is not whsec_, then the worker refuses to start', () => {
    expect(() => loadConfig(workerConfigSchema, { MERCHANT_WEBHOOK_URL: 'https://shop.example/hook' })).toThrow(
      /MERCHANT_WEBHOOK_SECRET: is required/,
    );
    expect(() =>
      loadConfig(workerConfigSchema, {
        MERCHANT_WEBHOOK_URL: 'https://shop.example/hook',
        MERCHANT_WEBHOOK_SECRET: 'hunter2',
      }),
    ).toThrow(/MERCHANT_WEBHOOK_SECRET/);
  });

  it('when two secrets are given, then both sign; defaults retry for 72h', () => {
    const config = loadConfig(workerConfigSchema, {
      MERCHANT_WEBHOOK_URL: 'https://shop.example/hook',
      MERCHANT_WEBHOOK_SECRET: `${secret}, ${generateWebhookSecret()}`,
    });
    expect(config.MERCHANT_WEBHOOK_SECRET).toHaveLength(2);
    expect(config.MERCHANT_WEBHOOK_RETRY_FOR).toBe(72 * 3_600_000);
    expect(config.MERCHANT_WEBHOOK_TIMEOUT).toBe(10_000);
  });
});
