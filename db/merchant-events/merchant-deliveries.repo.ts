// SQL for delivering merchant events: the outbox rows per (event, endpoint), their attempts, and what the sweeper,
// the metrics and the admin API read from them.
import type { CustomerInfo } from '../../contracts/order.contract';
import type { MerchantEventType } from '../../contracts/merchant-events.contract';
import { inTransaction, type Pool, type PoolClient } from '../pool';
import type { MerchantEventData, MerchantEventsNotice } from './merchant-events.repo';
import { MERCHANT_EVENTS_CHANNEL } from './merchant-events.repo';

export type DeliveryState = 'pending' | 'delivered' | 'failed' | 'cancelled';
export type AttemptOutcome = 'delivered' | 'rejected' | 'gone' | 'error' | 'timeout';

export interface MerchantEventRecord {
  eventId: string;
  orderId: string;
  sequence: number;
  type: MerchantEventType;
  data: MerchantEventData;
  createdAt: Date;
}

/** Pending event IDs of one order for one endpoint, in sequence order: what its delivery workflow sends next. */
export async function listPendingEventIds(pool: Pool, endpointId: string, orderId: string): Promise<string[]> {
  const { rows } = await pool.query<{ event_id: string }>(
    `SELECT e.event_id FROM merchant_event_deliveries d JOIN merchant_events e USING (event_id)
      WHERE d.endpoint_id = $1 AND e.order_id = $2 AND d.state = 'pending'
      ORDER BY e.sequence`,
    [endpointId, orderId],
  );
  return rows.map((row) => row.event_id);
}

export interface DeliveryToMake {
  state: DeliveryState;
  event: MerchantEventRecord;
  /** The order's customer, only when the endpoint is configured to receive personal data. */
  customer?: CustomerInfo | null;
}

export async function findDeliveryToMake(
  pool: Pool,
  eventId: string,
  endpointId: string,
  withCustomer: boolean,
): Promise<DeliveryToMake | undefined> {
  const { rows } = await pool.query<{
    state: DeliveryState;
    event_id: string;
    order_id: string;
    sequence: number;
    type: MerchantEventType;
    data: MerchantEventData;
    created_at: Date;
    customer: CustomerInfo | null;
  }>(
    `SELECT d.state, e.event_id, e.order_id, e.sequence, e.type, e.data, e.created_at,
            CASE WHEN $3 THEN o.customer END AS customer
       FROM merchant_event_deliveries d JOIN merchant_events e USING (event_id) JOIN orders o USING (order_id)
      WHERE d.event_id = $1 AND d.endpoint_id = $2`,
    [eventId, endpointId, withCustomer],
  );
  const row = rows[0];
  return (
    row && {
      state: row.state,
      event: {
        eventId: row.event_id,
        orderId: row.order_id,
        sequence: row.sequence,
        type: row.type,
        data: row.data,
        createdAt: row.created_at,
      },
      ...(withCustomer ? { customer: row.customer } : {}),
    }
  );
}

