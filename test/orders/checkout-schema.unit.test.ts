// The edge schemas: what a checkout may contain, and how problems are reported per field.
import { cancelBodySchema, checkoutBodySchema, orderIdSchema } from '../../api/orders/checkout.schema';
import { fieldProblems, parseOrThrow } from '../../api/http/parse';
import { idempotencyKeySchema } from '../../api/http/idempotency';
import { ApiError } from '../../api/http/errors';

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
