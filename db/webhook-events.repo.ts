// The webhook audit log. Every verified event is stored before anything acts on it, one row per
// (gateway, event ID); the outcome column records how far its delivery to the order workflow got.
import type { GatewayName } from '../contracts/order.contract';
import type { Pool } from './pool';

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
    `INSERT INTO webhook_events (gateway, event_id, event_type, order_id, raw_body, headers)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (gateway, event_id) DO NOTHING
     RETURNING id, outcome, delivery_attempts`,
    [event.gateway, event.eventId, event.eventType, event.orderId, event.rawBody, JSON.stringify(event.headers)],
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
        SET outcome = $2, processed_at = now(), error = NULL,
            delivery_attempts = delivery_attempts + $3
      WHERE id = $1 AND outcome IN ('received', 'failed')`,
    [id, outcome, attemptedDelivery ? 1 : 0],
  );
}

/** Counts a delivery that did not get through; the row stays open so the gateway's retry delivers it. */
export async function recordWebhookDeliveryFailure(
  pool: Pool,
  id: number,
  failure: { outcome: 'received' | 'failed'; error: string },
): Promise<void> {
  await pool.query(
    `UPDATE webhook_events
        SET outcome = $2, error = $3, delivery_attempts = delivery_attempts + 1
      WHERE id = $1 AND outcome IN ('received', 'failed')`,
    [id, failure.outcome, failure.error],
  );
}
