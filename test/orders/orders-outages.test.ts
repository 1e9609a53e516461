// The orders API while a dependency is missing: Temporal unreachable, PostgreSQL unreachable, or no worker to run
// the checkout in time. Each answer is a 503 with a stable code, and nothing is left half-created.
import type { Client } from '@temporalio/client';
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId } from '../../contracts/order.contract';
import type { Pool } from '../../db/pool';
import { http, postJson, startApiHarness, type ApiHarness } from '../support/api-harness';
import type { FakeGateway } from '../support/fake-gateway';
import { uniqueId, type RunningTestWorker } from '../support/temporal';

const checkoutBody = (orderId: string) => ({ orderId, amount: 1000, currency: 'EUR', gateway: 'stripe' });

let harness: ApiHarness;
let pool: Pool;
let temporal: Client;
let gateway: FakeGateway;
let worker: RunningTestWorker;

beforeAll(async () => {
  harness = await startApiHarness({ config: { CHECKOUT_TIMEOUT: '2s' } });
  ({ pool, temporal, gateway, worker } = harness);
});

afterAll(() => harness?.stop());

async function rowsFor(orderId: string) {
  const orders = await pool.query('SELECT 1 FROM orders WHERE order_id = $1', [orderId]);
  const records = await pool.query('SELECT 1 FROM idempotency_records WHERE idempotency_key = $1', [orderId]);
  return { orders: orders.rowCount, idempotencyRecords: records.rowCount };
}

async function workflowStatus(orderId: string): Promise<string> {
  try {
    return (await temporal.workflow.getHandle(orderWorkflowId(orderId)).describe()).status.name;
  } catch {
    return 'NONE';
  }
}

describe('when Temporal is unreachable', () => {
  let downApi: RunningApiServer;
  let liveApi: RunningApiServer;
  beforeAll(async () => {
    downApi = await harness.startApi({ config: harness.config(), temporal: await harness.unreachableTemporal() });
    liveApi = await harness.startApi({
      config: harness.config({ TEMPORAL_TASK_QUEUE: worker.taskQueue, CHECKOUT_TIMEOUT: '15s' }),
    });
  });

  test('when an order is posted, then 503 temporal_unavailable and no order or idempotency row exists', async () => {
    const orderId = uniqueId('tdn');
    const result = await postJson(downApi.url, '/orders', checkoutBody(orderId));

    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('temporal_unavailable');
    expect(result.headers.get('retry-after')).toBe('5');
    expect(await rowsFor(orderId)).toEqual({ orders: 0, idempotencyRecords: 0 });
    expect(await workflowStatus(orderId)).toBe('NONE');
  });

  test('when an order is cancelled, then 503 temporal_unavailable and the order is untouched', async () => {
    const orderId = uniqueId('tdc');
    expect((await postJson(liveApi.url, '/orders', checkoutBody(orderId))).status).toBe(201);

    const result = await http(downApi.url, 'POST', `/orders/${orderId}/cancel`);

    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('temporal_unavailable');
    const { rows } = await pool.query('SELECT status FROM orders WHERE order_id = $1', [orderId]);
    expect(rows).toEqual([{ status: 'AWAITING_PAYMENT' }]);
  });

  test('when an answered request is repeated, then it is replayed from the database without Temporal', async () => {
    const orderId = uniqueId('tdr');
    const first = await postJson(liveApi.url, '/orders', checkoutBody(orderId));

    const replay = await postJson(downApi.url, '/orders', checkoutBody(orderId));

    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
  });

  test('when a different request reuses a recorded order ID, then 409 is decided from the database, before Temporal', async () => {
    const orderId = uniqueId('tdx');
    await postJson(liveApi.url, '/orders', checkoutBody(orderId));

    const conflict = await postJson(
      downApi.url,
      '/orders',
      { ...checkoutBody(orderId), amount: 1 },
      {
        'Idempotency-Key': uniqueId('other'),
      },
    );

    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('idempotency_conflict');
  });

  test('when an order is read, then it still comes from the database', async () => {
    const orderId = uniqueId('tdg');
    await postJson(liveApi.url, '/orders', checkoutBody(orderId));

    const result = await http(downApi.url, 'GET', `/orders/${orderId}`);

    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ orderId, status: 'AWAITING_PAYMENT', amount: 1000 });
  });
});

describe('when PostgreSQL is unreachable', () => {
  let dbDownApi: RunningApiServer;
  beforeAll(async () => {
    dbDownApi = await harness.startApi({
      config: harness.config({ TEMPORAL_TASK_QUEUE: worker.taskQueue }),
      pool: await harness.unreachableDatabase(),
    });
  });

  test('when an order is posted, then 503 database_unavailable and no workflow was started', async () => {
    const orderId = uniqueId('ddn');
    const result = await postJson(dbDownApi.url, '/orders', checkoutBody(orderId));

    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('database_unavailable');
    expect(result.headers.get('retry-after')).toBe('5');
    expect(await workflowStatus(orderId)).toBe('NONE');
    expect(gateway.callsTo('createIntent', orderId)).toEqual([]);
  });

  test('when an order is read, then 503 database_unavailable', async () => {
    const result = await http(dbDownApi.url, 'GET', `/orders/${uniqueId('ddg')}`);
    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('database_unavailable');
  });
});

describe('when no worker runs the checkout in time', () => {
  test('when an order is posted, then 503 checkout_pending; once a worker runs, the same request returns the order', async () => {
    const taskQueue = uniqueId('idle');
    const api = await harness.startApi({ config: harness.config({ TEMPORAL_TASK_QUEUE: taskQueue }) });
    const orderId = uniqueId('pnd');

    const pending = await postJson(api.url, '/orders', checkoutBody(orderId));

    expect(pending.status).toBe(503);
    expect(pending.body.error).toMatchObject({ code: 'checkout_pending', details: { orderId } });
    expect(pending.headers.get('retry-after')).toBe('2');
    expect(await rowsFor(orderId)).toEqual({ orders: 0, idempotencyRecords: 0 });
    expect(await workflowStatus(orderId)).toBe('RUNNING');

    const lateWorker = await harness.startWorker(taskQueue);
    try {
      await temporal.workflow.getHandle(orderWorkflowId(orderId)).query('orderStateQuery');
      const retried = await postJson(api.url, '/orders', checkoutBody(orderId));

      expect([200, 201]).toContain(retried.status);
      expect(retried.body).toMatchObject({
        orderId,
        status: 'AWAITING_PAYMENT',
        paymentUrl: gateway.intentFor(orderId)?.paymentUrl,
      });
      expect(gateway.callsTo('createIntent', orderId)).toHaveLength(1);
      // Whether the retry joined the workflow (its answer stored) or found the order recorded (answered from the row,
      // nothing stored) depends on how far the late worker got; either way there is one order.
      expect((await rowsFor(orderId)).orders).toBe(1);
    } finally {
      await lateWorker.stop();
    }
  });
});
