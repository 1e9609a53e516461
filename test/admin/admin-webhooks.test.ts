// The webhook dead-letter queue over real HTTP: events whose delivery did not get through (Temporal down, a failed
// signal) are listed, and a retry delivers each one to its real order workflow exactly once, however many
// operators press the button at the same time. The claim behind that is also raced directly on the database. The
// APIs here never sweep (and the suite has a database of its own), so a waiting row waits for the operator.
import type { Client } from '@temporalio/client';
import Stripe from 'stripe';
import { failedWebhookListSchema, webhookRetryResponseSchema } from '../../api/admin/admin.schema';
import { errorBodySchema } from '../../api/http/responses.schema';
import type { RunningApiServer } from '../../api/server';
import { orderWorkflowId, type PaymentEvent } from '../../contracts/order.contract';
import { createPool, type Pool } from '../../db/pool';
import {
  claimWebhookDelivery,
  recordWebhookDeliveryFailure,
  storeWebhookEvent,
} from '../../db/webhooks/webhook-events.repo';
import {
  http,
  postJson,
  startApiHarness,
  waitForOrderStatus,
  type ApiHarness,
  type HttpResult,
} from '../support/api-harness';
import { eventually } from '../support/processes';
import { createSuiteDatabase, type SuiteDatabase } from '../support/suite-database';
import { uniqueId } from '../support/temporal';
import { paymentSucceeded } from '../support/stripe-events';

const SECRET = 'whsec_admin_webhooks_test';
const TOKEN = 'admin-webhooks-token-0123456789';
const admin = { authorization: `Bearer ${TOKEN}`, 'x-admin-actor': 'bob' };

let database: SuiteDatabase;
let harness: ApiHarness;
let pool: Pool;
let temporal: Client;
let api: RunningApiServer;
/** Same database, Temporal unreachable: webhooks it receives are stored but not delivered. */
let temporalDownApi: RunningApiServer;

beforeAll(async () => {
  database = await createSuiteDatabase();
  harness = await startApiHarness({
    stripeWebhookSecret: SECRET,
    databaseUrl: database.url,
    config: { ADMIN_API_TOKEN: TOKEN, WEBHOOK_SWEEP_INTERVAL: '1h' },
  });
  ({ pool, temporal } = harness);
  api = await harness.startApi();
  temporalDownApi = await harness.startApi({ temporal: await harness.unreachableTemporal() });
});

afterAll(async () => {
  await harness?.stop();
  await database?.drop();
});

function expectError(result: HttpResult, status: number, code: string): void {
  expect({ status: result.status, code: result.body?.error?.code }).toEqual({ status, code });
  errorBodySchema.parse(result.body);
}

async function createOrder(amount = 4200): Promise<string> {
  const orderId = uniqueId('dlq');
  const response = await postJson(api.url, '/orders', { orderId, amount, currency: 'USD', gateway: 'stripe' });
  expect(response.status).toBe(201);
  return orderId;
}

const postSigned = (baseUrl: string, payload: string) =>
  http(baseUrl, 'POST', '/webhooks/stripe', {
    body: payload,
    headers: {
      'content-type': 'application/json',
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }),
    },
  });

/**
 * A paid-order webhook that arrived while Temporal was down: acknowledged and stored as `received`, and its one
 * delivery (after the answer) failed and released its claim.
 */
async function undeliveredEvent(): Promise<{ orderId: string; eventId: string; id: number }> {
  const orderId = await createOrder(4200);
  const { eventId, payload } = paymentSucceeded(orderId, 4200);
  expect((await postSigned(temporalDownApi.url, payload)).status).toBe(200);
  return eventually(
    async () => {
      const { rows } = await pool.query<{ id: string; delivery_attempts: number; claimed_until: Date | null }>(
        'SELECT id, delivery_attempts, claimed_until FROM webhook_events WHERE event_id = $1',
        [eventId],
      );
      const row = rows[0];
      return row?.delivery_attempts === 1 && row.claimed_until === null
        ? { orderId, eventId, id: Number(row.id) }
        : undefined;
    },
    { what: 'the failed delivery recorded' },
  );
}

async function signalsReceived(orderId: string): Promise<number> {
  const history = await temporal.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory();
  return (history.events ?? []).filter((event) => event.workflowExecutionSignaledEventAttributes).length;
}

async function storedPayload(eventId: string): Promise<string> {
  const { rows } = await pool.query<{ raw_body: string }>('SELECT raw_body FROM webhook_events WHERE event_id = $1', [
    eventId,
  ]);
  return rows[0]?.raw_body ?? '';
}

async function storedRow(id: number) {
  const { rows } = await pool.query(
    'SELECT outcome, delivery_attempts, error, claimed_until FROM webhook_events WHERE id = $1',
    [id],
  );
  return rows[0];
}

