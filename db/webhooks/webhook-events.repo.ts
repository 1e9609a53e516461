// The webhook audit log. Every verified event is stored before anything acts on it, one row per
// (gateway, event ID); the outcome column records how far its delivery to the order workflow got.
import type { GatewayName, PaymentEvent } from '../../contracts/order.contract';
import type { Pool } from '../pool';

export type WebhookOutcome = 'received' | 'delivered' | 'order_not_found' | 'ignored' | 'failed';

/** Outcomes after which a redelivered event is only acknowledged: nothing is left to do for it. */
export const FINAL_WEBHOOK_OUTCOMES: readonly WebhookOutcome[] = ['delivered', 'order_not_found', 'ignored'];

export interface NewWebhookEvent {
  gateway: GatewayName;
  eventId: string;
  eventType: string;
  orderId: string | null;
  rawBody: string;
  /** Already stripped of secrets and signatures by the caller. */
  headers: Record<string, string | string[]>;
  /**
   * What the verified payload means for the order, kept so the dead-letter queue can redeliver exactly this later
   * (the signature cannot be checked again). Null when the event does not move an order.
   */
  paymentEvent: PaymentEvent | null;
}

export interface StoredWebhookEvent {
  id: number;
  outcome: WebhookOutcome;
  deliveryAttempts: number;
  /** False when the gateway sent this event before: the stored row is the first delivery's. */
  firstSeen: boolean;
}

interface StoredRow {
  id: number;
  outcome: WebhookOutcome;
  delivery_attempts: number;
}

export async function storeWebhookEvent(pool: Pool, event: NewWebhookEvent): Promise<StoredWebhookEvent> {
  const inserted = await pool.query<StoredRow>(
    `INSERT INTO webhook_events (gateway, event_id, event_type, order_id, raw_body, headers, payment_event)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (gateway, event_id) DO NOTHING
     RETURNING id, outcome, delivery_attempts`,
    [
      event.gateway,
      event.eventId,
      event.eventType,
      event.orderId,
      event.rawBody,
      JSON.stringify(event.headers),
      event.paymentEvent === null ? null : JSON.stringify(event.paymentEvent),
    ],
  );
  const fresh = inserted.rows[0];
  if (fresh)
    return { id: fresh.id, outcome: fresh.outcome, deliveryAttempts: fresh.delivery_attempts, firstSeen: true };

  const existing = await pool.query<StoredRow>(
    'SELECT id, outcome, delivery_attempts FROM webhook_events WHERE gateway = $1 AND event_id = $2',
    [event.gateway, event.eventId],
  );
  const row = existing.rows[0];
  // The conflicting row cannot vanish: webhook events are never deleted while the API runs.
  if (!row) throw new Error(`webhook event ${event.gateway}/${event.eventId} conflicted but was not found`);
  return { id: row.id, outcome: row.outcome, deliveryAttempts: row.delivery_attempts, firstSeen: false };
}

/**
 * Closes the event with a final outcome. Only a row still waiting for delivery moves, so a concurrent
 * redelivery can never turn `delivered` back into something else. Answers how long after its receipt the row was
 * closed, or undefined when it had already been closed.
 */
export async function recordWebhookOutcome(
  pool: Pool,
  id: number,
  outcome: 'delivered' | 'order_not_found' | 'ignored',
  { attemptedDelivery }: { attemptedDelivery: boolean },
): Promise<{ secondsSinceReceived: number } | undefined> {
  const { rows } = await pool.query<{ seconds: number }>(
    `UPDATE webhook_events
        SET outcome = $2, processed_at = now(), error = NULL, claimed_until = NULL,
            delivery_attempts = delivery_attempts + $3
      WHERE id = $1 AND outcome IN ('received', 'failed')
      RETURNING extract(epoch FROM processed_at - received_at)::float8 AS seconds`,
    [id, outcome, attemptedDelivery ? 1 : 0],
  );
  const row = rows[0];
  return row && { secondsSinceReceived: Number(row.seconds) };
}

/**
 * Whether the order's workflow was already signalled the same capture by another event: signed, with the same
 * payment reference, amount and currency. Stripe reports one payment as both `checkout.session.completed` and
 * `payment_intent.succeeded`, in either order; once the workflow has a capture, another with the same reference
 * changes nothing in it (it is neither a second payment nor a new amount), whichever intent it names.
 */
