// Fulfilment confirmation on the real dev server: the real order workflow and activities on PostgreSQL, a scriptable
// gateway, and short configured timeouts (not skipped). Proves that `fulfilled` ends the wait without a refund and
// refuses a later `failed`; that `failed` and the timeout both refund the payment automatically, so the order ends
// REFUNDED with the reason on its timeline. With RECORD_HISTORIES=1 each path saves its history for test/replay.
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createOrderActivities } from '../../activities/orders/order.activities';
import { createOrderActivityMetrics } from '../../config/metrics';
import { createLogger } from '../../config/logger';
import {
  fulfilmentUpdate,
  paymentEventSignal,
  type FulfilmentAnswer,
  type OrderWorkflowInput,
} from '../../contracts/order.contract';
import { FakeGateway } from '../support/fake-gateway';
import { finishOrder, startOrderWorkflow, waitForOrderState, type StartedOrder } from '../support/order-workflow';
import { connectTestClient, type RunningTestWorker, startTestWorker, uniqueId } from '../support/temporal';

jest.setTimeout(60_000);

let pool: pg.Pool;
let gateway: FakeGateway;
let worker: RunningTestWorker;
let client: Client;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  gateway = new FakeGateway();
  const activities = createOrderActivities({
    pool,
    gateways: () => gateway,
    logger: createLogger('test', 'silent'),
    metrics: createOrderActivityMetrics(new Registry()),
  });
  worker = await startTestWorker(activities);
  client = await connectTestClient();
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await pool?.end();
});

function startOrder(prefix: string, { timeoutMs, graceMs }: { timeoutMs: number; graceMs: number }) {
  const orderId = uniqueId(prefix);
  const input: OrderWorkflowInput = {
    orderId,
    amountMinor: 5_000,
    currency: 'USD',
    gateway: 'stripe',
    description: 'Concert ticket',
    requestHash: `hash-${orderId}`,
    policy: {
      ttlMs: 30_000,
      graceMs,
      poll: { initialIntervalMs: 60_000, backoffCoefficient: 2, maxIntervalMs: 60_000 },
    },
    fulfilment: { mode: 'confirm', timeoutMs },
  };
  return startOrderWorkflow(client, worker.taskQueue, input);
}

async function pay(order: StartedOrder): Promise<void> {
  gateway.payerPays(order.orderId);
  await order.handle.signal(paymentEventSignal, gateway.eventFor(order.orderId));
  await waitForOrderState(order, 'PAID, awaiting confirmation', (state) => state.status === 'PAID');
}

function answer(order: StartedOrder, fulfilment: FulfilmentAnswer) {
  return order.handle.executeUpdate(fulfilmentUpdate, { args: [fulfilment] });
}

/** The failure type an update was refused with. */
async function refusal(update: Promise<unknown>): Promise<string | undefined> {
  const error = await update.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
  return ((error as WorkflowUpdateFailedError).cause as ApplicationFailure | undefined)?.type ?? undefined;
}

async function dbOrder(orderId: string) {
  const order = await pool.query<{
    status: string;
    refunded_amount_minor: number;
    fulfilment_status: string;
    fulfilment_reason: string | null;
  }>(`SELECT status, refunded_amount_minor, fulfilment_status, fulfilment_reason FROM orders WHERE order_id = $1`, [
    orderId,
  ]);
  const timeline = await pool.query<{ to_status: string; reason: string }>(
    'SELECT to_status, reason FROM order_status_history WHERE order_id = $1 ORDER BY id',
    [orderId],
  );
  return { ...order.rows[0], timeline: timeline.rows.map((row) => `${row.to_status} ${row.reason}`) };
}

