// The checkout fingerprint must not depend on how the JSON was written, only on what it says.
import { canonicalJson, requestHash } from '../../api/http/request-hash';

describe('canonicalJson', () => {
  test('when keys come in any order at any depth, then the text is the same', () => {
    const a = { orderId: 'o-1', customer: { name: 'A', email: 'a@example.com' }, amount: 100 };
    const b = { amount: 100, customer: { email: 'a@example.com', name: 'A' }, orderId: 'o-1' };
    expect(canonicalJson(a)).toBe('{"amount":100,"customer":{"email":"a@example.com","name":"A"},"orderId":"o-1"}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  test('when a member is undefined, then it is left out as JSON.stringify does', () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
    expect(canonicalJson([1, undefined])).toBe('[1,null]');
  });

  test('when arrays differ in order, then the text differs (order is data)', () => {
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });

  test('when strings need escaping, then they are escaped like JSON', () => {
    expect(canonicalJson({ 'k"': 'line\nbreak' })).toBe('{"k\\"":"line\\nbreak"}');
  });
});

describe('requestHash', () => {
  test('when the body is {"a":1}, then it is the SHA-256 of that text', () => {
    // sha256('{"a":1}'), computed independently with `printf '{"a":1}' | sha256sum`.
    expect(requestHash({ a: 1 })).toBe('015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862');
  });

  test('when one value changes, then the hash changes', () => {
    expect(requestHash({ orderId: 'o-1', amount: 100 })).not.toBe(requestHash({ orderId: 'o-1', amount: 101 }));
  });
});
