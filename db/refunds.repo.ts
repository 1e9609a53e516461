// SQL for refunds, keyed by our deterministic refund ID (also the gateway idempotency key).
import type { Pool, PoolClient } from './pool';

/** requested: row written, gateway not yet known to have it; pending: accepted, not settled; then final. */
export type RefundState = 'requested' | 'pending' | 'succeeded' | 'failed';

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
  }>(
    `SELECT refund_id, order_id, amount_minor, currency, reason, state, gateway_refund_id
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
    }
  );
}

/** Stores what the gateway said about the refund; callers pass only states the gateway reported. */
export async function updateRefundState(
  db: Pool | PoolClient,
  refundId: string,
  update: { state: Exclude<RefundState, 'requested'>; gatewayRefundId: string },
): Promise<void> {
  await db.query('UPDATE refunds SET state = $2, gateway_refund_id = $3, updated_at = now() WHERE refund_id = $1', [
    refundId,
    update.state,
    update.gatewayRefundId,
  ]);
}
