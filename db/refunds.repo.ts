// SQL for refunds, keyed by our deterministic refund ID (also the gateway idempotency key).
import type { Pool, PoolClient } from './pool';

/**
 * requested: row written, gateway not yet known to have it; pending: accepted, not settled; awaiting_manual: the
 * gateway has no refund API and an operator must refund and confirm it; then final.
 */
export type RefundState = 'requested' | 'pending' | 'awaiting_manual' | 'succeeded' | 'failed';
/** States an operator's confirmation or a gateway answer may still move. */
const OPEN_REFUND_STATES: readonly RefundState[] = ['requested', 'pending', 'awaiting_manual'];

export interface NewRefund {
  refundId: string;
  orderId: string;
  amountMinor: number;
  currency: string;
  reason: string;
}

export interface RefundRow extends NewRefund {
  state: RefundState;
  gatewayRefundId: string | null;
  manualReference: string | null;
  confirmedBy: string | null;
}

/** Inserts the refund in state 'requested' unless the refund ID exists; true when this call inserted it. */
export async function insertRefundIfAbsent(db: Pool | PoolClient, refund: NewRefund): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO refunds (refund_id, order_id, amount_minor, currency, reason, state)
     VALUES ($1, $2, $3, $4, $5, 'requested')
     ON CONFLICT (refund_id) DO NOTHING`,
    [refund.refundId, refund.orderId, refund.amountMinor, refund.currency, refund.reason],
  );
  return result.rowCount === 1;
}

export async function findRefund(db: Pool | PoolClient, refundId: string): Promise<RefundRow | undefined> {
  const result = await db.query<{
    refund_id: string;
    order_id: string;
    amount_minor: number;
    currency: string;
    reason: string;
    state: RefundState;
    gateway_refund_id: string | null;
    manual_reference: string | null;
    confirmed_by: string | null;
  }>(
    `SELECT refund_id, order_id, amount_minor, currency, reason, state, gateway_refund_id, manual_reference,
            confirmed_by
     FROM refunds WHERE refund_id = $1`,
    [refundId],
  );
  const row = result.rows[0];
  return (
    row && {
      refundId: row.refund_id,
      orderId: row.order_id,
      amountMinor: row.amount_minor,
      currency: row.currency,
      reason: row.reason,
      state: row.state,
      gatewayRefundId: row.gateway_refund_id,
      manualReference: row.manual_reference,
      confirmedBy: row.confirmed_by,
    }
  );
}

/**
 * Stores what the gateway said about the refund; callers pass only states the gateway reported. Returns the state
 * the row had before, so a caller can tell a new state from a retry hearing the same answer again. A final state is
 * never overwritten, so a retried call cannot turn a confirmed manual refund back into a task.
 */
export async function updateRefundState(
  db: Pool | PoolClient,
  refundId: string,
  update: { state: Exclude<RefundState, 'requested'>; gatewayRefundId: string },
): Promise<RefundState | undefined> {
  const result = await db.query<{ previous_state: RefundState }>(
    // The locked sub-select reads the row as it was; a CTE would not (it sees nothing once the row is updated).
    `UPDATE refunds
        SET state = CASE WHEN previous.state = ANY($4::text[]) THEN $2 ELSE refunds.state END,
            gateway_refund_id = CASE WHEN previous.state = ANY($4::text[]) THEN $3 ELSE refunds.gateway_refund_id END,
            updated_at = now()
     FROM (SELECT refund_id, state FROM refunds WHERE refund_id = $1 FOR UPDATE) AS previous
     WHERE refunds.refund_id = previous.refund_id
     RETURNING previous.state AS previous_state`,
    [refundId, update.state, update.gatewayRefundId, OPEN_REFUND_STATES],
  );
  return result.rows[0]?.previous_state;
}

export interface ManualRefundConfirmation {
  refundId: string;
  reference: string;
  note?: string;
  actor: string;
  at: string | Date;
}

/**
 * Marks a manual refund as made, with the operator's reference. Only an `awaiting_manual` row moves; true when this
 * call moved it (false for a repeated confirmation).
 */
export async function confirmManualRefund(
  db: Pool | PoolClient,
  confirmation: ManualRefundConfirmation,
): Promise<boolean> {
  const result = await db.query(
    `UPDATE refunds
        SET state = 'succeeded', manual_reference = $2, manual_note = $3, confirmed_by = $4, confirmed_at = $5,
            updated_at = now()
      WHERE refund_id = $1 AND state = 'awaiting_manual'`,
    [confirmation.refundId, confirmation.reference, confirmation.note ?? null, confirmation.actor, confirmation.at],
  );
  return result.rowCount === 1;
}

/** How many refunds are in each of `states` (the manual-refund gauge); a state no row holds (yet) counts 0. */
export async function countRefundsInStates(
  db: Pool | PoolClient,
  states: readonly string[],
): Promise<Record<string, number>> {
  const result = await db.query<{ state: string; count: number }>(
    'SELECT state, count(*)::int AS count FROM refunds WHERE state = ANY($1) GROUP BY state',
    [states],
  );
  const counts = Object.fromEntries(states.map((state) => [state, 0]));
  for (const row of result.rows) counts[row.state] = row.count;
  return counts;
}