describe('order workflow: fulfilment confirmation', () => {
  it('when the merchant confirms fulfilment, then nothing is refunded and a later failed is refused', async () => {
    const order = await startOrder('ff-ok', { timeoutMs: 20_000, graceMs: 1_000 });
    // Before payment there is nothing to fulfil.
    expect(await refusal(answer(order, { status: 'fulfilled' }))).toBe('InvalidTransition');
    await pay(order);

    const first = await answer(order, { status: 'fulfilled' });
    expect(first.fulfilment).toMatchObject({ status: 'fulfilled', reason: null, answeredAt: expect.any(String) });
    expect(await answer(order, { status: 'fulfilled' })).toEqual(first);
    expect(await refusal(answer(order, { status: 'failed', reason: 'sold out' }))).toBe('FulfilmentConflict');

    const state = await finishOrder(order, 'fulfilment-confirmed');
    expect(state).toMatchObject({ status: 'PAID', refundedAmountMinor: 0, fulfilment: { status: 'fulfilled' } });
    expect(gateway.refundsFor(order.orderId)).toHaveLength(0);
    const row = await dbOrder(order.orderId);
    expect(row).toMatchObject({ status: 'PAID', refunded_amount_minor: 0, fulfilment_status: 'fulfilled' });
    expect(row.timeline.at(-1)).toBe('PAID fulfilment_confirmed');
  });

  it('when the merchant reports the fulfilment failed, then the payment is refunded and the order REFUNDED', async () => {
    const order = await startOrder('ff-fail', { timeoutMs: 20_000, graceMs: 1_000 });
    await pay(order);

    const answered = await answer(order, { status: 'failed', reason: 'sold out' });
    expect(answered.fulfilment).toMatchObject({ status: 'failed', reason: 'sold out' });
    expect(await refusal(answer(order, { status: 'fulfilled' }))).toBe('FulfilmentConflict');

    const state = await finishOrder(order, 'fulfilment-failed-refunded');
    expect(state).toMatchObject({ status: 'REFUNDED', refundedAmountMinor: 5_000 });
    expect(state.refunds).toEqual([expect.objectContaining({ reason: 'fulfilment_failed', state: 'succeeded' })]);
    expect(gateway.refundsFor(order.orderId)).toEqual([
      expect.objectContaining({ refundId: `refund-${order.orderId}-1`, amountMinor: 5_000, state: 'succeeded' }),
    ]);
    const row = await dbOrder(order.orderId);
    expect(row).toMatchObject({
      status: 'REFUNDED',
      refunded_amount_minor: 5_000,
      fulfilment_status: 'failed',
      fulfilment_reason: 'sold out',
    });
    expect(row.timeline.slice(-2)).toEqual(['PAID fulfilment_failed', 'REFUNDED refund_succeeded:fulfilment_failed']);
  });

  it('when no answer comes before the timeout, then the payment is refunded, even past the grace window', async () => {
    // The timeout ends after the grace window would have: the order must stay open for it.
    const order = await startOrder('ff-timeout', { timeoutMs: 2_000, graceMs: 500 });
    await pay(order);

    const state = await finishOrder(order, 'fulfilment-timeout-refunded');
    expect(state).toMatchObject({
      status: 'REFUNDED',
      refundedAmountMinor: 5_000,
      fulfilment: { status: 'timed_out' },
    });
    expect(gateway.refundsFor(order.orderId)).toEqual([expect.objectContaining({ amountMinor: 5_000 })]);
    const row = await dbOrder(order.orderId);
    expect(row).toMatchObject({ status: 'REFUNDED', fulfilment_status: 'timed_out' });
    expect(row.timeline.slice(-2)).toEqual(['PAID fulfilment_timeout', 'REFUNDED refund_succeeded:fulfilment_timeout']);
    const paidAt = Date.parse(state.timeline.find((entry) => entry.status === 'PAID')?.at ?? '');
    const timedOutAt = Date.parse(state.timeline.find((entry) => entry.reason === 'fulfilment_timeout')?.at ?? '');
    expect(timedOutAt - paidAt).toBeGreaterThanOrEqual(2_000);
  });
});
