// Proves the pure parts of the Khalti adapter: every documented lookup status maps to the state the workflow needs,
// the refund URL is derived outside /api/v2/, Khalti's documented initiate answer parses, and whether a refund still
// has to be sent is decided from the amounts.
import { paymentStatusOf, refundBaseOf, refundDecisionOf } from '../../gateways/khalti/khalti.gateway';
import { khaltiInitiateResponseSchema, type KhaltiLookupResponse } from '../../gateways/khalti/khalti.schemas';

function lookup(status: string, overrides: Partial<KhaltiLookupResponse> = {}): KhaltiLookupResponse {
  return {
    pidx: 'HT6o6PEZRWFJ5ygavzHWd5',
    total_amount: 1000,
    status,
    transaction_id: 'GFq9PFS7b2iYvL8Lir9oXe',
    fee: 0,
    refunded: false,
    ...overrides,
  };
}

describe('mapping Khalti lookup statuses', () => {
  test.each([
    [
      'Completed',
      { state: 'captured', amountMinor: 1000, currency: 'NPR', paymentReference: 'GFq9PFS7b2iYvL8Lir9oXe' },
    ],
    ['Pending', { state: 'pending', needsAttention: true }],
    ['Initiated', { state: 'pending' }],
    ['Expired', { state: 'cancelled', failure: { code: 'Expired' } }],
    ['User canceled', { state: 'cancelled', failure: { code: 'User canceled' } }],
    ['Refunded', { state: 'captured', amountMinor: 1000, refundedAmountMinor: 1000 }],
    ['Partially Refunded', { state: 'captured', amountMinor: 1000 }],
    ['Ambiguous new word', { state: 'pending', needsAttention: true }],
  ])('when the lookup says %s, then the payment status is %o', (status, expected) => {
    const mapped = paymentStatusOf(lookup(status));
    expect(mapped).toMatchObject({ ...expected, gatewayStatus: status });
    if (!('needsAttention' in expected)) expect(mapped.needsAttention).toBeUndefined();
    if (!('refundedAmountMinor' in expected)) expect(mapped.refundedAmountMinor).toBeUndefined();
    if (!('failure' in expected)) expect(mapped.failure).toBeUndefined();
  });

  test('when a Completed lookup has no transaction ID, then it is still captured, without a payment reference', () => {
    const mapped = paymentStatusOf(lookup('Completed', { transaction_id: null }));
    expect(mapped.state).toBe('captured');
    expect(mapped.paymentReference).toBeUndefined();
  });
});

describe('deriving the refund URL', () => {
  test.each([
    ['https://khalti.com/api/v2/', 'https://khalti.com/api/merchant-transaction/'],
    ['https://dev.khalti.com/api/v2/', 'https://dev.khalti.com/api/merchant-transaction/'],
    ['http://127.0.0.1:12111/api/v2/', 'http://127.0.0.1:12111/api/merchant-transaction/'],
    ['https://proxy.example/khalti/api/v2/', 'https://proxy.example/khalti/api/merchant-transaction/'],
  ])('when the API base is %s, then refunds go to %s', (base, expected) => {
    expect(refundBaseOf(new URL(base)).toString()).toBe(expected);
  });
});

describe('parsing the initiate answer', () => {
  test('when Khalti answers with its documented example (microseconds, Nepal offset), then it parses', () => {
    const parsed = khaltiInitiateResponseSchema.parse({
      pidx: 'bZQLD9wRVWo4CdESSfuSsB',
      payment_url: 'https://test-pay.khalti.com/?pidx=bZQLD9wRVWo4CdESSfuSsB',
      expires_at: '2023-05-25T16:26:16.471649+05:45',
      expires_in: 1800,
    });
    expect(new Date(parsed.expires_at).toISOString()).toBe('2023-05-25T10:41:16.471Z');
  });

  test('when expires_at has no offset, then it is refused rather than read in the wrong time zone', () => {
    expect(() =>
      khaltiInitiateResponseSchema.parse({
        pidx: 'p',
        payment_url: 'https://test-pay.khalti.com/?pidx=p',
        expires_at: '2023-05-25T16:26:16',
        expires_in: 1800,
      }),
    ).toThrow();
  });
});

describe('deciding a refund from the amounts (payment of 1000, this refund 300)', () => {
  test.each([
    ['Completed', 0, false, 'refund'],
    ['Completed', 0, true, 'refund'],
    ['Completed', 200, true, 'ledger_mismatch'],
    ['Partially Refunded', 0, false, 'ledger_mismatch'],
    ['Partially Refunded', 0, true, 'already_refunded'],
    ['Partially Refunded', 200, false, 'refund'],
    ['Partially Refunded', 200, true, 'outcome_unknown'],
    ['Partially Refunded', 700, true, 'refund'],
    ['Refunded', 700, true, 'already_refunded'],
    ['Refunded', 700, false, 'ledger_mismatch'],
    ['Refunded', 200, true, 'ledger_mismatch'],
  ] as const)(
    'when Khalti says %s, orderpay refunded %i before and an earlier attempt may have reached Khalti: %s, then %s',
    (status, refundedBeforeMinor, previouslyAttempted, expected) => {
      expect(
        refundDecisionOf({
          status,
          totalAmountMinor: 1000,
          refundedBeforeMinor,
          amountMinor: 300,
          previouslyAttempted,
        }),
      ).toBe(expected);
    },
  );
});
