// Every metrics endpoint of the real processes, after a paid order: the API's API_METRICS_PORT, the worker's
// WORKER_METRICS_PORT and the Temporal SDK's Prometheus exporter (TEMPORAL_SDK_METRICS_PORT). `promtool check
// metrics` must accept each one, and the series the alert rules use must be there.
import { readFileSync } from 'node:fs';
import { projectPath } from '../../config/paths';
import { hasSample, sampleSum } from '../support/metrics';
import { eventually, freePort } from '../support/processes';
import { promtool } from '../support/promtool';
import { startStack, type Stack } from '../support/stack';
import { uniqueId } from '../support/temporal';

jest.setTimeout(120_000);

let stack: Stack;
let workerMetricsUrl: string;
let sdkMetricsUrl: string;

beforeAll(async () => {
  const [workerPort, sdkPort] = [await freePort(), await freePort()];
  workerMetricsUrl = `http://127.0.0.1:${workerPort}/metrics`;
  sdkMetricsUrl = `http://127.0.0.1:${sdkPort}/metrics`;
  stack = await startStack(
    { POLL_INITIAL_INTERVAL: '1h', POLL_MAX_INTERVAL: '1h' },
    { WORKER_METRICS_PORT: String(workerPort), TEMPORAL_SDK_METRICS_PORT: String(sdkPort) },
  );
  await payOneOrder();
});

afterAll(async () => {
  await stack?.stop();
});

async function payOneOrder(): Promise<void> {
  const orderId = uniqueId('e2e-metrics');
  const created = await stack.fetch(`/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orderId, amount: 1_200, currency: 'USD', gateway: 'stripe' }),
  });
  expect(created.status).toBe(201);
  const { paymentUrl } = (await created.json()) as { paymentUrl: string };
  expect((await fetch(`${paymentUrl}/pay`, { method: 'POST', redirect: 'manual' })).status).toBe(303);
  await eventually(
    async () => {
      const order = (await (await stack.fetch(`/orders/${orderId}`)).json()) as { status: string };
      return order.status === 'PAID' ? true : undefined;
    },
    { timeoutMs: 20_000, what: 'order PAID' },
  ).catch((error: unknown) => {
    console.error(stack.logs());
    throw error;
  });
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return response.text();
}

function expectPromtoolAccepts(text: string): void {
  const result = promtool(['check', 'metrics'], text);
  expect(result.output).toBe('');
  expect(result.status).toBe(0);
}

/** Metric names the alert rules use, so a renamed metric cannot silently disarm an alert. */
function metricNamesInAlertRules(): string[] {
  const rules = readFileSync(projectPath('ops', 'prometheus', 'alerts.yml'), 'utf8');
  // orderpay's own only: the SDK declares a series like temporal_workflow_failed_total once it first happens.
  const names = [...rules.matchAll(/\b(orderpay_[a-z_]+)/g)].map((m) => m[1] ?? '');
  return [...new Set(names.map((name) => name.replace(/_(bucket|count|sum)$/, '')))];
}

describe('metrics endpoints of the real processes', () => {
  it('when the API is scraped after a paid order, then promtool accepts the output and checkout and webhook metrics moved', async () => {
    const text = await scrape(stack.apiMetricsUrl);
    expectPromtoolAccepts(text);
    expect(sampleSum(text, 'orderpay_checkout_requests_total', { outcome: 'created' })).toBe(1);
    expect(sampleSum(text, 'orderpay_webhook_responses_total', { gateway: 'stripe', code: '200' })).toBeGreaterThan(0);
    expect(hasSample(text, 'process_cpu_seconds_total')).toBe(true);
  });

  it('when the worker metrics port is scraped, then promtool accepts it and the payment was counted started and paid', async () => {
    const text = await scrape(workerMetricsUrl);
    expectPromtoolAccepts(text);
    expect(sampleSum(text, 'orderpay_payments_total', { gateway: 'stripe', outcome: 'started' })).toBe(1);
    expect(sampleSum(text, 'orderpay_payments_total', { gateway: 'stripe', outcome: 'paid' })).toBe(1);
    expect(sampleSum(text, 'orderpay_checkout_to_paid_seconds_count', { gateway: 'stripe' })).toBe(1);
  });

  it('when the Temporal SDK exporter is scraped, then promtool accepts it and it reports the worker task metrics', async () => {
    const text = await eventually(
      async () => {
        const body = await scrape(sdkMetricsUrl);
        // A paid order's activities are all local ones: its database writes and gateway calls.
        const reported = ['temporal_workflow_task_execution_latency', 'temporal_local_activity_execution_latency'];
        return reported.every((name) => body.includes(name)) ? body : undefined;
      },
      { what: 'Temporal SDK metrics' },
    );
    expectPromtoolAccepts(text);
    expect(text).toContain(`task_queue="${stack.taskQueue}"`);
  });

  it('when the alert rules name a metric, then one of the endpoints declares it', async () => {
    const declared = [
      await scrape(stack.apiMetricsUrl),
      await scrape(workerMetricsUrl),
      await scrape(sdkMetricsUrl),
    ].join('\n');
    const names = metricNamesInAlertRules();
    expect(names.length).toBeGreaterThan(5);
    for (const name of names)
      expect({ name, declared: declared.includes(`# TYPE ${name} `) }).toEqual({ name, declared: true });
  });
});
