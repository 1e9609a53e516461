// Webhooks are acknowledged once stored and delivered from webhook_events afterwards. Over real HTTP, a real Temporal
// server and PostgreSQL, what must hold: an event answered while Temporal is unreachable reaches its order once
// Temporal is back; a row whose API died after the 2xx is delivered by the sweeper of any API; two replicas sweeping
// the same rows deliver each exactly once; a full delivery queue never loses an event; and the sweeper reads only the
// rows that are due (fresh ones are the answering API's, failing ones back off).
import { Client } from '@temporalio/client';
import { createServer, connect, type Server, type Socket } from 'node:net';
import Stripe from 'stripe';
import type { RunningApiServer } from '../../api/server';
import { lazyTemporalConnection } from '../../api/temporal/temporal-connection';
import { orderWorkflowId } from '../../contracts/order.contract';
import type { Pool } from '../../db/pool';
import {
  listDueWebhookDeliveries,
  measureWebhookBacklog,
  storeWebhookEvent,
} from '../../db/webhooks/webhook-events.repo';
import { createStripeWebhookVerifier } from '../../gateways/stripe/stripe.webhooks';
import {
  apiTestMetrics,
  http,
  postJson,
  startApiHarness,
  unreachableTemporalAddress,
  waitForOrderStatus,
  type ApiHarness,
} from '../support/api-harness';
import { testDataConverter } from '../support/codec';
import { createSuiteDatabase, type SuiteDatabase } from '../support/suite-database';
import { eventually } from '../support/processes';
import { sampleSum } from '../support/metrics';
import { paymentSucceeded } from '../support/stripe-events';
import { testTemporalAddress, uniqueId } from '../support/temporal';

const SECRET = 'whsec_webhook_outbox_test';
/** Sweeping APIs of this file: quick sweeps, and a failing row retried within a second or two. */
const SWEEPING = { WEBHOOK_SWEEP_INTERVAL: '200ms', WEBHOOK_RETRY_MAX_INTERVAL: '1s' };

let database: SuiteDatabase;
let harness: ApiHarness;
let pool: Pool;
/** Takes checkouts and never sweeps, so each test decides which APIs deliver its rows. */
let checkoutApi: RunningApiServer;

beforeAll(async () => {
  // A database of its own: the sweepers here would deliver other suites' waiting rows, and theirs these.
  database = await createSuiteDatabase();
  harness = await startApiHarness({
    stripeWebhookSecret: SECRET,
    databaseUrl: database.url,
    config: { WEBHOOK_SWEEP_INTERVAL: '1h' },
  });
  pool = harness.pool;
  checkoutApi = await harness.startApi();
});

afterAll(async () => {
  await harness?.stop();
  await database?.drop();
});

/** An API on the harness worker's task queue with these settings over the harness's. */
function sweepingApi(settings: Record<string, string> = {}, deps: Parameters<ApiHarness['startApi']>[0] = {}) {
  return harness.startApi({
    config: harness.config({ TEMPORAL_TASK_QUEUE: harness.worker.taskQueue, ...SWEEPING, ...settings }),
    ...deps,
  });
}

async function createOrder(): Promise<string> {
  const orderId = uniqueId('obx');
  const response = await postJson(checkoutApi.url, '/orders', {
    orderId,
    amount: 4200,
    currency: 'USD',
    gateway: 'stripe',
  });
  expect(response.status).toBe(201);
  return orderId;
}

const signatureOf = (payload: string) => Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET });

const postSigned = (baseUrl: string, payload: string) =>
  http(baseUrl, 'POST', '/webhooks/stripe', {
    body: payload,
    headers: { 'content-type': 'application/json', 'stripe-signature': signatureOf(payload) },
  });

/** What the intake stores for a signed payment, stored directly: an API that died right after its 2xx. */
async function storeUndelivered(orderId: string): Promise<{ id: number; eventId: string }> {
  const { eventId, payload } = paymentSucceeded(orderId, 4200);
  const verified = createStripeWebhookVerifier({ secrets: [SECRET], toleranceSeconds: 300 }).verify(
    Buffer.from(payload),
    { 'stripe-signature': signatureOf(payload) },
  );
  const stored = await storeWebhookEvent(pool, {
    gateway: 'stripe',
    eventId,
    eventType: verified.eventType,
    orderId,
    rawBody: payload,
    headers: {},
    paymentEvent: verified.paymentEvent ?? null,
  });
  return { id: stored.id, eventId };
}

async function storedRow(eventId: string) {
  const { rows } = await pool.query<{ outcome: string; delivery_attempts: number; error: string | null }>(
    'SELECT outcome, delivery_attempts, error FROM webhook_events WHERE event_id = $1',
    [eventId],
  );
  return rows[0];
}

