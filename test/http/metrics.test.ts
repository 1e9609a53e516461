// GET /metrics over real HTTP, on the API's metrics port (API_METRICS_PORT): each API metric moves when its event
// happens, and only then. The API under test has its own registry, so the numbers are exactly what these requests
// did. The API's own port does not serve /metrics.
import { Registry } from 'prom-client';
import Stripe from 'stripe';
import type { RunningApiServer } from '../../api/server';
import { createApiMetrics } from '../../config/metrics';
import { http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import { hasSample, sampleSum } from '../support/metrics';
import { eventually } from '../support/processes';
import { uniqueId } from '../support/temporal';
import { paymentSucceeded } from '../support/stripe-events';

const SECRET = 'whsec_metrics_test';

let harness: ApiHarness;
let api: RunningApiServer;

beforeAll(async () => {
  harness = await startApiHarness({ stripeWebhookSecret: SECRET });
  api = await harness.startApi();
});

afterAll(() => harness?.stop());

async function scrape(server: RunningApiServer = api): Promise<string> {
  if (!server.metricsUrl) throw new Error('the API under test has no metrics port');
  const response = await fetch(server.metricsUrl);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

const signed = (payload: string, secret = SECRET) => ({
  'content-type': 'application/json',
  'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret }),
});

describe('GET /metrics', () => {
  it('when checkouts end in different ways, then each outcome is counted once', async () => {
    const orderId = uniqueId('met');
    const order = { orderId, amount: 1500, currency: 'USD', gateway: 'stripe' };
    expect((await postJson(api.url, '/orders', order)).status).toBe(201);
    expect((await postJson(api.url, '/orders', order)).status).toBe(200);
    expect((await postJson(api.url, '/orders', { ...order, amount: 1600 })).status).toBe(409);
    expect((await postJson(api.url, '/orders', { ...order, amount: -1 })).status).toBe(400);

    const text = await scrape();
    expect(sampleSum(text, 'orderpay_checkout_requests_total', { outcome: 'created' })).toBe(1);
    expect(sampleSum(text, 'orderpay_checkout_requests_total', { outcome: 'replayed' })).toBe(1);
    expect(sampleSum(text, 'orderpay_checkout_requests_total', { outcome: 'idempotency_conflict' })).toBe(1);
    expect(sampleSum(text, 'orderpay_checkout_requests_total', { outcome: 'validation_failed' })).toBe(1);
    expect(sampleSum(text, 'orderpay_checkout_requests_total')).toBe(4);
  });

  it('when requests hit known and unknown routes, then responses are counted by route pattern, method and code', async () => {
    const server = await harness.startApi();
    const orderId = uniqueId('meth');
    expect((await http(server.url, 'GET', `/orders/${orderId}`)).status).toBe(404);
    expect((await http(server.url, 'GET', `/nowhere/${orderId}`)).status).toBe(404);
    expect((await http(server.url, 'PROPFIND', '/healthz')).status).toBe(405);
    expect((await http(server.url, 'GET', '/healthz')).status).toBe(200);

    const text = await scrape(server);
    const responses = 'orderpay_http_responses_total';
    expect(sampleSum(text, responses, { route: '/orders/:orderId', method: 'GET', code: '404' })).toBe(1);
    expect(sampleSum(text, responses, { route: 'unmatched', method: 'GET', code: '404' })).toBe(1);
    expect(sampleSum(text, responses, { route: '/healthz', method: 'GET', code: '200' })).toBe(1);
    expect(sampleSum(text, responses, { method: 'OTHER' })).toBe(1);
    // Raw paths never become labels.
    expect(text).not.toContain(orderId);
  });

  it('when webhooks are delivered, duplicated, badly signed or for an unknown gateway, then latency, codes, duplicates, signature failures and delivery lag move', async () => {
    const server = await harness.startApi();
    const orderId = uniqueId('metw');
    expect(
      (await postJson(server.url, '/orders', { orderId, amount: 900, currency: 'USD', gateway: 'stripe' })).status,
    ).toBe(201);
    const { payload } = paymentSucceeded(orderId, 900);
    expect(
      (await http(server.url, 'POST', '/webhooks/stripe', { body: payload, headers: signed(payload) })).status,
    ).toBe(200);
    // Delivered after the answer; once it is, the same event again is a duplicate.
    await eventually(
      async () =>
        sampleSum(await scrape(server), 'orderpay_webhook_delivery_lag_seconds_count', { gateway: 'stripe' }) >= 1
          ? true
          : undefined,
      { what: 'the webhook delivered' },
    );
    const again = await http(server.url, 'POST', '/webhooks/stripe', { body: payload, headers: signed(payload) });
    expect(again.body).toEqual({ received: true, duplicate: true });
    const forged = await http(server.url, 'POST', '/webhooks/stripe', {
      body: payload,
      headers: signed(payload, 'whsec_someone_else'),
    });
    expect(forged.status).toBe(401);
    expect((await http(server.url, 'POST', '/webhooks/nope', { body: '{}' })).status).toBe(404);

    const text = await scrape(server);
    expect(sampleSum(text, 'orderpay_webhook_responses_total', { gateway: 'stripe', code: '200' })).toBe(2);
    expect(sampleSum(text, 'orderpay_webhook_responses_total', { gateway: 'stripe', code: '401' })).toBe(1);
    expect(sampleSum(text, 'orderpay_webhook_responses_total', { gateway: 'unknown', code: '404' })).toBe(1);
    expect(sampleSum(text, 'orderpay_webhook_duration_seconds_count', { gateway: 'stripe' })).toBe(3);
    expect(sampleSum(text, 'orderpay_webhook_duration_seconds_bucket', { gateway: 'stripe', le: '+Inf' })).toBe(3);
    expect(sampleSum(text, 'orderpay_webhook_signature_failures_total', { gateway: 'stripe' })).toBe(1);
    expect(sampleSum(text, 'orderpay_webhook_duplicates_total', { gateway: 'stripe' })).toBe(1);
    // The checkout above is the only one this server saw.
    expect(sampleSum(text, 'orderpay_checkout_requests_total')).toBe(1);

    // The worker counted the payment on its own registry: started, then paid by the webhook.
    await eventually(
      async () =>
        sampleSum(await harness.workerMetrics.metrics(), 'orderpay_payments_total', { outcome: 'paid' }) >= 1
          ? true
          : undefined,
      { what: 'payments paid counted by the worker' },
    );
  });

  it('when refunds wait, then the manual-refund gauge reads their number from the database at scrape time', async () => {
    // The production collector counts MANUAL_REFUND_STATES (awaiting_manual, which no row can hold before the wallet
    // gateways); that its SQL runs is shown by the sample being there at all (a failing collector leaves it out).
    expect(hasSample(await scrape(), 'orderpay_manual_refunds_open', { state: 'awaiting_manual' })).toBe(true);

    // Rows in a state that exists today, scoped to this test's order so parallel suites cannot move the number.
    const orderId = uniqueId('metr');
    const countWaiting = async () => {
      const { rows } = await harness.pool.query<{ count: number }>(
        "SELECT count(*)::int AS count FROM refunds WHERE order_id = $1 AND state = 'requested'",
        [orderId],
      );
      return { requested: rows[0]?.count ?? 0 };
    };
    const server = await harness.startApi({
      metrics: createApiMetrics(new Registry(), { countManualRefunds: countWaiting }),
    });
    expect(sampleSum(await scrape(server), 'orderpay_manual_refunds_open')).toBe(0);

    await harness.pool.query(
      `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, request_hash, expires_at)
       VALUES ($1, 100, 'USD', 'stripe', 'PAID', 'h', now())`,
      [orderId],
    );
    await harness.pool.query(
      `INSERT INTO refunds (refund_id, order_id, amount_minor, currency, reason, state)
       VALUES ($1, $2, 100, 'USD', 'x', 'requested'), ($3, $2, 100, 'USD', 'x', 'requested')`,
      [`refund-${orderId}-1`, orderId, `refund-${orderId}-2`],
    );

    expect(sampleSum(await scrape(server), 'orderpay_manual_refunds_open')).toBe(2);
  });

  it('when the database is down, then the scrape still answers and leaves the manual-refund gauge out', async () => {
    const server = await harness.startApi({ pool: await harness.unreachableDatabase() });
    const text = await scrape(server);
    expect(hasSample(text, 'orderpay_manual_refunds_open')).toBe(false);
    expect(text).toContain('# TYPE orderpay_checkout_requests_total counter');
  });

  it('when /metrics gets another method, then it answers 405 with the allowed ones', async () => {
    const response = await fetch(api.metricsUrl!, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });

  it('when /metrics is asked on the API port, then it is not there: metrics are not public with the API', async () => {
    const response = await http(api.url, 'GET', '/metrics');
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_found');
    expect(response.text).not.toContain('orderpay_checkout_requests_total');
  });
});
