// The metric factories on fresh registries: the reconciliation metrics the reconciliation job reports through, the
// bounded refund-reason label, the worker's metrics server, and promtool accepting every metric once it has samples.
import { Registry } from 'prom-client';
import {
  createApiMetrics,
  createReconciliationMetrics,
  createWorkerMetrics,
  declineReasonLabel,
  refundReasonLabel,
  registerProcessMetrics,
} from '../../config/metrics';
import { startMetricsServer } from '../../config/metrics-server';
import { createLogger } from '../../config/logger';
import { registrySum, sampleSum } from '../support/metrics';
import { promtool } from '../support/promtool';

describe('reconciliation metrics', () => {
  it('when discrepancies are reported and a run finishes, then the counter, the duration and the last-success time move per gateway', async () => {
    const registry = new Registry();
    const reconciliation = createReconciliationMetrics(registry);
    const before = Date.now() / 1000;

    reconciliation.discrepancies('stripe', 'missing_payment', 2);
    reconciliation.discrepancies('stripe', 'amount_mismatch', 1);
    reconciliation.runFinished('stripe', 42);
    const after = Date.now() / 1000;

    const discrepancies = 'orderpay_reconciliation_discrepancies_total';
    expect(await registrySum(registry, discrepancies, { gateway: 'stripe', kind: 'missing_payment' })).toBe(2);
    expect(await registrySum(registry, discrepancies, { gateway: 'stripe', kind: 'amount_mismatch' })).toBe(1);
    expect(await registrySum(registry, 'orderpay_reconciliation_run_duration_seconds_sum', { gateway: 'stripe' })).toBe(
      42,
    );
    const lastSuccess = await registrySum(registry, 'orderpay_reconciliation_last_success_timestamp_seconds', {
      gateway: 'stripe',
    });
    expect(lastSuccess).toBeGreaterThanOrEqual(before);
    expect(lastSuccess).toBeLessThanOrEqual(after);
  });
});

describe('refund reason label', () => {
  it('when the workflow names a late capture, then it is kept; any other reason (caller text) is "requested"', () => {
    expect(refundReasonLabel('late_capture_after_expired')).toBe('late_capture_after_expired');
    expect(refundReasonLabel('late_capture_after_failed')).toBe('late_capture_after_failed');
    expect(refundReasonLabel('customer changed their mind, call 555')).toBe('requested');
    expect(refundReasonLabel('late_capture_after_expired; drop table')).toBe('requested');
  });
});

describe('decline reason label', () => {
  it('when a gateway names a decline, then it becomes lower-case words joined by _, at most 40 characters; none is unknown', () => {
    expect(declineReasonLabel('insufficient_funds')).toBe('insufficient_funds');
    expect(declineReasonLabel('User canceled')).toBe('user_canceled');
    expect(declineReasonLabel('  "card"; DROP TABLE x  ')).toBe('card_drop_table_x');
    expect(declineReasonLabel('x'.repeat(100))).toBe('x'.repeat(40));
    expect(declineReasonLabel(null)).toBe('unknown');
    expect(declineReasonLabel('!!!')).toBe('unknown');
  });
});

describe('every metric through promtool', () => {
  it('when every orderpay metric has samples, then promtool check metrics accepts the exposition', async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const api = createApiMetrics(registry, {
      countManualRefunds: async () => ({ awaiting_manual: 3 }),
      readWebhookBacklog: async () => ({ count: 7, oldestAgeSeconds: 42.5 }),
    });
    const worker = createWorkerMetrics(registry);
    api.responseSent('/orders', 'POST', 201);
    api.checkoutFinished('created');
    api.webhookAnswered('stripe', 200, 0.012);
    api.webhookSignatureFailed('stripe');
    api.webhookDuplicate('stripe');
    api.webhookDelivered('stripe', 0.3);
    worker.orders.orderTransitioned({ gateway: 'stripe', to: 'PAID', secondsSinceCheckout: 33 });
    worker.orders.statusChecked('stripe', 'captured');
    worker.orders.refundSettled({ gateway: 'stripe', reason: 'x', state: 'succeeded' });
    worker.orders.paymentAttemptChanged({
      gateway: 'stripe',
      before: undefined,
      after: 'declined',
      failureReason: 'payment_declined',
      declineCode: 'insufficient_funds',
    });
    worker.orders.orderAttemptsUsed({ gateway: 'stripe', attempts: 2 });
    worker.reconciliation.discrepancies('stripe', 'missing_payment', 1);
    worker.reconciliation.runFinished('stripe', 12);

    const text = await registry.metrics();
    expect(sampleSum(text, 'orderpay_manual_refunds_open', { state: 'awaiting_manual' })).toBe(3);
    expect(sampleSum(text, 'orderpay_webhook_events_undelivered')).toBe(7);
    expect(sampleSum(text, 'orderpay_webhook_oldest_undelivered_age_seconds')).toBe(42.5);
    expect(sampleSum(text, 'orderpay_webhook_delivery_lag_seconds_bucket', { gateway: 'stripe', le: '0.5' })).toBe(1);
    const result = promtool(['check', 'metrics'], text);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('worker metrics server', () => {
  it('when scraped, then GET /metrics answers the registry; other paths are 404 and other methods 405', async () => {
    const registry = new Registry();
    createWorkerMetrics(registry).orders.statusChecked('stripe', 'pending');
    const server = await startMetricsServer(registry, 0, createLogger('metrics-test', 'silent'));
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toBe(registry.contentType);
      expect(sampleSum(await metrics.text(), 'orderpay_payment_status_checks_total', { result: 'pending' })).toBe(1);
      expect((await fetch(`${base}/other`)).status).toBe(404);
      const post = await fetch(`${base}/metrics`, { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
    } finally {
      await server.stop();
    }
  });
});
