// Errors no retry can fix, at activity level with real PostgreSQL and the real Stripe adapter (over HTTP to the
// sandbox): a NUL character the database refuses, and a lone UTF-16 surrogate the Stripe SDK cannot encode, fail
// non-retryable on the first attempt instead of being retried until the checkout times out.
import { ApplicationFailure } from '@temporalio/common';
import { createPool, type Pool } from '../../db/pool';
import { createStripeGateway } from '../../gateways/stripe/stripe.gateway';
import type { RunningSandbox } from '../../sandbox/server';
import { orderInput, refundHarness } from '../support/refund-activities';
import { startTestSandbox, TEST_STRIPE_KEY } from '../support/sandbox';

let pool: Pool;
let running: RunningSandbox;
beforeAll(async () => {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is not set: is test/support/global-setup.ts configured?');
  pool = createPool(databaseUrl, { max: 2 });
  running = await startTestSandbox();
});
afterAll(async () => {
  await running.stop();
  await pool.end();
});

function harness() {
  const stripe = createStripeGateway({
    apiBase: running.url,
    secretKey: TEST_STRIPE_KEY,
    timeoutMs: 2_000,
    publicBaseUrl: 'http://shop.test',
  });
  return refundHarness({ pool, gateways: () => stripe });
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(error)}`);
  return error;
}

it('when the description holds a NUL character, then recordOrder fails non-retryable at once and stores nothing', async () => {
  const h = harness();
  const input = orderInput('stripe', { description: 'Two\u0000widgets' });

  const failure = await failureOf(h.run('recordOrder', input));

  expect(failure.type).toBe('InvalidOrderData');
  expect(failure.nonRetryable).toBe(true);
  expect(failure.details).toEqual([expect.objectContaining({ sqlState: '22021' })]);
  expect((await pool.query('SELECT 1 FROM orders WHERE order_id = $1', [input.orderId])).rowCount).toBe(0);
});

it('when the customer name holds a NUL character (jsonb), then recordOrder fails non-retryable at once', async () => {
  const h = harness();
  const failure = await failureOf(h.run('recordOrder', orderInput('stripe', { customer: { name: 'Ada\u0000' } })));

  expect(failure.type).toBe('InvalidOrderData');
  expect(failure.nonRetryable).toBe(true);
  expect(failure.details).toEqual([expect.objectContaining({ sqlState: '22P05' })]);
});

it('when the description holds a lone surrogate, then createPaymentIntent fails non-retryable and Stripe sees no request', async () => {
  const h = harness();
  const input = orderInput('stripe', { description: 'Widget \uD800 deluxe' });
  await h.run('recordOrder', input);
  const requestsBefore = running.sandbox.stats().apiRequests;

  const failure = await failureOf(h.run('createPaymentIntent', input));

  expect(failure.nonRetryable).toBe(true);
  expect(failure.type).toBe('InvalidOrderData');
  expect(failure.details).toEqual([{ error: 'URIError' }]);
  expect(running.sandbox.stats().apiRequests).toBe(requestsBefore);
});
