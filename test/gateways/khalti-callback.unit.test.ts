// Proves the Khalti return URL is read as what it is, an unsigned hint: it names the order and a deterministic event,
// carries no amount or payment reference anyone could trust, and refuses malformed or hostile queries with an error
// the HTTP edge turns into a 400.
import { parseKhaltiCallback } from '../../gateways/khalti/khalti.callback';
import { WebhookPayloadError } from '../../gateways/gateway-errors';

const RECEIVED_AT = new Date('2026-11-21T10:00:00.000Z');

/** Khalti's documented success return, as Express hands it over (one string per parameter). */
function completedQuery(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    pidx: 'bZQLD9wRVWo4CdESSfuSsB',
    transaction_id: '4H7AhoXDJWg5WjrcPT9ixW',
    tidx: '4H7AhoXDJWg5WjrcPT9ixW',
    txnId: '4H7AhoXDJWg5WjrcPT9ixW',
    amount: '1000',
    total_amount: '1000',
    mobile: '98XXXXX904',
    status: 'Completed',
    purchase_order_id: 'ord-123',
    purchase_order_name: 'Two momos',
    ...overrides,
  };
}

describe('parsing the Khalti return URL', () => {
  test('when Khalti returns a completed payment, then the order, a deterministic event ID and an unverified captured hint come back', () => {
    const parsed = parseKhaltiCallback(completedQuery(), RECEIVED_AT);

    expect(parsed).toEqual({
      orderId: 'ord-123',
      eventId: 'khalti-return:ord-123:bZQLD9wRVWo4CdESSfuSsB:captured',
      pidx: 'bZQLD9wRVWo4CdESSfuSsB',
      claimedStatus: 'Completed',
      paymentEvent: {
        eventId: 'khalti-return:ord-123:bZQLD9wRVWo4CdESSfuSsB:captured',
        kind: 'captured',
        verified: false,
        intentId: 'bZQLD9wRVWo4CdESSfuSsB',
        occurredAt: RECEIVED_AT.toISOString(),
      },
    });
  });

  test('when the same return arrives twice, then both carry the same event ID, so the second is a duplicate', () => {
    const first = parseKhaltiCallback(completedQuery(), RECEIVED_AT);
    const second = parseKhaltiCallback(completedQuery(), new Date(RECEIVED_AT.getTime() + 5_000));
    expect(second.eventId).toBe(first.eventId);
  });

  test('when the payer cancelled, then the hint is a cancellation with its own event ID and the empty transaction fields are accepted', () => {
    const parsed = parseKhaltiCallback(
      completedQuery({ status: 'User canceled', transaction_id: '', tidx: '', txnId: '', mobile: '' }),
      RECEIVED_AT,
    );
    expect(parsed.paymentEvent.kind).toBe('cancelled');
    expect(parsed.eventId).toBe('khalti-return:ord-123:bZQLD9wRVWo4CdESSfuSsB:cancelled');
  });

  test.each([['Pending'], ['Initiated'], ['Something new']])(
    'when the status is %s, then the hint is pending and still asks for a lookup',
    (status) => {
      const parsed = parseKhaltiCallback(completedQuery({ status }), RECEIVED_AT);
      expect(parsed.paymentEvent).toMatchObject({ kind: 'pending', verified: false });
    },
  );

  test('when the amounts are tampered with, then nothing of them reaches the event: it stays an unverified hint', () => {
    const honest = parseKhaltiCallback(completedQuery(), RECEIVED_AT);
    const tampered = parseKhaltiCallback(completedQuery({ amount: '1', total_amount: '999999999' }), RECEIVED_AT);

    expect(tampered).toEqual(honest);
    expect(tampered.paymentEvent.amountMinor).toBeUndefined();
    expect(tampered.paymentEvent.paymentReference).toBeUndefined();
    expect(tampered.paymentEvent.verified).toBe(false);
  });

  test.each([['pidx'], ['status'], ['purchase_order_id']])(
    'when %s is missing, then a payload error (a 400 at the edge) is thrown',
    (field) => {
      const query = completedQuery();
      delete query[field];
      expect(() => parseKhaltiCallback(query, RECEIVED_AT)).toThrow(WebhookPayloadError);
      expect(() => parseKhaltiCallback(query, RECEIVED_AT)).toThrow(field);
    },
  );

  test.each<[string, Record<string, unknown>]>([
    ['a repeated pidx', { pidx: ['bZQLD9wRVWo4CdESSfuSsB', 'other'] }],
    ['a pidx with markup', { pidx: '<script>alert(1)</script>' }],
    ['a pidx of 10 000 characters', { pidx: 'a'.repeat(10_000) }],
    ['an order ID with a path in it', { purchase_order_id: '../../admin' }],
    ['an order ID of 65 characters', { purchase_order_id: 'o'.repeat(65) }],
    ['a nested object for the status', { status: { $ne: 'x' } }],
    ['an empty status', { status: '' }],
    ['an amount that is not digits', { amount: '10.00; DROP TABLE orders' }],
    ['a transaction ID with spaces', { transaction_id: 'a b' }],
  ])('when the query carries %s, then it is refused as a payload error', (_label, overrides) => {
    expect(() => parseKhaltiCallback(completedQuery(overrides), RECEIVED_AT)).toThrow(WebhookPayloadError);
  });

  test.each([[undefined], [null], ['pidx=abc'], [42]])(
    'when the query is %p, then it is refused as a payload error',
    (query) => {
      expect(() => parseKhaltiCallback(query, RECEIVED_AT)).toThrow(WebhookPayloadError);
    },
  );

  test('when the status is an inherited object key (constructor), then it is read as pending, not as an object method', () => {
    const parsed = parseKhaltiCallback(completedQuery({ status: 'constructor' }), RECEIVED_AT);
    expect(parsed.paymentEvent.kind).toBe('pending');
    expect(parsed.eventId).toBe('khalti-return:ord-123:bZQLD9wRVWo4CdESSfuSsB:pending');
  });
});
