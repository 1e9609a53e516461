// Rate limits on the public routes, counted in PostgreSQL: 429 rate_limited with Retry-After in the one error shape,
// one count across API replicas, signed webhook bursts never throttled (not even from an IP over its limit of forged
// ones), a blocked forger refused without a database round trip, and webhooks still taken when the counters cannot
// be read. Real HTTP against two in-process API replicas on the test database.
import Stripe from 'stripe';
import type { RunningApiServer } from '../../api/server';
import { http, startApiHarness, type ApiHarness } from '../support/api-harness';
import { stripeEvent } from '../support/stripe-events';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

const WEBHOOK_SECRET = 'whsec_limits_0123456789';
let harness: ApiHarness;
let replicaA: RunningApiServer;
let replicaB: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({ stripeWebhookSecret: WEBHOOK_SECRET });
  const config = harness.config({
    TEMPORAL_TASK_QUEUE: harness.worker.taskQueue,
    RATE_LIMIT_PER_ORDER: '3',
    RATE_LIMIT_PER_IP: '1000000',
    RATE_LIMIT_WEBHOOK_FAILURES_PER_IP: '1000000',
  });
  replicaA = await harness.startApi({ config });
  replicaB = await harness.startApi({ config });
});

afterAll(async () => {
  await harness?.stop();
});

function signedWebhook(url: string, payload: string, secret = WEBHOOK_SECRET) {
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret });
  return http(url, 'POST', '/webhooks/stripe', {
    body: payload,
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
  });
}

test('when one order is asked for more than its limit across two replicas, then the next answer is 429 rate_limited with Retry-After', async () => {
  const path = `/orders/${uniqueId('limited')}/status?clientSecret=x`;
  const answers = [];
  for (const url of [replicaA.url, replicaB.url, replicaA.url, replicaB.url])
    answers.push(await http(url, 'GET', path));
  expect(answers.slice(0, 3).map((a) => a.status)).not.toContain(429);
  const limited = answers[3];
  expect(limited?.status).toBe(429);
  expect(limited?.body).toMatchObject({ error: { code: 'rate_limited', message: expect.any(String) } });
  expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
});

test('when an IP exceeds the per-IP limit, then it gets 429 on the pay page and the callbacks', async () => {
  const strict = await harness.startApi({
    config: harness.config({ TEMPORAL_TASK_QUEUE: harness.worker.taskQueue, RATE_LIMIT_PER_IP: '1' }),
  });
  await http(strict.url, 'GET', `/pay/${uniqueId('p')}`);
  const limited = await http(strict.url, 'GET', '/callbacks/khalti?pidx=a&status=x&purchase_order_id=b');
  expect(limited.status).toBe(429);
  expect(limited.body.error.code).toBe('rate_limited');
});

test('when a gateway sends a burst of signed webhooks above every per-IP limit, then none is throttled', async () => {
  const strict = await harness.startApi({
    config: harness.config({
      TEMPORAL_TASK_QUEUE: harness.worker.taskQueue,
      RATE_LIMIT_PER_IP: '1',
      RATE_LIMIT_PER_ORDER: '1',
    }),
  });
  const statuses = [];
  for (let i = 0; i < 20; i++) {
    const event = stripeEvent('customer.created', { id: `cus_${i}`, object: 'customer' });
    statuses.push((await signedWebhook(strict.url, event.payload)).status);
  }
  expect(statuses).toEqual(Array(20).fill(200));
});

/** Counted per IP for the window; other suites on this database send forged webhooks from 127.0.0.1 too. */
const clearWebhookFailures = () => harness.pool.query(`DELETE FROM rate_limits WHERE key LIKE 'webhook-fail:%'`);

/** An API refusing an IP's webhooks after `limit` failed verifications, starting from a clean count. */
async function apiWithWebhookFailureLimit(limit: number) {
  const api = await harness.startApi({
    config: harness.config({
      TEMPORAL_TASK_QUEUE: harness.worker.taskQueue,
      RATE_LIMIT_WEBHOOK_FAILURES_PER_IP: String(limit),
    }),
  });
  await clearWebhookFailures();
  return api;
}

test('when an IP sends more forged webhooks than allowed, then its webhooks get 429', async () => {
  const strict = await apiWithWebhookFailureLimit(2);
  const event = stripeEvent('customer.created', { id: 'cus_forged', object: 'customer' });
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await signedWebhook(strict.url, event.payload, 'whsec_forger')).status);
  expect(statuses.slice(0, 2)).toEqual([401, 401]);
  expect(statuses[3]).toBe(429);
  // Counted per IP for the window; cleared here so the other tests' webhooks from 127.0.0.1 go through.
  await clearWebhookFailures();
});

test('when an IP is over its limit of failed verifications, then its signed webhooks are still stored and acknowledged and its forged ones still get 429', async () => {
  const strict = await apiWithWebhookFailureLimit(2);
  try {
    const forged = stripeEvent('customer.created', { id: 'cus_forged_first', object: 'customer' });
    for (let i = 0; i < 3; i++) await signedWebhook(strict.url, forged.payload, 'whsec_forger');
    expect((await signedWebhook(strict.url, forged.payload, 'whsec_forger')).status).toBe(429);

    const genuine = stripeEvent('customer.created', { id: 'cus_genuine_same_ip', object: 'customer' });
    const answer = await signedWebhook(strict.url, genuine.payload);
    expect(answer.status).toBe(200);
    const stored = await harness.pool.query('SELECT 1 FROM webhook_events WHERE event_id = $1', [genuine.eventId]);
    expect(stored.rowCount).toBe(1);

    const refused = await signedWebhook(strict.url, forged.payload, 'whsec_forger');
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: { code: 'rate_limited' } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  } finally {
    await clearWebhookFailures();
  }
});

test('when an IP is over its limit of failed verifications, then its next forged webhooks are refused without reading the counters', async () => {
  const strict = await apiWithWebhookFailureLimit(1);
  const forged = stripeEvent('customer.created', { id: 'cus_forged_flood', object: 'customer' });
  const statuses = [];
  for (let i = 0; i < 2; i++) statuses.push((await signedWebhook(strict.url, forged.payload, 'whsec_forger')).status);
  expect(statuses).toEqual([401, 429]);
  // With the counters unreadable a lookup would let the request through (401): a 429 proves none was made.
  await harness.pool.query('ALTER TABLE rate_limits RENAME TO rate_limits_away');
  try {
    expect((await signedWebhook(strict.url, forged.payload, 'whsec_forger')).status).toBe(429);
  } finally {
    await harness.pool.query('ALTER TABLE rate_limits_away RENAME TO rate_limits');
    await clearWebhookFailures();
  }
});

test('when the rate-limit store cannot be read, then a signed webhook is still stored and acknowledged (fail open)', async () => {
  await harness.pool.query('ALTER TABLE rate_limits RENAME TO rate_limits_away');
  try {
    const event = stripeEvent('customer.created', { id: 'cus_open', object: 'customer' });
    const answer = await signedWebhook(replicaA.url, event.payload);
    expect(answer.status).toBe(200);
    const stored = await harness.pool.query('SELECT 1 FROM webhook_events WHERE event_id = $1', [event.eventId]);
    expect(stored.rowCount).toBe(1);
  } finally {
    await harness.pool.query('ALTER TABLE rate_limits_away RENAME TO rate_limits');
  }
});
