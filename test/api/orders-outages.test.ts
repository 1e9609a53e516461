// The orders API while a dependency is missing: Temporal unreachable, PostgreSQL unreachable, or no worker to run
// the checkout in time. Each answer is a 503 with a stable code, and nothing is left half-created.
import { Client } from '@temporalio/client';
import { createOrderActivities } from '../../activities/order.activities';
import { startApiServer, type RunningApiServer } from '../../api/server';
import { lazyTemporalConnection } from '../../api/temporal-connection';
import { apiConfigSchema, type ApiConfig } from '../../config/env';
import { createLogger } from '../../config/logger';
import { orderWorkflowId } from '../../contracts/order.contract';
import { createPool, type Pool } from '../../db/pool';
import { FakeGateway } from '../support/fake-gateway';
import { freePort } from '../support/processes';
import {
  connectTestClient,
  startTestWorker,
  testTemporalAddress,
  uniqueId,
  type RunningTestWorker,
} from '../support/temporal';

const logger = createLogger('api-test', 'silent');

function testConfig(overrides: Record<string, string>): ApiConfig {
  return apiConfigSchema.parse({
    DATABASE_URL: process.env.DATABASE_URL,
    TEMPORAL_ADDRESS: testTemporalAddress(),
    ORDER_TTL: '10m',
    POLL_INITIAL_INTERVAL: '10m',
    CHECKOUT_TIMEOUT: '2s',
    ...overrides,
  });
}

const checkoutBody = (orderId: string) => ({ orderId, amount: 1000, currency: 'EUR', gateway: 'stripe' });

async function request(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
  });
  const text = await response.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- asserted field by field
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as any };
}

let pool: Pool;
let temporal: Client;
let gateway: FakeGateway;
let worker: RunningTestWorker;
const servers: RunningApiServer[] = [];
const closeAfter: { close(): Promise<void> }[] = [];

async function startApi(deps: { config: ApiConfig; pool: Pool; temporal: Client }): Promise<RunningApiServer> {
  const server = await startApiServer({ ...deps, webhookVerifiers: {}, logger }, 0);
  servers.push(server);
  return server;
}

/** A client for an address where nothing listens: what the API sees while Temporal is down. */
async function unreachableTemporal(): Promise<Client> {
  const connection = lazyTemporalConnection(`127.0.0.1:${await freePort()}`);
  closeAfter.push(connection);
  return new Client({ connection, namespace: 'default' });
}

async function unreachableDatabase(): Promise<Pool> {
  const dead = createPool(`postgres://postgres@127.0.0.1:${await freePort()}/orderpay`, { max: 2 });
  dead.on('error', () => undefined);
  closeAfter.push({ close: () => dead.end() });
  return dead;
}

beforeAll(async () => {
  pool = createPool(process.env.DATABASE_URL ?? '', { max: 5 });
  gateway = new FakeGateway();
  worker = await startTestWorker(createOrderActivities({ pool, gateways: () => gateway, logger }));
  temporal = await connectTestClient();
});

