// Every eSewa path of the order workflow on the real dev server, with the real activities writing to PostgreSQL and
// the real eSewa adapter talking HTTP to the sandbox's eSewa mode. The payer acts on the sandbox; the success
// callback the API would receive is parsed by the real callback handler and signalled, as the API does.
// With RECORD_HISTORIES=1 each path saves its history for the replay suite (test/replay).
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createOrderActivities } from '../../activities/orders/order.activities';
import { createOrderActivityMetrics } from '../../config/metrics';
import { createLogger } from '../../config/logger';
import {
  confirmManualRefundUpdate,
  fulfilmentUpdate,
  orderStateQuery,
  paymentEventSignal,
  type FulfilmentPolicy,
  type PollPolicy,
} from '../../contracts/order.contract';
import { createEsewaCallbackHandler } from '../../gateways/esewa/esewa.callbacks';
import { createEsewaGateway } from '../../gateways/esewa/esewa.gateway';
import { ESEWA_UAT_PRODUCT_CODE, ESEWA_UAT_SECRET_KEY, buildEsewaForm } from '../../gateways/esewa/esewa.protocol';
import { esewaTransactionUuid } from '../../gateways/esewa/esewa.transaction-id';
import type { PaymentGateway } from '../../gateways/gateway';
import { gatewayRegistry } from '../../gateways/gateway-registry';
import type { RunningSandbox } from '../../sandbox/server';
import { finishOrder, orderRow, startOrderWorkflow, waitForOrderState } from '../support/order-workflow';
import { startTestSandbox } from '../support/sandbox';
import { connectTestClient, type RunningTestWorker, startTestWorker, uniqueId } from '../support/temporal';

jest.setTimeout(60_000);

const RARE_POLLS: PollPolicy = { initialIntervalMs: 60_000, backoffCoefficient: 2, maxIntervalMs: 60_000 };
const FAST_POLLS: PollPolicy = { initialIntervalMs: 200, backoffCoefficient: 1, maxIntervalMs: 200 };
const PUBLIC_BASE = 'http://127.0.0.1:9';

let pool: pg.Pool;
let sandbox: RunningSandbox;
let worker: RunningTestWorker;
let client: Client;
/** Set by a test to make createIntent report an earlier gateway expiry (as Khalti's expires_at does). */
let gatewayExpiryMs: number | undefined;

const callbacks = createEsewaCallbackHandler({ productCode: ESEWA_UAT_PRODUCT_CODE, secretKey: ESEWA_UAT_SECRET_KEY });

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  sandbox = await startTestSandbox();
  const esewa = createEsewaGateway({
    statusUrl: `${sandbox.url}/api/epay/transaction/status/`,
    productCode: ESEWA_UAT_PRODUCT_CODE,
    publicBaseUrl: PUBLIC_BASE,
    timeoutMs: 2_000,
  });
  const withExpiry: PaymentGateway = {
    ...esewa,
    async createIntent(request) {
      const intent = await esewa.createIntent(request);
      return gatewayExpiryMs === undefined ? intent : { ...intent, expiresAt: new Date(gatewayExpiryMs) };
    },
  };
  const activities = createOrderActivities({
    pool,
    gateways: gatewayRegistry({ esewa: withExpiry }),
    logger: createLogger('test', 'silent'),
    metrics: createOrderActivityMetrics(new Registry()),
  });
  worker = await startTestWorker(activities);
  client = await connectTestClient();
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await sandbox?.stop();
  await pool?.end();
});

afterEach(() => {
  sandbox.sandbox.setFaults({ webhookDropRate: 0, statusOutageRate: 0, apiErrorRate: 0 });
  gatewayExpiryMs = undefined;
});

interface StartOptions {
  ttlMs?: number;
  graceMs?: number;
  poll?: PollPolicy;
  fulfilment?: FulfilmentPolicy;
}