const retry = (id: number | string) => http(api.url, 'POST', `/admin/webhooks/${id}/retry`, { headers: admin });

async function listFailed(query: string) {
  const result = await http(api.url, 'GET', `/admin/webhooks/failed?${query}`, { headers: admin });
  expect(result.status).toBe(200);
  return failedWebhookListSchema.parse(result.body);
}

describe('GET /admin/webhooks/failed', () => {
  test('when an event is stuck in received past the threshold, then it is listed; before it, it is not', async () => {
    const { id, eventId, orderId } = await undeliveredEvent();

    const patient = await listFailed('stuckAfter=1h&limit=200');
    const eager = await listFailed('stuckAfter=1ms&limit=200');

    expect(patient.events.map((event) => event.id)).not.toContain(id);
    expect(eager.events).toContainEqual(
      expect.objectContaining({
        id,
        eventId,
        orderId,
        gateway: 'stripe',
        eventType: 'payment_intent.succeeded',
        outcome: 'received',
        error: 'temporal_unavailable',
        deliveryAttempts: 1,
      }),
    );
  });

  test('when an event failed, then it is listed at once, and delivered events never are', async () => {
    const failed = await storeWebhookEvent(pool, {
      gateway: 'stripe',
      eventId: `evt_${uniqueId('f')}`,
      eventType: 'payment_intent.succeeded',
      orderId: uniqueId('o'),
      rawBody: '{}',
      headers: {},
      paymentEvent: null,
    });
    await recordWebhookDeliveryFailure(pool, failed.id, { outcome: 'failed', error: 'signal_failed' });
    const orderId = await createOrder(4200);
    const delivered = paymentSucceeded(orderId, 4200);
    expect((await postSigned(api.url, delivered.payload)).status).toBe(200);

    const page = await listFailed('limit=200');

    expect(page.events).toContainEqual(expect.objectContaining({ id: failed.id, outcome: 'failed' }));
    expect(page.events.every((event) => event.outcome === 'failed' || event.outcome === 'received')).toBe(true);
    expect(page.events.map((event) => event.eventId)).not.toContain(delivered.eventId);
  });

  test('when the list is paged, then the pages follow each other without gaps or repeats', async () => {
    for (let i = 0; i < 3; i++) await undeliveredEvent();
    const all = await listFailed('stuckAfter=1ms&limit=200');
    const paged: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof listFailed>> = await listFailed(
        `stuckAfter=1ms&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      paged.push(...page.events.map((event) => event.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(paged).toEqual(all.events.map((event) => event.id));
  });

  test('when the threshold is not a duration, then 400 validation_failed', async () => {
    const result = await http(api.url, 'GET', '/admin/webhooks/failed?stuckAfter=soon', { headers: admin });
    expectError(result, 400, 'validation_failed');
  });
});

describe('POST /admin/webhooks/:id/retry', () => {
  test('when an undelivered event is retried, then the workflow gets it once and the order is paid', async () => {
    const { id, orderId } = await undeliveredEvent();

    const result = await retry(id);

    expect(result.status).toBe(200);
    expect(webhookRetryResponseSchema.parse(result.body)).toMatchObject({
      result: 'delivered',
      event: { id, outcome: 'delivered', deliveryAttempts: 2, error: null },
    });
    await waitForOrderStatus(pool, orderId, 'PAID');
    expect(await signalsReceived(orderId)).toBe(1);
    const { rows } = await pool.query('SELECT actor, action, outcome FROM admin_actions WHERE target = $1', [
      String(id),
    ]);
    expect(rows).toEqual([{ actor: 'bob', action: 'webhook.retry', outcome: 'succeeded' }]);
  });

  test('when five operators retry the same event at once, then exactly one signal reaches the workflow', async () => {
    const { id, orderId } = await undeliveredEvent();

    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => retry(id)));

    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409]);
    for (const answer of answers.filter((a) => a.status === 409)) {
      expect(['webhook_retry_in_progress', 'webhook_already_processed']).toContain(answer.body.error.code);
    }
    await waitForOrderStatus(pool, orderId, 'PAID');
    expect(await signalsReceived(orderId)).toBe(1);
    expect(await storedRow(id)).toMatchObject({ outcome: 'delivered', delivery_attempts: 2, claimed_until: null });
  });

  test('when the event was already delivered, then 409 webhook_already_processed and nothing is signalled', async () => {
    const { id, orderId } = await undeliveredEvent();
    expect((await retry(id)).status).toBe(200);

    const again = await retry(id);

    expectError(again, 409, 'webhook_already_processed');
    expect(again.body.error.details).toEqual({ id, outcome: 'delivered' });
    expect(await signalsReceived(orderId)).toBe(1);
  });

  test('when the order has no workflow, then the event is closed as order_not_found for reconciliation', async () => {
    const orderId = uniqueId('ghost');
    const event: PaymentEvent = {
      eventId: `evt_${uniqueId('g')}`,
      kind: 'captured',
      verified: true,
      amountMinor: 100,
      currency: 'USD',
      occurredAt: new Date().toISOString(),
    };
    const stored = await storeWebhookEvent(pool, {
      gateway: 'stripe',
      eventId: event.eventId,
      eventType: 'payment_intent.succeeded',
      orderId,
      rawBody: '{}',
      headers: {},
      paymentEvent: event,
    });
    await recordWebhookDeliveryFailure(pool, stored.id, { outcome: 'failed', error: 'signal_failed' });

    const result = await retry(stored.id);

    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ result: 'order_not_found', event: { outcome: 'order_not_found' } });
  });

  test('when the event carries no payment event, then 409 webhook_not_retryable', async () => {
    const stored = await storeWebhookEvent(pool, {
      gateway: 'stripe',
      eventId: `evt_${uniqueId('n')}`,
      eventType: 'payment_intent.succeeded',
      orderId: uniqueId('o'),
      rawBody: '{}',
      headers: {},
      paymentEvent: null,
    });
    expectError(await retry(stored.id), 409, 'webhook_not_retryable');
  });

  test('when the event does not exist or the ID is not a number, then 404 or 400', async () => {
    expectError(await retry(2_000_000_000), 404, 'webhook_event_not_found');
    expectError(await retry('abc'), 400, 'validation_failed');
  });

  test('when Temporal is down during the retry, then 503 and the event stays in the queue, unclaimed', async () => {
    const { id } = await undeliveredEvent();

    const result = await http(temporalDownApi.url, 'POST', `/admin/webhooks/${id}/retry`, { headers: admin });

    expectError(result, 503, 'temporal_unavailable');
    expect(await storedRow(id)).toMatchObject({ outcome: 'received', delivery_attempts: 2, claimed_until: null });
  });
});

describe('the delivery claim', () => {
  test('when many connections claim one event at the same moment, then exactly one gets it', async () => {
    const { id } = await undeliveredEvent();
    // Separate connections, so the UPDATEs really race inside PostgreSQL.
    const racers = createPool(database.url, { max: 8 });
    try {
      const claims = await Promise.all(Array.from({ length: 8 }, () => claimWebhookDelivery(racers, id)));
      expect(claims.filter((claim) => claim.claimed)).toHaveLength(1);
      expect(claims.filter((claim) => !claim.claimed && claim.reason === 'in_progress')).toHaveLength(7);
    } finally {
      await racers.end();
    }
  });

  test('when the gateway redelivers an event another delivery holds, then 200 and no second signal; later it is a duplicate', async () => {
    const { id, eventId, orderId } = await undeliveredEvent();
    const payload = await storedPayload(eventId);
    // An operator's retry is in flight (it holds the claim) when the gateway's redelivery comes in.
    expect(await claimWebhookDelivery(pool, id)).toEqual({ claimed: true });

    const redelivery = await postSigned(api.url, payload);

    // Stored already, so acknowledged; its delivery finds the claim taken and leaves the event to the holder.
    expect(redelivery).toMatchObject({ status: 200, body: { received: true } });
    // The delivery queued by the redelivery runs within milliseconds; give it ample time to (wrongly) signal.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await signalsReceived(orderId)).toBe(0);
    expect(await storedRow(id)).toMatchObject({ outcome: 'received', delivery_attempts: 1 });
    await pool.query('UPDATE webhook_events SET claimed_until = NULL WHERE id = $1', [id]);
    expect((await postSigned(api.url, payload)).body).toEqual({ received: true });
    await eventually(async () => ((await storedRow(id)).outcome === 'delivered' ? true : undefined), {
      what: 'the event delivered',
    });
    expect((await postSigned(api.url, payload)).body).toEqual({ received: true, duplicate: true });
    expect(await signalsReceived(orderId)).toBe(1);
  });

  test('when a claim has lapsed (its holder died), then the event can be claimed again', async () => {
    const { id } = await undeliveredEvent();
    expect(await claimWebhookDelivery(pool, id)).toEqual({ claimed: true });
    expect(await claimWebhookDelivery(pool, id)).toEqual({ claimed: false, reason: 'in_progress' });
    await pool.query("UPDATE webhook_events SET claimed_until = now() - interval '1 second' WHERE id = $1", [id]);
    expect(await claimWebhookDelivery(pool, id)).toEqual({ claimed: true });
  });
});
