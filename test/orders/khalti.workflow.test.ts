// Every Khalti path of the order workflow on the real dev server, with the real activities writing to PostgreSQL and
// the real Khalti adapter talking HTTP to the sandbox's Khalti mode (initiate, lookup, refund). The payer acts on the
// sandbox's hosted page; the unsigned return comes to a small return_url server here that does what the API's
// /callbacks/khalti does: parse it with the real callback handler and signal the workflow (a hint only).
// With RECORD_HISTORIES=1 each path saves its history for the replay suite (test/replay).
import type { Client } from '@temporalio/client';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createOrderActivities } from '../../activities/orders/order.activities';
import { createLogger } from '../../config/logger';
import { createOrderActivityMetrics } from '../../config/metrics';
import { orderStateQuery, orderWorkflowId, paymentEventSignal, type PollPolicy } from '../../contracts/order.contract';
import { gatewayRegistry } from '../../gateways/gateway-registry';
import { createKhaltiCallbackHandler } from '../../gateways/khalti/khalti.callback-handler';
import { KHALTI_CALLBACK_PATH, createKhaltiGateway } from '../../gateways/khalti/khalti.gateway';
import type { RunningSandbox } from '../../sandbox/server';
import { DEFAULT_KHALTI_EXPIRY_MS } from '../../sandbox/khalti.sandbox';
import { finishOrder, orderRow, startOrderWorkflow, waitForOrderState } from '../support/order-workflow';
import { eventually } from '../support/processes';
import { TEST_KHALTI_KEY, startTestSandbox, submitKhaltiPage } from '../support/sandbox';
import { connectTestClient, type RunningTestWorker, startTestWorker, uniqueId } from '../support/temporal';

jest.setTimeout(60_000);

const RARE_POLLS: PollPolicy = { initialIntervalMs: 60_000, backoffCoefficient: 2, maxIntervalMs: 60_000 };
const FAST_POLLS: PollPolicy = { initialIntervalMs: 200, backoffCoefficient: 1, maxIntervalMs: 200 };
const AMOUNT = 1_000_00;
const LOOKUP_TIMEOUT_MS = 1_000;

let pool: pg.Pool;
let sandbox: RunningSandbox;
let worker: RunningTestWorker;
let client: Client;
let returnServer: Server;
/** Every return the merchant's return_url received (the browser's and the sandbox's repeats). */
let returns: URL[] = [];
/** Added to the sandbox's clock: a negative skew at initiate makes Khalti hand out a link that expires soon. */
let sandboxClockSkewMs = 0;

const callbacks = createKhaltiCallbackHandler();

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  sandbox = await startTestSandbox({ now: () => Date.now() + sandboxClockSkewMs });
  returnServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://return.test');
    returns.push(url);
    void (async () => {
      const parsed = callbacks.parse({ path: [], query: Object.fromEntries(url.searchParams) });
      await client.workflow.getHandle(orderWorkflowId(parsed.orderId)).signal(paymentEventSignal, parsed.paymentEvent);
    })().then(
      () => res.writeHead(303, { location: 'https://shop.example/done' }).end(),
      () => res.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve) => returnServer.listen(0, '127.0.0.1', resolve));
  const { port } = returnServer.address() as AddressInfo;
  const khalti = createKhaltiGateway({
    baseUrl: `${sandbox.url}/api/v2/`,
    secretKey: TEST_KHALTI_KEY,
    timeoutMs: LOOKUP_TIMEOUT_MS,
    publicBaseUrl: `http://127.0.0.1:${port}`,
  });
  const activities = createOrderActivities({
    pool,
    gateways: gatewayRegistry({ khalti }),
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
  returnServer?.closeAllConnections();
  await new Promise((resolve) => returnServer?.close(resolve));
  await pool?.end();
});

afterEach(() => {
  sandbox.sandbox.setFaults({
    webhookDropRate: 0,
    webhookDuplicateRate: 0,
    apiErrorRate: 0,
    apiLatencyMs: 0,
  });
  sandboxClockSkewMs = 0;
  returns = [];
});

async function startOrder(prefix: string, options: { ttlMs?: number; graceMs?: number; poll?: PollPolicy } = {}) {
  const orderId = uniqueId(prefix);
  return startOrderWorkflow(client, worker.taskQueue, {
    orderId,
    amountMinor: AMOUNT,
    currency: 'NPR',
    gateway: 'khalti',
    description: 'Sel roti',
    requestHash: `hash-${orderId}`,
    policy: { ttlMs: options.ttlMs ?? 30_000, graceMs: options.graceMs ?? 500, poll: options.poll ?? RARE_POLLS },
  });
}
type Order = Awaited<ReturnType<typeof startOrder>>;