afterAll(async () => {
  for (const server of servers) await server.stop();
  await worker?.stop();
  for (const resource of closeAfter) await resource.close();
  await temporal?.connection.close();
  await pool?.end();
});

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
    downApi = await startApi({ config: testConfig({}), pool, temporal: await unreachableTemporal() });
    liveApi = await startApi({
      config: testConfig({ TEMPORAL_TASK_QUEUE: worker.taskQueue, CHECKOUT_TIMEOUT: '15s' }),
      pool,
      temporal,
    });
  });

  test('when an order is posted, then 503 temporal_unavailable and no order or idempotency row exists', async () => {
    const orderId = uniqueId('tdn');
    const result = await request(downApi.url, 'POST', '/orders', checkoutBody(orderId));

    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('temporal_unavailable');
    expect(result.headers.get('retry-after')).toBe('5');
    expect(await rowsFor(orderId)).toEqual({ orders: 0, idempotencyRecords: 0 });
    expect(await workflowStatus(orderId)).toBe('NONE');
  });

  test('when an order is cancelled, then 503 temporal_unavailable and the order is untouched', async () => {
    const orderId = uniqueId('tdc');
    expect((await request(liveApi.url, 'POST', '/orders', checkoutBody(orderId))).status).toBe(201);

    const result = await request(downApi.url, 'POST', `/orders/${orderId}/cancel`);

    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('temporal_unavailable');
    const { rows } = await pool.query('SELECT status FROM orders WHERE order_id = $1', [orderId]);
    expect(rows).toEqual([{ status: 'AWAITING_PAYMENT' }]);
  });

  test('when an answered request is repeated, then it is replayed from the database without Temporal', async () => {
    const orderId = uniqueId('tdr');
    const first = await request(liveApi.url, 'POST', '/orders', checkoutBody(orderId));

    const replay = await request(downApi.url, 'POST', '/orders', checkoutBody(orderId));

    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
  });

  test('when a different request reuses a recorded order ID, then 409 is decided from the database, before Temporal', async () => {
    const orderId = uniqueId('tdx');
    await request(liveApi.url, 'POST', '/orders', checkoutBody(orderId));

    const conflict = await request(
      downApi.url,
      'POST',
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
    await request(liveApi.url, 'POST', '/orders', checkoutBody(orderId));

    const result = await request(downApi.url, 'GET', `/orders/${orderId}`);

    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ orderId, status: 'AWAITING_PAYMENT', amount: 1000 });
  });
});

describe('when PostgreSQL is unreachable', () => {
  let dbDownApi: RunningApiServer;
  beforeAll(async () => {
    dbDownApi = await startApi({
      config: testConfig({ TEMPORAL_TASK_QUEUE: worker.taskQueue }),
      pool: await unreachableDatabase(),
      temporal,
    });
  });

  test('when an order is posted, then 503 database_unavailable and no workflow was started', async () => {
    const orderId = uniqueId('ddn');
    const result = await request(dbDownApi.url, 'POST', '/orders', checkoutBody(orderId));

    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('database_unavailable');
    expect(result.headers.get('retry-after')).toBe('5');
    expect(await workflowStatus(orderId)).toBe('NONE');
    expect(gateway.callsTo('createIntent', orderId)).toEqual([]);
  });

  test('when an order is read, then 503 database_unavailable', async () => {
    const result = await request(dbDownApi.url, 'GET', `/orders/${uniqueId('ddg')}`);
    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('database_unavailable');
  });
});

describe('when no worker runs the checkout in time', () => {
  test('when an order is posted, then 503 checkout_pending; once a worker runs, the same request returns the order', async () => {
    const taskQueue = uniqueId('idle');
    const api = await startApi({ config: testConfig({ TEMPORAL_TASK_QUEUE: taskQueue }), pool, temporal });
    const orderId = uniqueId('pnd');

    const pending = await request(api.url, 'POST', '/orders', checkoutBody(orderId));

    expect(pending.status).toBe(503);
    expect(pending.body.error).toMatchObject({ code: 'checkout_pending', details: { orderId } });
    expect(pending.headers.get('retry-after')).toBe('2');
    expect(await rowsFor(orderId)).toEqual({ orders: 0, idempotencyRecords: 0 });
    expect(await workflowStatus(orderId)).toBe('RUNNING');

    const lateWorker = await startTestWorker(
      createOrderActivities({ pool, gateways: () => gateway, logger }),
      taskQueue,
    );
    try {
      await temporal.workflow.getHandle(orderWorkflowId(orderId)).query('orderStateQuery');
      const retried = await request(api.url, 'POST', '/orders', checkoutBody(orderId));

      expect([200, 201]).toContain(retried.status);
      expect(retried.body).toMatchObject({
        orderId,
        status: 'AWAITING_PAYMENT',
        paymentUrl: gateway.intentFor(orderId)?.paymentUrl,
      });
      expect(gateway.callsTo('createIntent', orderId)).toHaveLength(1);
      expect(await rowsFor(orderId)).toEqual({ orders: 1, idempotencyRecords: 1 });
    } finally {
      await lateWorker.stop();
    }
  });
});
