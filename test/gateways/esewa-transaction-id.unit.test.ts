// eSewa transaction UUIDs per payment attempt: attempt 1 is the escaped order ID (as before attempts existed), later
// attempts carry "-9<n>". Every (order, attempt) maps to one UUID, no two share one, and each maps back.
import fc from 'fast-check';
import { ORDER_ID_PATTERN } from '../../contracts/order.contract';
import {
  esewaTransactionUuid,
  orderIdOfEsewaTransactionUuid,
  parseEsewaTransactionUuid,
} from '../../gateways/esewa/esewa.transaction-id';

/** Order IDs as the API accepts them, biased towards the characters the escapes are about. */
const orderIdArbitrary = fc
  .array(fc.constantFrom('a', 'Z', '0', '9', '-', '.', '_'), { minLength: 1, maxLength: 64 })
  .map((chars) => chars.join(''))
  .filter((id) => ORDER_ID_PATTERN.test(id));
const attemptArbitrary = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 1_000_000 }));

describe('eSewa transaction UUIDs per attempt', () => {
  it('when the attempt is the first, then the UUID is the one orders in flight already use', () => {
    expect(esewaTransactionUuid('order_1.a-b')).toBe('order-21-1a-0b');
    expect(esewaTransactionUuid('order_1.a-b', 1)).toBe('order-21-1a-0b');
    expect(esewaTransactionUuid('order_1.a-b', 2)).toBe('order-21-1a-0b-92');
    expect(esewaTransactionUuid('o9', 10)).toBe('o9-910');
  });

  it('when any order ID and attempt number are mapped, then the UUID is eSewa-safe and maps back to both', () => {
    fc.assert(
      fc.property(orderIdArbitrary, attemptArbitrary, (orderId, attemptNumber) => {
        const uuid = esewaTransactionUuid(orderId, attemptNumber);
        expect(uuid).toMatch(/^[A-Za-z0-9-]+$/);
        expect(parseEsewaTransactionUuid(uuid)).toEqual({ orderId, attemptNumber });
        expect(orderIdOfEsewaTransactionUuid(uuid)).toBe(orderId);
      }),
      { numRuns: 2_000 },
    );
  });

  it('when every short order ID is mapped with every attempt up to 12, then no two UUIDs are the same', () => {
    // Exhaustive over a small space where an escape and a suffix could meet ("a-2" next to attempt 2 of "a").
    const alphabet = ['a', '0', '2', '9', '-', '.', '_'];
    let orderIds = [''];
    const all: string[] = [];
    for (let length = 1; length <= 3; length += 1) {
      orderIds = orderIds.flatMap((prefix) => alphabet.map((char) => prefix + char));
      all.push(...orderIds);
    }
    const owners = new Map<string, string>();
    for (const orderId of all) {
      for (let attempt = 1; attempt <= 12; attempt += 1) {
        const uuid = esewaTransactionUuid(orderId, attempt);
        expect([uuid, owners.get(uuid)]).toEqual([uuid, undefined]);
        owners.set(uuid, `${orderId}#${attempt}`);
      }
    }
    expect(owners.size).toBe(all.length * 12);
  });

  it('when an order ID looks like another order with an attempt suffix, then the two still differ', () => {
    // "a-9" escapes to "a-09"; attempt 9 of "a" is "a-99": the escape and the suffix never meet.
    const pairs: [string, number][] = [
      ['a-9', 1],
      ['a', 9],
      ['a-92', 1],
      ['a', 2],
      ['a-', 2],
      ['a-0', 2],
    ];
    const uuids = pairs.map(([orderId, attempt]) => esewaTransactionUuid(orderId, attempt));
    expect(new Set(uuids).size).toBe(pairs.length);
    for (const [index, uuid] of uuids.entries()) {
      const [orderId, attemptNumber] = pairs[index] ?? [];
      expect(parseEsewaTransactionUuid(uuid)).toEqual({ orderId, attemptNumber });
    }
  });

  it('when a UUID is a second spelling of an attempt or not made by orderpay, then it names no order', () => {
    for (const uuid of ['a-91', 'a-902', 'a-90', 'a-9', 'a-9x', 'a-92-92', '-92', 'a-3', 'a-99999999999999999'])
      expect(parseEsewaTransactionUuid(uuid)).toBeUndefined();
  });

  it('when the attempt number is not a positive integer, then no UUID is made', () => {
    for (const attempt of [0, -1, 1.5, Number.NaN])
      expect(() => esewaTransactionUuid('a', attempt)).toThrow(RangeError);
  });
});