/**
 * The payer presses a button on Khalti's page; the browser follows the redirect to return_url when there is one.
 * Returns where it went, or undefined when it never came back.
 */
async function payer(order: Order, action: 'pay' | 'pending' | 'cancel'): Promise<string | undefined> {
  const response = await submitKhaltiPage(order.checkout.paymentUrl ?? '', action);
  const location = response.headers.get('location');
  if (response.status !== 303 || !location) return undefined;
  expect(location.startsWith(`${returnUrlBase()}${KHALTI_CALLBACK_PATH}?`)).toBe(true);
  await browserReturns(location);
  return location;
}

async function browserReturns(location: string): Promise<void> {
  const back = await fetch(location, { redirect: 'manual' });
  // 303 only once the workflow took the signal.
  expect(back.status).toBe(303);
}

function returnUrlBase(): string {
  const { port } = returnServer.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

function khaltiPayment(order: Order) {
  const [payment, ...others] = sandbox.sandbox.khalti.payments(order.orderId);
  expect(others).toEqual([]);
  if (!payment) throw new Error(`no Khalti payment for ${order.orderId}`);
  return payment;
}

const paidReason = (state: { timeline: { status: string; reason: string }[] }) =>
  state.timeline.find((entry) => entry.status === 'PAID')?.reason;

describe('Khalti order workflow', () => {
  it('when the payer pays and the return arrives, then the workflow looks the pidx up and the order is PAID', async () => {
    const order = await startOrder('kh-cb');
    expect(order.checkout).toMatchObject({ status: 'AWAITING_PAYMENT', intentId: khaltiPayment(order).pidx });
    expect(await payer(order, 'pay')).toBeDefined();

    const state = await finishOrder(order, 'khalti-paid-by-return');
    // The return is unsigned, so the one lookup it triggers is what made the order PAID.
    expect(state).toMatchObject({ status: 'PAID', capturedAmountMinor: AMOUNT, needsAttention: false, pollCount: 1 });
    expect(paidReason(state)).toBe('payment_captured:hint:Completed');
    expect(await orderRow(pool, order.orderId)).toMatchObject({ status: 'PAID' });
  });

  it('when the return arrives twice, then the order is PAID once and nothing is refunded', async () => {
    const order = await startOrder('kh-dup', { graceMs: 3_000 });
    sandbox.sandbox.setFaults({ webhookDuplicateRate: 1 });
    const location = await payer(order, 'pay');
    await eventually(async () => (returns.length >= 2 ? true : undefined), { what: 'the repeated return' });
    await waitForOrderState(order, 'paid', (state) => state.status === 'PAID');
    // The payer refreshes the return page while the order is still open for late events.
    await browserReturns(location ?? '');

    const state = await finishOrder(order, 'khalti-return-twice');
    expect(returns.map((url) => url.searchParams.get('pidx'))).toEqual(Array(3).fill(order.checkout.intentId));
    expect(state).toMatchObject({ status: 'PAID', capturedAmountMinor: AMOUNT, refundedAmountMinor: 0, refunds: [] });
    expect(state.timeline.filter((entry) => entry.status === 'PAID')).toHaveLength(1);
    // Every repeat carries the same event ID, so none made a second lookup.
    expect(state.pollCount).toBe(1);
    expect(khaltiPayment(order)).toMatchObject({ status: 'Completed', refunds: [] });
  });

  it('when the return never arrives, then the lookup poll finds the payment', async () => {
    const order = await startOrder('kh-poll', { poll: FAST_POLLS });
    sandbox.sandbox.setFaults({ webhookDropRate: 1 });
    expect(await payer(order, 'pay')).toBeUndefined();

    const state = await finishOrder(order, 'khalti-paid-by-poll');
    expect(returns).toEqual([]);
    expect(state.status).toBe('PAID');
    expect(paidReason(state)).toBe('payment_captured:poll:Completed');
  });

  it('when Khalti says Pending, then the order is held and flagged while polling goes on, and PAID once Completed', async () => {
    const order = await startOrder('kh-pend', { poll: FAST_POLLS });
    expect(await payer(order, 'pending')).toBeDefined();
    const held = await waitForOrderState(order, 'Pending flagged', (state) => state.needsAttention);
    const polled = held.pollCount;
    const still = await waitForOrderState(order, 'polls while Pending', (state) => state.pollCount >= polled + 2);
    expect(still).toMatchObject({ status: 'AWAITING_PAYMENT', needsAttention: true });
    expect(still.timeline.some((entry) => entry.reason === 'needs_attention:gateway_status:Pending')).toBe(true);
    expect(await orderRow(pool, order.orderId)).toMatchObject({ status: 'AWAITING_PAYMENT', needs_attention: true });

    // Khalti settles it; the browser has long gone, so only the poll can tell.
    sandbox.sandbox.setFaults({ webhookDropRate: 1 });
    await payer(order, 'pay');
    const state = await finishOrder(order, 'khalti-pending-then-paid');
    expect(state).toMatchObject({ status: 'PAID', capturedAmountMinor: AMOUNT, needsAttention: true });
    expect(paidReason(state)).toBe('payment_captured:poll:Completed');
    expect(await orderRow(pool, order.orderId)).toMatchObject({ status: 'PAID', needs_attention: true });
  });

  it('when the payer cancels and the return is lost, then the lookup reads the HTTP 400 "User canceled" and the attempt ends', async () => {
    const order = await startOrder('kh-cancel', { poll: FAST_POLLS, ttlMs: 4_000 });
    sandbox.sandbox.setFaults({ webhookDropRate: 1 });
    expect(await payer(order, 'cancel')).toBeUndefined();

    // The order stays payable (a new attempt from the pay link) until its TTL; nobody comes back here.
    const state = await finishOrder(order, 'khalti-user-canceled-attempt-ends');
    expect(state.status).toBe('EXPIRED');
    expect(state.attempts).toMatchObject([{ number: 1, status: 'cancelled', failureReason: 'cancelled_at_gateway' }]);
    expect(state.timeline.map((entry) => entry.reason)).toEqual([
      'order_created',
      'intent_created',
      'attempt_cancelled:1',
      'ttl_elapsed',
    ]);
    expect(state.needsAttention).toBe(false);
    expect(await orderRow(pool, order.orderId)).toMatchObject({ status: 'EXPIRED' });
  });

  it('when nobody pays, then the order expires after the final lookup', async () => {
    const lookupsBefore = sandbox.sandbox.khalti.stats().lookups;
    const order = await startOrder('kh-exp', { ttlMs: 2_000 });
    const state = await finishOrder(order, 'khalti-expired');
    // The final check, the lookup that stands in for KPG-2's missing cancel call, and the grace window's last lookup.
    expect(sandbox.sandbox.khalti.stats().lookups - lookupsBefore).toBe(3);
    expect(khaltiPayment(order).status).toBe('Initiated');
    // pollCount 1: the grace window's last lookup, after the order expired.
    expect(state).toMatchObject({ status: 'EXPIRED', pollCount: 1 });
    expect(state.timeline.at(-1)?.reason).toBe('ttl_elapsed');
    expect(await orderRow(pool, order.orderId)).toMatchObject({ status: 'EXPIRED' });
  });

  it("when Khalti's link expires before the TTL, then the order expires at Khalti's expires_at, read from an HTTP 400 Expired lookup", async () => {
    sandboxClockSkewMs = -(DEFAULT_KHALTI_EXPIRY_MS - 2_000);
    const order = await startOrder('kh-kexp', { ttlMs: 60_000 });
    sandboxClockSkewMs = 0;
    const khaltiExpiresAt = khaltiPayment(order).expiresAt;
    expect(khaltiExpiresAt).toBeLessThan(Date.now() + 60_000 - 30_000);
    expect(Date.parse(order.checkout.expiresAt)).toBe(khaltiExpiresAt);
    expect((await orderRow(pool, order.orderId))?.expires_at.getTime()).toBe(khaltiExpiresAt);

    const state = await finishOrder(order, 'khalti-link-expiry-caps-ttl-attempt-ends');
    expect(state).toMatchObject({ status: 'EXPIRED', needsAttention: false, pollCount: 1 });
    // The final check finds the link expired at Khalti: the attempt ends, then the order, at its capped TTL.
    expect(state.timeline.slice(-2).map((entry) => entry.reason)).toEqual(['attempt_cancelled:1', 'ttl_elapsed']);
    expect(khaltiPayment(order).status).toBe('Expired');
  });

  it('when a payment arrives after the order expired, then it is refunded through the Khalti refund API exactly once', async () => {
    const order = await startOrder('kh-late', { ttlMs: 1_500, graceMs: 3_000 });
    await waitForOrderState(order, 'expired', (state) => state.status === 'EXPIRED');
    // Khalti's link outlives the order, and the payer still had the page open.
    expect(await payer(order, 'pay')).toBeDefined();

    const state = await finishOrder(order, 'khalti-late-capture-refunded');
    expect(state).toMatchObject({ status: 'REFUNDED', refundedAmountMinor: AMOUNT });
    expect(state.refunds).toEqual([expect.objectContaining({ amountMinor: AMOUNT, state: 'succeeded' })]);
    const payment = khaltiPayment(order);
    expect(payment.status).toBe('Refunded');
    expect(payment.refunds.map((refund) => refund.amount)).toEqual([AMOUNT]);
    const rows = await pool.query<{ state: string; amount_minor: number }>(
      'SELECT state, amount_minor FROM refunds WHERE order_id = $1',
      [order.orderId],
    );
    expect(rows.rows).toEqual([{ state: 'succeeded', amount_minor: AMOUNT }]);
    expect(await orderRow(pool, order.orderId)).toMatchObject({ status: 'REFUNDED' });
  });

  it('when the lookup API answers 5xx, then the lookups are retried and the payment is found once it is back', async () => {
    const order = await startOrder('kh-5xx', { poll: FAST_POLLS });
    sandbox.sandbox.setFaults({ webhookDropRate: 1, apiErrorRate: 1 });
    const errorsBefore = sandbox.sandbox.khalti.stats().api.injectedErrors;
    await payer(order, 'pay');
    await eventually(
      async () => (sandbox.sandbox.khalti.stats().api.injectedErrors >= errorsBefore + 3 ? true : undefined),
      { what: 'lookups answered 500' },
    );
    expect(await order.handle.query(orderStateQuery)).toMatchObject({
      status: 'AWAITING_PAYMENT',
      needsAttention: false,
    });

    sandbox.sandbox.setFaults({ apiErrorRate: 0 });
    const state = await finishOrder(order, 'khalti-5xx-then-paid');
    expect(state).toMatchObject({ status: 'PAID', needsAttention: false });
    expect(paidReason(state)).toBe('payment_captured:poll:Completed');
  });

  it('when the lookup API answers 5xx at the TTL, then the final lookup keeps retrying instead of expiring the order', async () => {
    const order = await startOrder('kh-5xx-ttl', { ttlMs: 1_500 });
    sandbox.sandbox.setFaults({ webhookDropRate: 1, apiErrorRate: 1 });
    await payer(order, 'pay');
    // Past the TTL, a 500 is not an answer: the order must not expire on it.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await order.handle.query(orderStateQuery)).toMatchObject({ status: 'AWAITING_PAYMENT' });

    sandbox.sandbox.setFaults({ apiErrorRate: 0 });
    const state = await finishOrder(order, 'khalti-5xx-at-ttl-then-paid');
    expect(state.status).toBe('PAID');
    expect(paidReason(state)).toBe('payment_captured:final_check:Completed');
  });

  it('when lookups take longer than the adapter waits, then they are retried and the payment is found once Khalti is fast again', async () => {
    const order = await startOrder('kh-slow', { poll: FAST_POLLS });
    sandbox.sandbox.setFaults({ webhookDropRate: 1, apiLatencyMs: LOOKUP_TIMEOUT_MS + 500 });
    const requestsBefore = sandbox.sandbox.khalti.stats().api.requests;
    await payer(order, 'pay');
    await eventually(
      async () => (sandbox.sandbox.khalti.stats().api.requests >= requestsBefore + 3 ? true : undefined),
      { what: 'slow lookups' },
    );
    expect(await order.handle.query(orderStateQuery)).toMatchObject({
      status: 'AWAITING_PAYMENT',
      needsAttention: false,
    });

    sandbox.sandbox.setFaults({ apiLatencyMs: 0 });
    const state = await finishOrder(order, 'khalti-slow-lookups-then-paid');
    expect(state).toMatchObject({ status: 'PAID', needsAttention: false });
    expect(paidReason(state)).toBe('payment_captured:poll:Completed');
  });
});