export interface AttemptRecord {
  eventId: string;
  endpointId: string;
  attemptedAt: Date;
  outcome: AttemptOutcome;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

/**
 * Logs the attempt and moves the delivery: delivered on a 2xx (only from pending, so a late answer never overrides an
 * operator's reset), otherwise it stays pending with the error. Returns whether this attempt delivered it.
 */
export async function recordAttempt(pool: Pool, attempt: AttemptRecord): Promise<boolean> {
  return inTransaction(pool, async (client) => {
    await client.query(
      `INSERT INTO merchant_delivery_attempts
         (event_id, endpoint_id, attempted_at, outcome, status_code, latency_ms, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        attempt.eventId,
        attempt.endpointId,
        attempt.attemptedAt,
        attempt.outcome,
        attempt.statusCode,
        attempt.latencyMs,
        attempt.error,
      ],
    );
    const delivered = attempt.outcome === 'delivered';
    const result = await client.query(
      `UPDATE merchant_event_deliveries
          SET attempts = attempts + 1,
              state = CASE WHEN $3 AND state = 'pending' THEN 'delivered' ELSE state END,
              delivered_at = CASE WHEN $3 AND state = 'pending' THEN $4 ELSE delivered_at END,
              last_error = $5, updated_at = now()
        WHERE event_id = $1 AND endpoint_id = $2
        RETURNING state`,
      [attempt.eventId, attempt.endpointId, delivered, attempt.attemptedAt, attempt.error],
    );
    return delivered && (result.rows[0] as { state: string } | undefined)?.state === 'delivered';
  });
}

/** Retries ran out: the delivery is failed (an operator may redeliver it). */
export async function markDeliveryFailed(
  pool: Pool,
  eventId: string,
  endpointId: string,
  error: string,
): Promise<void> {
  await pool.query(
    `UPDATE merchant_event_deliveries SET state = 'failed', last_error = $3, updated_at = now()
      WHERE event_id = $1 AND endpoint_id = $2 AND state = 'pending'`,
    [eventId, endpointId, error],
  );
}

export interface DeliveryPair {
  endpointId: string;
  orderId: string;
}

/** The (endpoint, order) pairs with pending deliveries for an order or an endpoint, enabled endpoints only. */
export async function pendingPairs(pool: Pool, notice: MerchantEventsNotice, limit: number): Promise<DeliveryPair[]> {
  const { rows } = await pool.query<{ endpoint_id: string; order_id: string }>(
    `SELECT DISTINCT d.endpoint_id, e.order_id
       FROM merchant_event_deliveries d JOIN merchant_events e USING (event_id)
       JOIN merchant_endpoints p ON p.endpoint_id = d.endpoint_id
      WHERE d.state = 'pending' AND p.enabled
        AND ($1::text IS NULL OR e.order_id = $1) AND ($2::text IS NULL OR d.endpoint_id = $2)
      LIMIT $3`,
    ['orderId' in notice ? notice.orderId : null, 'endpointId' in notice ? notice.endpointId : null, limit],
  );
  return rows.map((row) => ({ endpointId: row.endpoint_id, orderId: row.order_id }));
}

/** A pair the sweeper looks at; `neverDispatched`: some pending delivery of it no workflow was ever told about. */
export interface SweepCandidate extends DeliveryPair {
  neverDispatched: boolean;
}

/**
 * What the sweeper looks at: pairs with a pending delivery recorded at least `olderThanMs` ago that was never
 * dispatched (a lost notification, a redelivery), or dispatched more than `redispatchAfterMs` ago (its workflow may
 * have ended without it).
 */
export async function sweepCandidates(
  pool: Pool,
  options: { olderThanMs: number; redispatchAfterMs: number; limit: number },
): Promise<SweepCandidate[]> {
  const { rows } = await pool.query<{ endpoint_id: string; order_id: string; never_dispatched: boolean }>(
    `SELECT d.endpoint_id, e.order_id, bool_or(d.dispatched_at IS NULL) AS never_dispatched
       FROM merchant_event_deliveries d JOIN merchant_events e USING (event_id)
       JOIN merchant_endpoints p ON p.endpoint_id = d.endpoint_id
      WHERE d.state = 'pending' AND p.enabled
        AND d.created_at < now() - make_interval(secs => $1::double precision / 1000)
        AND (d.dispatched_at IS NULL OR d.dispatched_at < now() - make_interval(secs => $2::double precision / 1000))
      GROUP BY d.endpoint_id, e.order_id
      ORDER BY min(d.created_at)
      LIMIT $3`,
    [options.olderThanMs, options.redispatchAfterMs, options.limit],
  );
  return rows.map((row) => ({
    endpointId: row.endpoint_id,
    orderId: row.order_id,
    neverDispatched: row.never_dispatched,
  }));
}

export async function markDispatched(pool: Pool, pair: DeliveryPair): Promise<void> {
  await pool.query(
    `UPDATE merchant_event_deliveries d SET dispatched_at = now()
       FROM merchant_events e
      WHERE e.event_id = d.event_id AND d.endpoint_id = $1 AND e.order_id = $2 AND d.state = 'pending'`,
    [pair.endpointId, pair.orderId],
  );
}

/** Age of the oldest delivery still pending to an enabled endpoint, in seconds; 0 when none waits. */
export async function oldestUndeliveredAgeSeconds(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ age: number | null }>(
    `SELECT EXTRACT(EPOCH FROM now() - min(d.created_at))::double precision AS age
       FROM merchant_event_deliveries d JOIN merchant_endpoints p USING (endpoint_id)
      WHERE d.state = 'pending' AND p.enabled`,
  );
  return Math.max(0, rows[0]?.age ?? 0);
}

// ---- Operators ----

export interface DeliveryView {
  endpointId: string;
  state: DeliveryState;
  attempts: number;
  deliveredAt: string | null;
  lastError: string | null;
}

export interface EventView {
  eventId: string;
  orderId: string;
  sequence: number;
  type: MerchantEventType;
  createdAt: string;
  data: MerchantEventData;
  deliveries: DeliveryView[];
}

export interface EventListFilter {
  orderId?: string;
  type?: MerchantEventType;
  /** Only events with a delivery in this state. */
  deliveryState?: DeliveryState;
  since?: Date;
  until?: Date;
  limit: number;
}

interface EventViewRow {
  event_id: string;
  order_id: string;
  sequence: number;
  type: MerchantEventType;
  created_at: Date;
  data: MerchantEventData;
  deliveries: {
    endpoint_id: string;
    state: DeliveryState;
    attempts: number;
    delivered_at: string | null;
    last_error: string | null;
  }[];
}

const EVENT_VIEW_SELECT = `
  SELECT e.event_id, e.order_id, e.sequence, e.type, e.created_at, e.data,
         COALESCE((SELECT json_agg(json_build_object('endpoint_id', d.endpoint_id, 'state', d.state,
                     'attempts', d.attempts, 'delivered_at', d.delivered_at, 'last_error', d.last_error)
                     ORDER BY d.endpoint_id)
                     FROM merchant_event_deliveries d WHERE d.event_id = e.event_id), '[]') AS deliveries
    FROM merchant_events e`;

function toEventView(row: EventViewRow): EventView {
  return {
    eventId: row.event_id,
    orderId: row.order_id,
    sequence: row.sequence,
    type: row.type,
    createdAt: row.created_at.toISOString(),
    data: row.data,
    deliveries: row.deliveries.map((delivery) => ({
      endpointId: delivery.endpoint_id,
      state: delivery.state,
      attempts: delivery.attempts,
      deliveredAt: delivery.delivered_at === null ? null : new Date(delivery.delivered_at).toISOString(),
      lastError: delivery.last_error,
    })),
  };
}

/** Newest first. */
export async function listEvents(pool: Pool, filter: EventListFilter): Promise<EventView[]> {
  const { rows } = await pool.query<EventViewRow>(
    `${EVENT_VIEW_SELECT}
      WHERE ($1::text IS NULL OR e.order_id = $1) AND ($2::text IS NULL OR e.type = $2)
        AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM merchant_event_deliveries d
                                          WHERE d.event_id = e.event_id AND d.state = $3))
        AND ($4::timestamptz IS NULL OR e.created_at >= $4) AND ($5::timestamptz IS NULL OR e.created_at < $5)
      ORDER BY e.created_at DESC, e.event_id
      LIMIT $6`,
    [
      filter.orderId ?? null,
      filter.type ?? null,
      filter.deliveryState ?? null,
      filter.since ?? null,
      filter.until ?? null,
      filter.limit,
    ],
  );
  return rows.map(toEventView);
}

export interface AttemptView {
  endpointId: string;
  attemptedAt: string;
  outcome: AttemptOutcome;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

export async function findEventWithAttempts(
  pool: Pool,
  eventId: string,
): Promise<(EventView & { attempts: AttemptView[] }) | undefined> {
  const { rows } = await pool.query<EventViewRow>(`${EVENT_VIEW_SELECT} WHERE e.event_id = $1`, [eventId]);
  const row = rows[0];
  if (!row) return undefined;
  const attempts = await pool.query<{
    endpoint_id: string;
    attempted_at: Date;
    outcome: AttemptOutcome;
    status_code: number | null;
    latency_ms: number;
    error: string | null;
  }>(
    `SELECT endpoint_id, attempted_at, outcome, status_code, latency_ms, error
       FROM merchant_delivery_attempts WHERE event_id = $1 ORDER BY id`,
    [eventId],
  );
  return {
    ...toEventView(row),
    attempts: attempts.rows.map((attempt) => ({
      endpointId: attempt.endpoint_id,
      attemptedAt: attempt.attempted_at.toISOString(),
      outcome: attempt.outcome,
      statusCode: attempt.status_code,
      latencyMs: attempt.latency_ms,
      error: attempt.error,
    })),
  };
}

/**
 * Puts deliveries back to pending (never-dispatched, so the sweeper starts them if the notification is lost) and
 * notifies the dispatcher per order, in one transaction. `eventId`: that event's deliveries (any state but
 * pending); otherwise every failed delivery of events created in [since, until). Returns how many were reset.
 */
export async function resetForRedelivery(
  pool: Pool,
  selection: { eventId: string; endpointId?: string } | { since: Date; until: Date; endpointId?: string },
): Promise<number> {
  return inTransaction(pool, async (client: PoolClient) => {
    const byEvent = 'eventId' in selection;
    const { rows } = await client.query<{ order_id: string }>(
      `UPDATE merchant_event_deliveries d
          SET state = 'pending', dispatched_at = NULL, updated_at = now()
         FROM merchant_events e
        WHERE e.event_id = d.event_id AND d.state <> 'pending'
          AND ($1::text IS NULL OR d.endpoint_id = $1)
          AND (CASE WHEN $2::boolean THEN d.event_id = $3::text
                    ELSE d.state = 'failed' AND e.created_at >= $4::timestamptz AND e.created_at < $5::timestamptz
               END)
        RETURNING e.order_id`,
      [
        selection.endpointId ?? null,
        byEvent,
        byEvent ? selection.eventId : null,
        byEvent ? null : selection.since,
        byEvent ? null : selection.until,
      ],
    );
    // Bounded: past this many orders the sweeper picks the rest up on its next run.
    for (const orderId of [...new Set(rows.map((row) => row.order_id))].slice(0, 1_000)) {
      const notice: MerchantEventsNotice = { orderId };
      await client.query('SELECT pg_notify($1, $2)', [MERCHANT_EVENTS_CHANNEL, JSON.stringify(notice)]);
    }
    return rows.length;
  });
}

/** An endpoint was enabled again: its pending deliveries may go. */
export async function notifyEndpointEnabled(pool: Pool, endpointId: string): Promise<void> {
  const notice: MerchantEventsNotice = { endpointId };
  await pool.query('SELECT pg_notify($1, $2)', [MERCHANT_EVENTS_CHANNEL, JSON.stringify(notice)]);
}