async function startOrder(prefix: string, options: StartOptions = {}) {
  const orderId = `${uniqueId(prefix)}.x_y`;
  return startOrderWorkflow(client, worker.taskQueue, {
    orderId,
    amountMinor: 1_000_00,
    currency: 'NPR',
    gateway: 'esewa',
    description: 'Momo for two',
    requestHash: `hash-${orderId}`,
    policy: { ttlMs: options.ttlMs ?? 30_000, graceMs: options.graceMs ?? 500, poll: options.poll ?? RARE_POLLS },
    ...(options.fulfilment ? { fulfilment: options.fulfilment } : {}),
  });
}
type Order = Awaited<ReturnType<typeof startOrder>>;

/** The payer's browser: orderpay's signed form posted to the sandbox, then a button on its page. */
async function payerSubmitsForm(order: Order): Promise<void> {
  const form = buildEsewaForm(
    { formUrl: '', productCode: ESEWA_UAT_PRODUCT_CODE, secretKey: ESEWA_UAT_SECRET_KEY, publicBaseUrl: PUBLIC_BASE },
    { orderId: order.orderId, amountMinor: order.input.amountMinor },
  );
  const response = await fetch(`${sandbox.url}/api/epay/main/v2/form`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form }).toString(),
    redirect: 'manual',
  });
  expect(response.status).toBe(303);
}

/** Presses Pay; returns where the sandbox sends the browser (undefined when the callback was dropped). */
async function payerPays(order: Order): Promise<URL | undefined> {
  const response = await fetch(`${sandbox.url}/esewa/pay/${esewaTransactionUuid(order.orderId)}/pay`, {
    method: 'POST',
    redirect: 'manual',
  });
  const location = response.headers.get('location');
  return location ? new URL(location) : undefined;
}

/** What the API does with the success redirect: verify, then signal. */
async function deliverCallback(order: Order, location: URL): Promise<void> {
  const parsed = callbacks.parse({
    path: location.pathname.split('/').slice(3),
    query: Object.fromEntries(location.searchParams),
  });
  await order.handle.signal(paymentEventSignal, parsed.paymentEvent);
}

