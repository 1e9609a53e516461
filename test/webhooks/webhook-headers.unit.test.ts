// What of a webhook's headers is stored: everything but credentials and signatures, which become fingerprints.
import { createHash } from 'node:crypto';
import { storableHeaders } from '../../api/webhooks/receive-webhook.use-case';

const signature = 't=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd';

test('when a signature header is present, then only a 12-hex SHA-256 fingerprint of it is stored', () => {
  const stored = storableHeaders({ 'Stripe-Signature': signature, 'content-type': 'application/json' }, [
    'stripe-signature',
  ]);
  const expected = `sha256:${createHash('sha256').update(signature).digest('hex').slice(0, 12)}`;
  expect(stored).toEqual({ 'stripe-signature': expected, 'content-type': 'application/json' });
  expect(JSON.stringify(stored)).not.toContain('5257a869');
});

test('when credentials are present, then they are fingerprinted even if the verifier did not list them', () => {
  const stored = storableHeaders(
    { authorization: 'Bearer abc', cookie: 'session=xyz', 'user-agent': 'Stripe/1.0' },
    [],
  );
  expect(stored.authorization).toMatch(/^sha256:[0-9a-f]{12}$/);
  expect(stored.cookie).toMatch(/^sha256:[0-9a-f]{12}$/);
  expect(stored['user-agent']).toBe('Stripe/1.0');
});

test('when a header repeats or is undefined, then repeats are kept and undefined ones dropped', () => {
  expect(storableHeaders({ via: ['a', 'b'], 'x-empty': undefined }, [])).toEqual({ via: ['a', 'b'] });
});
