// The edge schemas: what a checkout may contain, and how problems are reported per field.
import { cancelBodySchema, checkoutBodySchema, orderIdSchema } from '../../api/orders/checkout.schema';
import { fieldProblems, parseOrThrow } from '../../api/http/parse';
import { idempotencyKeySchema } from '../../api/http/idempotency';
import { ApiError } from '../../api/http/errors';
import { checkoutRequestHash } from '../../api/orders/checkout-order.use-case';

const valid = { orderId: 'order_1.A-b', amount: 1, currency: 'NPR', gateway: 'stripe' };

describe('checkoutBodySchema', () => {
  test('when only the required fields are given, then it parses unchanged', () => {
    expect(checkoutBodySchema.parse(valid)).toEqual(valid);
  });

  test.each([
    ['stripe', 'USD', 99_999_999],
    ['esewa', 'NPR', 100_000_000],
    ['khalti', 'NPR', 100_000_000],
  ])(
    'when the amount is the %s maximum, then it is accepted; one more, or 2^53-1, is not',
    (gateway, currency, max) => {
      const order = { ...valid, gateway, currency };
      expect(checkoutBodySchema.safeParse({ ...order, amount: max }).success).toBe(true);
      expect(checkoutBodySchema.safeParse({ ...order, amount: max + 1 }).success).toBe(false);
      expect(checkoutBodySchema.safeParse({ ...order, amount: Number.MAX_SAFE_INTEGER }).success).toBe(false);
    },
  );

  test.each(['USD', 'EUR', 'JPY', 'NPR', 'GBP'])('when the currency is %s, then it is accepted', (currency) => {
    expect(checkoutBodySchema.safeParse({ ...valid, currency }).success).toBe(true);
  });

  test.each(['usd', 'US', 'USDX', 'USX', 'ZZZ', '', 'U$D'])(
    'when the currency is "%s", then it is refused',
    (currency) => {
      expect(checkoutBodySchema.safeParse({ ...valid, currency }).success).toBe(false);
    },
  );

  test.each(['http://localhost:3000/back', 'https://shop.example/r?x=1'])(
    'when returnUrl is %s, then it is accepted',
    (returnUrl) => {
      expect(checkoutBodySchema.safeParse({ ...valid, returnUrl }).success).toBe(true);
    },
  );

  test.each(['ftp://shop.example', 'javascript:alert(1)', 'data:text/html,x', '/relative'])(
    'when returnUrl is %s, then it is refused',
    (returnUrl) => {
      expect(checkoutBodySchema.safeParse({ ...valid, returnUrl }).success).toBe(false);
    },
  );

  test('when a description has 200 characters, then it is accepted; 201 are not', () => {
    expect(checkoutBodySchema.safeParse({ ...valid, description: 'd'.repeat(200) }).success).toBe(true);
    expect(checkoutBodySchema.safeParse({ ...valid, description: 'd'.repeat(201) }).success).toBe(false);
  });
});

describe('orderIdSchema and idempotencyKeySchema', () => {
  test.each(['a', 'A.b_c-9', 'x'.repeat(64)])('when the order ID is %s, then it is accepted', (id) => {
    expect(orderIdSchema.safeParse(id).success).toBe(true);
  });

  test.each(['', 'x'.repeat(65), 'a b', 'a/b', 'ä', 'a\n'])('when the order ID is %j, then it is refused', (id) => {
    expect(orderIdSchema.safeParse(id).success).toBe(false);
  });

  test('when an idempotency key is printable and up to 255 long, then it is accepted', () => {
    expect(idempotencyKeySchema.safeParse('k'.repeat(255)).success).toBe(true);
    expect(idempotencyKeySchema.safeParse('key with spaces/and:symbols').success).toBe(true);
  });

  test.each(['', '   ', 'k'.repeat(256), 'tab\there', 'é'])(
    'when an idempotency key is %j, then it is refused',
    (key) => {
      expect(idempotencyKeySchema.safeParse(key).success).toBe(false);
    },
  );
});

describe('cancelBodySchema', () => {
  test('when there is no body or no reason, then it parses', () => {
    expect(cancelBodySchema.parse(undefined)).toBeUndefined();
    expect(cancelBodySchema.parse({})).toEqual({});
  });

  test('when the body has an unknown field, then it is refused', () => {
    expect(cancelBodySchema.safeParse({ reason: 'x', refund: true }).success).toBe(false);
  });
});