async function forceStatus(order: Order, status: string): Promise<void> {
  const response = await fetch(`${sandbox.url}/_sandbox/esewa/transactions/${esewaTransactionUuid(order.orderId)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status }),
  });
  expect(response.status).toBe(200);
}

const waitFor = waitForOrderState;
const finish = finishOrder;
const dbOrder = (orderId: string) => orderRow(pool, orderId);

describe('eSewa order workflow', () => {
  it('when the payer pays and the signed success callback arrives, then the order is PAID', async () => {
    const order = await startOrder('es-cb');
    expect(order.checkout).toMatchObject({
      status: 'AWAITING_PAYMENT',
      intentId: esewaTransactionUuid(order.orderId),
      paymentUrl: `${PUBLIC_BASE}/pay/${encodeURIComponent(order.orderId)}`,
    });
    await payerSubmitsForm(order);
    const location = await payerPays(order);
    expect(location?.pathname).toBe('/callbacks/esewa/success');
    await deliverCallback(order, location as URL);

    const state = await finish(order, 'esewa-paid-by-callback');
    expect(state).toMatchObject({ status: 'PAID', capturedAmountMinor: 1_000_00, needsAttention: false });
    expect(state.timeline.find((entry) => entry.status === 'PAID')?.reason).toBe('payment_captured:webhook:captured');
    expect(state.pollCount).toBe(0);
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'PAID' });
  });

  it('when the callback never arrives, then the status poll finds the payment', async () => {
    const order = await startOrder('es-poll', { poll: FAST_POLLS });
    sandbox.sandbox.setFaults({ webhookDropRate: 1 });
    await payerSubmitsForm(order);
    expect(await payerPays(order)).toBeUndefined();

    const state = await finish(order, 'esewa-paid-by-poll');
    expect(state.status).toBe('PAID');
    expect(state.timeline.find((entry) => entry.status === 'PAID')?.reason).toBe('payment_captured:poll:COMPLETE');
  });

  it('when eSewa answers AMBIGUOUS, then the order is held and flagged, and resolved once eSewa knows', async () => {
    const order = await startOrder('es-amb', { poll: FAST_POLLS });
    await payerSubmitsForm(order);
    await forceStatus(order, 'AMBIGUOUS');
    const held = await waitFor(order, 'ambiguous flagged', (state) => state.needsAttention && state.pollCount >= 2);
    expect(held.status).toBe('AWAITING_PAYMENT');
    expect(held.timeline.some((entry) => entry.reason === 'needs_attention:gateway_status:AMBIGUOUS')).toBe(true);

    await forceStatus(order, 'COMPLETE');
    const state = await finish(order, 'esewa-ambiguous-then-paid');
    expect(state).toMatchObject({ status: 'PAID', needsAttention: true });
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'PAID', needs_attention: true });
  });

  it('when nobody pays, then the order expires after the final status lookup', async () => {
    const order = await startOrder('es-exp', { ttlMs: 2_000 });
    await payerSubmitsForm(order);
    const state = await finish(order, 'esewa-expired');
    expect(state.status).toBe('EXPIRED');
    // The grace window's last lookup, after the order expired.
    expect(state.pollCount).toBe(1);
    expect(state.timeline.at(-1)?.reason).toBe('ttl_elapsed');
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'EXPIRED' });
  });

  it('when the status API answers outage bodies, then the polls are retried and the payment is found once it is back', async () => {
    const order = await startOrder('es-outage', { poll: FAST_POLLS });
    sandbox.sandbox.setFaults({ webhookDropRate: 1, statusOutageRate: 1 });
    await payerSubmitsForm(order);
    await payerPays(order);
    const during = await waitFor(order, 'polls during the outage', (state) => state.pollCount >= 2);
    expect(during.status).toBe('AWAITING_PAYMENT');
    expect(during.needsAttention).toBe(false);

    sandbox.sandbox.setFaults({ statusOutageRate: 0 });
    const state = await finish(order, 'esewa-outage-then-paid');
    expect(state.status).toBe('PAID');
  });

  it('when the status API is down at the TTL, then the final check keeps retrying instead of expiring the order', async () => {
    const order = await startOrder('es-outage-ttl', { ttlMs: 1_500 });
    sandbox.sandbox.setFaults({ webhookDropRate: 1, statusOutageRate: 1 });
    await payerSubmitsForm(order);
    await payerPays(order);
    // Past the TTL, an outage body is not an answer: the order must not expire on it.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await order.handle.query(orderStateQuery)).status).toBe('AWAITING_PAYMENT');

    sandbox.sandbox.setFaults({ statusOutageRate: 0 });
    const state = await finish(order, 'esewa-outage-at-ttl-then-paid');
    expect(state.status).toBe('PAID');
    expect(state.timeline.find((entry) => entry.status === 'PAID')?.reason).toBe(
      'payment_captured:final_check:COMPLETE',
    );
  });

  it('when the gateway says the intent expires before the TTL, then the order expires at the gateway expiry', async () => {
    gatewayExpiryMs = Date.now() + 2_000;
    const order = await startOrder('es-gwexp', { ttlMs: 60_000 });
    expect(Date.parse(order.checkout.expiresAt)).toBe(gatewayExpiryMs);
    expect((await dbOrder(order.orderId))?.expires_at.getTime()).toBe(gatewayExpiryMs);
    const state = await finish(order, 'gateway-expiry-caps-ttl');
    expect(state.status).toBe('EXPIRED');
  });

  it('when a payment arrives after the order expired, then its refund waits for an operator and the workflow stays open until confirmed', async () => {
    const order = await startOrder('es-late', { ttlMs: 1_500, graceMs: 500 });
    await payerSubmitsForm(order);
    await waitFor(order, 'expired', (state) => state.status === 'EXPIRED');
    // The payer had the eSewa page open and pays anyway; the signed callback arrives during the grace window.
    const location = await payerPays(order);
    await deliverCallback(order, location as URL);

    const waiting = await waitFor(
      order,
      'manual refund task',
      (state) => state.refunds[0]?.state === 'awaiting_manual',
    );
    const refundId = waiting.refunds[0]?.refundId ?? '';
    expect(waiting).toMatchObject({ status: 'EXPIRED', needsAttention: true, refundedAmountMinor: 0 });
    const row = await pool.query<{ state: string }>('SELECT state FROM refunds WHERE refund_id = $1', [refundId]);
    expect(row.rows[0]?.state).toBe('awaiting_manual');

    // Well past the grace window, nothing is reported refunded and the workflow is still open.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await order.handle.describe()).status.name).toBe('RUNNING');
    expect(await order.handle.query(orderStateQuery)).toMatchObject({ status: 'EXPIRED', refundedAmountMinor: 0 });

    const confirm = {
      refundId,
      reference: 'ESEWA-RF-1',
      note: 'refunded in the merchant portal',
      actor: 'ops@example',
    };
    const confirmed = await order.handle.executeUpdate(confirmManualRefundUpdate, { args: [confirm] });
    expect(confirmed).toMatchObject({ status: 'REFUNDED', refundedAmountMinor: 1_000_00 });

    const state = await finish(order, 'esewa-late-capture-manual-refund');
    expect(state.refunds).toEqual([
      expect.objectContaining({ refundId, state: 'succeeded', manualReference: 'ESEWA-RF-1' }),
    ]);
    const stored = await pool.query<{ state: string; manual_reference: string; confirmed_by: string }>(
      'SELECT state, manual_reference, confirmed_by FROM refunds WHERE refund_id = $1',
      [refundId],
    );
    expect(stored.rows).toEqual([{ state: 'succeeded', manual_reference: 'ESEWA-RF-1', confirmed_by: 'ops@example' }]);
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'REFUNDED' });
  });

  it('when the fulfilment of a paid order fails, then the compensation is a manual refund task (eSewa has no refund API)', async () => {
    const order = await startOrder('es-ff', { fulfilment: { mode: 'confirm', timeoutMs: 20_000 } });
    await payerSubmitsForm(order);
    await deliverCallback(order, (await payerPays(order)) as URL);
    await waitFor(order, 'paid', (state) => state.status === 'PAID');

    const answered = await order.handle.executeUpdate(fulfilmentUpdate, {
      args: [{ status: 'failed', reason: 'out of momo' }],
    });
    expect(answered.fulfilment).toMatchObject({ status: 'failed', reason: 'out of momo' });
    const waiting = await waitFor(
      order,
      'manual refund task',
      (state) => state.refunds[0]?.state === 'awaiting_manual',
    );
    const refundId = waiting.refunds[0]?.refundId ?? '';
    expect(waiting).toMatchObject({ status: 'PAID', needsAttention: true, refundedAmountMinor: 0 });
    expect(waiting.refunds[0]).toMatchObject({ reason: 'fulfilment_failed', amountMinor: 1_000_00 });
    const row = await pool.query<{ state: string }>('SELECT state FROM refunds WHERE refund_id = $1', [refundId]);
    expect(row.rows[0]?.state).toBe('awaiting_manual');

    const confirm = { refundId, reference: 'ESEWA-RF-FF', actor: 'ops@example' };
    const confirmed = await order.handle.executeUpdate(confirmManualRefundUpdate, { args: [confirm] });
    expect(confirmed).toMatchObject({ status: 'REFUNDED', refundedAmountMinor: 1_000_00 });
    const state = await finish(order, 'esewa-fulfilment-failed-manual-refund');
    expect(state.timeline.map((entry) => entry.reason)).toEqual(
      expect.arrayContaining(['fulfilment_failed', 'refund_succeeded:fulfilment_failed']),
    );
    expect(await dbOrder(order.orderId)).toMatchObject({ status: 'REFUNDED' });
  });
});
