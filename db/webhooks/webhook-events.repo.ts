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
 * redelivery can never turn `delivered` back into something else.
 */
export async function recordWebhookOutcome(
  pool: Pool,
  id: number,
  outcome: 'delivered' | 'order_not_found' | 'ignored',
  { attemptedDelivery }: { attemptedDelivery: boolean },
): Promise<void> {
  await pool.query(
    `UPDATE webhook_events
        SET outcome = $2, processed_at = now(), error = NULL, claimed_until = NULL,
            delivery_attempts = delivery_attempts + $3
      WHERE id = $1 AND outcome IN ('received', 'failed')`,
    [id, outcome, attemptedDelivery ? 1 : 0],
  );
}

/**
 * Counts a delivery that did not get through and releases its claim; the row stays open so the gateway's retry
 * (or an operator's, from the dead-letter queue) delivers it.
 */
export async function recordWebhookDeliveryFailure(
  pool: Pool,
  id: number,
  failure: { outcome: 'received' | 'failed'; error: string },
): Promise<void> {
  await pool.query(
    `UPDATE webhook_events
        SET outcome = $2, error = $3, delivery_attempts = delivery_attempts + 1, claimed_until = NULL
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
 * The dead-letter queue: events whose delivery failed, and events still `received` after `stuckAfterMs` (the
 * delivery was cut short and the gateway did not come back). Oldest first, in pages after `afterId`.
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