async function waitForOutcome(eventId: string, outcome: string, timeoutMs = 20_000) {
  return eventually(async () => ((await storedRow(eventId))?.outcome === outcome ? storedRow(eventId) : undefined), {
    timeoutMs,
    what: `event ${eventId} ${outcome}`,
  });
}

async function signalsReceived(orderId: string): Promise<number> {
  const history = await harness.temporal.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory();
  return (history.events ?? []).filter((event) => event.workflowExecutionSignaledEventAttributes).length;
}

/** A TCP relay to the test Temporal server on `address`: Temporal coming back where the API expects it. */
async function relayTemporalAt(address: string): Promise<{ close(): Promise<void> }> {
  const [host, port] = address.split(':');
  const [targetHost, targetPort] = testTemporalAddress().split(':');
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(Number(targetPort), targetHost);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(Number(port), host, resolve));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

test('when Temporal is unreachable, then the webhook is answered 200, and once Temporal is back the order becomes PAID', async () => {
  const temporalAddress = await unreachableTemporalAddress();
  const connection = lazyTemporalConnection(temporalAddress);
  const temporal = new Client({ connection, namespace: 'default', dataConverter: testDataConverter() });
  const api = await sweepingApi({}, { temporal });
  let relay: { close(): Promise<void> } | undefined;
  try {
    const orderId = await createOrder();
    const { eventId, payload } = paymentSucceeded(orderId, 4200);

    const answer = await postSigned(api.url, payload);

    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { received: true } });
    await eventually(async () => ((await storedRow(eventId))?.error === 'temporal_unavailable' ? true : undefined), {
      what: 'a delivery failing on the outage',
    });
    expect(await storedRow(eventId)).toMatchObject({ outcome: 'received' });
    expect(await signalsReceived(orderId)).toBe(0);

    relay = await relayTemporalAt(temporalAddress);

    // The API's connection notices the server within its reconnect backoff (at most 5 s), then a sweep delivers.
    expect(await waitForOutcome(eventId, 'delivered', 40_000)).toMatchObject({ error: null });
    await waitForOrderStatus(pool, orderId, 'PAID');
    expect(await signalsReceived(orderId)).toBe(1);
  } finally {
    await api.stop();
    await connection.close();
    await relay?.close();
  }
});

test('when an API died after answering (the row is stored, never delivered), then the sweeper of another API delivers it', async () => {
  const orderId = await createOrder();
  const { eventId } = await storeUndelivered(orderId);
  const metrics = apiTestMetrics(pool);
  const api = await sweepingApi({}, { metrics });
  try {
    expect(await waitForOutcome(eventId, 'delivered')).toMatchObject({ delivery_attempts: 1 });
    await waitForOrderStatus(pool, orderId, 'PAID');
    expect(await signalsReceived(orderId)).toBe(1);
    const text = await metrics.registry.metrics();
    expect(sampleSum(text, 'orderpay_webhook_delivery_lag_seconds_count', { gateway: 'stripe' })).toBeGreaterThan(0);
  } finally {
    await api.stop();
  }
});

test('when two API replicas sweep the same waiting rows, then each event is delivered exactly once', async () => {
  const orderIds = await Promise.all(Array.from({ length: 12 }, () => createOrder()));
  const events = [];
  for (const orderId of orderIds) events.push(await storeUndelivered(orderId));
  const metrics = [apiTestMetrics(pool), apiTestMetrics(pool)];
  const replicas = await Promise.all(
    metrics.map((m) => sweepingApi({ WEBHOOK_SWEEP_INTERVAL: '100ms' }, { metrics: m })),
  );
  try {
    for (const { eventId } of events) {
      expect(await waitForOutcome(eventId, 'delivered')).toMatchObject({ delivery_attempts: 1 });
    }
    for (const orderId of orderIds) await waitForOrderStatus(pool, orderId, 'PAID');
    for (const orderId of orderIds) expect(await signalsReceived(orderId)).toBe(1);
    // Each delivery was recorded by exactly one of the two.
    const delivered = await Promise.all(
      metrics.map(async (m) => sampleSum(await m.registry.metrics(), 'orderpay_webhook_delivery_lag_seconds_count')),
    );
    expect(delivered.reduce((sum, count) => sum + count, 0)).toBe(orderIds.length);
  } finally {
    for (const replica of replicas) await replica.stop();
  }
});