describe('fieldProblems and parseOrThrow', () => {
  test('when fields are nested or unknown, then each problem names its dotted path', () => {
    const result = checkoutBodySchema.safeParse({ ...valid, customer: { email: 'x', extra: 1, more: 2 }, amount: 0 });
    expect(result.success).toBe(false);
    const fields = fieldProblems(result.error!)
      .map((problem) => problem.field)
      .sort();
    expect(fields).toEqual(['amount', 'customer.email', 'customer.extra', 'customer.more']);
  });

  test('when the whole body is wrong, then the field is "(body)"', () => {
    const result = checkoutBodySchema.safeParse('text');
    expect(fieldProblems(result.error!)).toEqual([{ field: '(body)', message: expect.any(String) }]);
  });

  test('when parsing fails, then a 400 validation_failed ApiError is thrown with a prefix on the fields', () => {
    let thrown: unknown;
    try {
      parseOrThrow(orderIdSchema, 'a b', 'orderId');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect(thrown).toMatchObject({ status: 400, code: 'validation_failed', details: [{ field: 'orderId' }] });
  });
});

describe('checkoutBodySchema gateways', () => {
  const wallet = { orderId: 'g-1', amount: 150_050, currency: 'NPR', gateway: 'esewa' };
  const problemsOf = (body: unknown) => {
    try {
      parseOrThrow(checkoutBodySchema, body);
      return [];
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 400) throw error;
      return error.details as { field: string; message: string }[];
    }
  };

  test('when gateways lists distinct gateways including gateway that all take the amount, then it parses', () => {
    expect(checkoutBodySchema.parse({ ...wallet, gateways: ['khalti', 'esewa'] })).toEqual({
      ...wallet,
      gateways: ['khalti', 'esewa'],
    });
    expect(checkoutBodySchema.parse({ ...wallet, gateways: ['esewa'] }).gateways).toEqual(['esewa']);
  });

  test.each([
    ['empty', [], 'must name at least one gateway'],
    ['without gateway', ['khalti'], 'must include the gateway esewa'],
    ['with a repeat', ['esewa', 'esewa'], 'must name each gateway only once'],
  ])('when gateways is %s, then 400 names the field gateways', (_case, gateways, message) => {
    expect(problemsOf({ ...wallet, gateways })).toContainEqual({ field: 'gateways', message });
  });

  test('when a listed wallet refuses the currency of a card order, then gateways is named and currency is not', () => {
    const card = { orderId: 'g-3', amount: 2_500, currency: 'USD', gateway: 'stripe' };
    expect(problemsOf({ ...card, gateways: ['stripe', 'khalti'] })).toEqual([
      { field: 'gateways', message: 'currency must be NPR for gateway khalti' },
    ]);
  });

  test('when a listed gateway refuses the amount (Khalti under Rs 10, Stripe over its maximum), then gateways is named', () => {
    expect(problemsOf({ ...wallet, amount: 999, gateways: ['esewa', 'khalti'] })).toEqual([
      { field: 'gateways', message: 'amount must be at least 1000 paisa (Rs 10) for gateway khalti' },
    ]);
    const card = { orderId: 'g-2', amount: 100_000_000, currency: 'NPR', gateway: 'esewa' };
    expect(problemsOf({ ...card, gateways: ['esewa', 'stripe'] })).toEqual([
      { field: 'gateways', message: 'amount must be at most 99999999 minor units for gateway stripe' },
    ]);
  });

  test.each([['paypal'], ['ESEWA'], [''], ['esewa\u0000']])('when gateways holds %p, then it is a 400', (name) => {
    expect(problemsOf({ ...wallet, gateways: ['esewa', name] })).not.toEqual([]);
  });

  test('when gateways is not an array, then it is a 400 naming gateways', () => {
    expect(problemsOf({ ...wallet, gateways: 'esewa' })[0]?.field).toBe('gateways');
  });
});

describe('checkoutRequestHash', () => {
  // Pinned from the code before `gateways` existed: a retried checkout of an order recorded then must still match
  // its row's request_hash, or the retry would be a 409 idempotency_conflict.
  test('when a body has no gateways, then it hashes exactly as before the field existed', () => {
    const full = checkoutBodySchema.parse({
      orderId: 'hash-1',
      amount: 2500,
      currency: 'USD',
      gateway: 'stripe',
      description: 'Two tickets',
      customer: { name: 'A' },
      returnUrl: 'https://shop.example/done',
      fulfilment: { mode: 'confirm', timeout: '2h' },
    });
    const bare = checkoutBodySchema.parse({ orderId: 'hash-2', amount: 150050, currency: 'NPR', gateway: 'esewa' });
    expect(checkoutRequestHash(full)).toBe('8276b97c0c82db5e8f42b6e285ae4a32ece5bfe3f62a08e4679dac411c967dd3');
    expect(checkoutRequestHash(bare)).toBe('56e82c75f826d8c81a0dd10ed475bf026a8961c638af82ed82ae1d0f2d0d3b91');
  });

  test('when a body names gateways, then it is a different request from the same body without them', () => {
    const bare = { orderId: 'hash-2', amount: 150050, currency: 'NPR', gateway: 'esewa' };
    const withGateways = checkoutBodySchema.parse({ ...bare, gateways: ['esewa', 'khalti'] });
    expect(checkoutRequestHash(withGateways)).not.toBe(checkoutRequestHash(checkoutBodySchema.parse(bare)));
  });
});