export async function sameCaptureDelivered(
  pool: Pool,
  { id, orderId, paymentEvent }: { id: number; orderId: string; paymentEvent: PaymentEvent },
): Promise<boolean> {
  const { paymentReference, amountMinor, currency } = paymentEvent;
  if (paymentReference === undefined || amountMinor === undefined || currency === undefined) return false;
  const { rowCount } = await pool.query(
    `SELECT 1 FROM webhook_events
      WHERE order_id = $1 AND id <> $2 AND outcome = 'delivered'
        AND payment_event->>'kind' = 'captured' AND payment_event->>'verified' = 'true'
        AND payment_event->>'paymentReference' = $3
        AND payment_event->>'amountMinor' = $4 AND payment_event->>'currency' = $5
      LIMIT 1`,
    [orderId, id, paymentReference, String(amountMinor), currency],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Counts a delivery that did not get through and releases its claim. A `received` row stays for the sweeper, which
 * backs off from last_attempt_at; a `failed` one goes to the dead-letter queue for an operator.
 */
export async function recordWebhookDeliveryFailure(
  pool: Pool,
  id: number,
  failure: { outcome: 'received' | 'failed'; error: string },
): Promise<void> {
  await pool.query(
    `UPDATE webhook_events
        SET outcome = $2, error = $3, delivery_attempts = delivery_attempts + 1, claimed_until = NULL,
            last_attempt_at = now()
      WHERE id = $1 AND outcome IN ('received', 'failed')`,
    [id, failure.outcome, failure.error],
  );
}

/** Longer than any signal call (5s deadline) plus its bookkeeping; a holder that died loses the claim after this. */
const DELIVERY_CLAIM_SECONDS = 30;

export type DeliveryClaim =
  | { claimed: true }
  /** The event already reached a final outcome: there is nothing left to deliver. */
  | { claimed: false; reason: 'already_processed'; outcome: WebhookOutcome }
  /** Another delivery of this event is in flight right now. */
  | { claimed: false; reason: 'in_progress' };

/**
 * Takes the right to deliver one event with a conditional UPDATE: of any number of concurrent deliveries of the
 * same event (redeliveries, operator retries, several API instances), exactly one gets the row.
 */
export async function claimWebhookDelivery(pool: Pool, id: number): Promise<DeliveryClaim> {
  const claimed = await pool.query(
    `UPDATE webhook_events
        SET claimed_until = now() + make_interval(secs => $2)
      WHERE id = $1 AND outcome IN ('received', 'failed')
        AND (claimed_until IS NULL OR claimed_until <= now())
      RETURNING id`,
    [id, DELIVERY_CLAIM_SECONDS],
  );
  if (claimed.rowCount === 1) return { claimed: true };
  const { rows } = await pool.query<{ outcome: WebhookOutcome }>('SELECT outcome FROM webhook_events WHERE id = $1', [
    id,
  ]);
  const outcome = rows[0]?.outcome;
  if (outcome && FINAL_WEBHOOK_OUTCOMES.includes(outcome)) {
    return { claimed: false, reason: 'already_processed', outcome };
  }
  return { claimed: false, reason: 'in_progress' };
}

/** A stored event still waiting for delivery, as the sweeper reads it. */
export interface UndeliveredWebhookEvent {
  id: number;
  gateway: GatewayName;
  eventId: string;
  eventType: string;
  orderId: string | null;
  paymentEvent: PaymentEvent | null;
}

export interface DueDeliveryFilter {
  /** Younger rows belong to the delivery queue of the API that stored them, which is surely still on them. */
  olderThanMs: number;
  /** After a failed delivery a row waits this long, doubled per failed attempt up to retryMaxMs. */
  retryInitialMs: number;
  retryMaxMs: number;
  limit: number;
}

/**
 * The rows waiting for delivery that are due: `received`, unclaimed (or their holder's claim lapsed), and past the
 * backoff of their failed attempts; oldest first, so events reach their orders in the order they came. Nothing is
 * claimed here: each delivery claims its row (claimWebhookDelivery), so when several API replicas read the same rows
 * exactly one of them delivers each.
 */
export async function listDueWebhookDeliveries(
  pool: Pool,
  filter: DueDeliveryFilter,
): Promise<UndeliveredWebhookEvent[]> {
  const { rows } = await pool.query<{
    id: string;
    gateway: GatewayName;
    event_id: string;
    event_type: string;
    order_id: string | null;
    payment_event: PaymentEvent | null;
  }>(
    `SELECT id, gateway, event_id, event_type, order_id, payment_event
       FROM webhook_events
      WHERE outcome = 'received'
        AND received_at < now() - make_interval(secs => $1::double precision / 1000)
        AND (claimed_until IS NULL OR claimed_until <= now())
        AND (last_attempt_at IS NULL
             OR last_attempt_at + make_interval(secs => least(
                  $3::double precision,
                  $2::double precision * power(2, least(greatest(delivery_attempts - 1, 0), 30))
                ) / 1000) <= now())
      ORDER BY received_at, id
      LIMIT $4`,
    [filter.olderThanMs, filter.retryInitialMs, filter.retryMaxMs, filter.limit],
  );
  return rows.map((row) => ({
    id: Number(row.id),
    gateway: row.gateway,
    eventId: row.event_id,
    eventType: row.event_type,
    orderId: row.order_id,
    paymentEvent: row.payment_event,
  }));
}

/** How many stored events wait for delivery, and how long the oldest has waited (0 when none). */
export async function measureWebhookBacklog(pool: Pool): Promise<{ count: number; oldestAgeSeconds: number }> {
  const { rows } = await pool.query<{ count: string; oldest: number | null }>(
    `SELECT count(*) AS count, extract(epoch FROM now() - min(received_at))::float8 AS oldest
       FROM webhook_events WHERE outcome = 'received'`,
  );
  return { count: Number(rows[0]?.count ?? 0), oldestAgeSeconds: Math.max(0, Number(rows[0]?.oldest ?? 0)) };
}

/** One stored event as operators see it: no payload or headers, which can carry customer data. */
export interface WebhookEventSummary {
  id: number;
  gateway: GatewayName;
  eventId: string;
  eventType: string;
  orderId: string | null;
  outcome: WebhookOutcome;
  error: string | null;
  deliveryAttempts: number;
  receivedAt: string;
  processedAt: string | null;
}

export interface StoredWebhookDelivery extends WebhookEventSummary {
  paymentEvent: PaymentEvent | null;
}

interface SummaryRow {
  id: number;
  gateway: GatewayName;
  event_id: string;
  event_type: string;
  order_id: string | null;
  outcome: WebhookOutcome;
  error: string | null;
  delivery_attempts: number;
  received_at: Date;
  processed_at: Date | null;
}

const SUMMARY_COLUMNS = `id, gateway, event_id, event_type, order_id, outcome, error, delivery_attempts, received_at,
  processed_at`;

function toSummary(row: SummaryRow): WebhookEventSummary {
  return {
    id: Number(row.id),
    gateway: row.gateway,
    eventId: row.event_id,
    eventType: row.event_type,
    orderId: row.order_id,
    outcome: row.outcome,
    error: row.error,
    deliveryAttempts: row.delivery_attempts,
    receivedAt: row.received_at.toISOString(),
    processedAt: row.processed_at?.toISOString() ?? null,
  };
}

export async function findWebhookDelivery(pool: Pool, id: number): Promise<StoredWebhookDelivery | undefined> {
  const { rows } = await pool.query<SummaryRow & { payment_event: PaymentEvent | null }>(
    `SELECT ${SUMMARY_COLUMNS}, payment_event FROM webhook_events WHERE id = $1`,
    [id],
  );
  const row = rows[0];
  return row && { ...toSummary(row), paymentEvent: row.payment_event };
}

export async function findWebhookEventSummary(pool: Pool, id: number): Promise<WebhookEventSummary | undefined> {
  const { rows } = await pool.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM webhook_events WHERE id = $1`, [id]);
  const row = rows[0];
  return row && toSummary(row);
}

/**
 * The dead-letter queue: events whose delivery failed, and events still `received` after `stuckAfterMs` (neither
 * the delivery queue nor the sweeper has got them through yet, typically while Temporal is down). Oldest first, in
 * pages after `afterId`.
 */
export async function listUndeliveredWebhookEvents(
  pool: Pool,
  filter: { stuckAfterMs: number; gateway?: GatewayName; afterId?: number; limit: number },
): Promise<WebhookEventSummary[]> {
  const { rows } = await pool.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS}
       FROM webhook_events
      WHERE (outcome = 'failed'
             OR (outcome = 'received' AND received_at < now() - make_interval(secs => $1::double precision / 1000)))
        AND ($2::text IS NULL OR gateway = $2)
        AND id > $3
      ORDER BY id
      LIMIT $4`,
    [filter.stuckAfterMs, filter.gateway ?? null, filter.afterId ?? 0, filter.limit],
  );
  return rows.map(toSummary);
}