test('when the delivery queue is full, then every webhook is still acknowledged and later delivered once', async () => {
  const api = await sweepingApi({ WEBHOOK_DELIVERY_CONCURRENCY: '1', WEBHOOK_DELIVERY_QUEUE_LIMIT: '1' });
  try {
    const orderIds = await Promise.all(Array.from({ length: 8 }, () => createOrder()));
    const payments = orderIds.map((orderId) => paymentSucceeded(orderId, 4200));

    const answers = await Promise.all(payments.map(({ payload }) => postSigned(api.url, payload)));

    expect(answers.map((answer) => answer.status)).toEqual(orderIds.map(() => 200));
    for (const { eventId } of payments) await waitForOutcome(eventId, 'delivered');
    for (const orderId of orderIds) await waitForOrderStatus(pool, orderId, 'PAID');
    for (const orderId of orderIds) expect(await signalsReceived(orderId)).toBe(1);
  } finally {
    await api.stop();
  }
});

test('when an API has stopped, then its sweeper delivers nothing more', async () => {
  const api = await sweepingApi({ WEBHOOK_SWEEP_INTERVAL: '100ms' });
  await api.stop();
  const orderId = await createOrder();
  const { eventId } = await storeUndelivered(orderId);

  // Ten sweep intervals: a sweeper still running would have delivered it by now.
  await new Promise((resolve) => setTimeout(resolve, 1_000));

  expect(await storedRow(eventId)).toMatchObject({ outcome: 'received', delivery_attempts: 0 });
  expect(await signalsReceived(orderId)).toBe(0);
  // Left for the next API that sweeps, as after a shutdown.
  const next = await sweepingApi();
  try {
    await waitForOutcome(eventId, 'delivered');
  } finally {
    await next.stop();
  }
});

describe('which rows a sweep reads', () => {
  test('when rows are fresh, claimed, closed or backing off, then only the due ones are read, oldest first', async () => {
    const minute = 60;
    /** received_at and the failure bookkeeping of one row, in seconds ago. */
    const rows: Record<string, { receivedAgo: number; attempts?: number; lastAttemptAgo?: number; sql?: string }> = {
      fresh: { receivedAgo: 1 },
      neverTried: { receivedAgo: 30 * minute },
      failedJustNow: { receivedAgo: 29 * minute, attempts: 1, lastAttemptAgo: 30 },
      failedAMinuteAgo: { receivedAgo: 28 * minute, attempts: 1, lastAttemptAgo: 90 },
      // Five failures: 60 s doubled four times is 16 minutes, capped at 10.
      failedOftenRecently: { receivedAgo: 27 * minute, attempts: 5, lastAttemptAgo: 9 * minute },
      failedOftenLongAgo: { receivedAgo: 26 * minute, attempts: 5, lastAttemptAgo: 11 * minute },
      claimed: { receivedAgo: 25 * minute, sql: "claimed_until = now() + interval '30 seconds'" },
      claimLapsed: { receivedAgo: 24 * minute, sql: "claimed_until = now() - interval '1 second'" },
      deadLettered: { receivedAgo: 23 * minute, sql: "outcome = 'failed'" },
      delivered: { receivedAgo: 22 * minute, sql: "outcome = 'delivered'" },
    };
    const ids = new Map<number, string>();
    for (const [name, row] of Object.entries(rows)) {
      const { id } = await storeUndelivered(uniqueId('ghost'));
      ids.set(id, name);
      await pool.query(
        `UPDATE webhook_events
            SET received_at = now() - make_interval(secs => $2), delivery_attempts = $3,
                last_attempt_at = now() - make_interval(secs => $4) ${row.sql ? `, ${row.sql}` : ''}
          WHERE id = $1`,
        [id, row.receivedAgo, row.attempts ?? 0, row.lastAttemptAgo ?? null],
      );
    }

    const due = await listDueWebhookDeliveries(pool, {
      olderThanMs: 60_000,
      retryInitialMs: 60_000,
      retryMaxMs: 600_000,
      limit: 1_000,
    });

    expect(due.filter((row) => ids.has(row.id)).map((row) => ids.get(row.id))).toEqual([
      'neverTried',
      'failedAMinuteAgo',
      'failedOftenLongAgo',
      'claimLapsed',
    ]);
    const backlog = await measureWebhookBacklog(pool);
    expect(backlog.count).toBeGreaterThanOrEqual(8);
    expect(backlog.oldestAgeSeconds).toBeGreaterThanOrEqual(30 * minute);
    // Leave nothing for another suite's sweeper in this database.
    await pool.query(`UPDATE webhook_events SET outcome = 'ignored' WHERE id = ANY($1::bigint[])`, [[...ids.keys()]]);
  });
});
