// SQL for the orders table and its timeline (order_status_history).
import type { OrderChanges, RecordOrderInput } from '../../activities/orders/order-activity.types';
import type { OrderStatus } from '../../contracts/order.contract';
import { recordOrderAnnouncements } from '../merchant-events/merchant-events.repo';
import type { Pool, PoolClient } from '../pool';

/** Inserts the order in PENDING unless the order ID exists; true when this call inserted it. */
export async function insertOrderIfAbsent(db: Pool | PoolClient, order: RecordOrderInput, at: Date): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO orders (order_id, amount_minor, currency, gateway, status, description, customer, return_url,
                         request_hash, expires_at, created_at, updated_at,
                         fulfilment_mode, fulfilment_timeout_ms, fulfilment_status, allowed_gateways, workflow_run_id)
     VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $8, $9, $10, $10,
             $11, $12, CASE WHEN $11::text IS NULL THEN NULL ELSE 'awaiting_payment' END, $13, $14)
     ON CONFLICT (order_id) DO NOTHING`,
    [
      order.orderId,
      order.amountMinor,
      order.currency,
      order.gateway,
      order.description ?? null,
      order.customer === undefined ? null : JSON.stringify(order.customer),
      order.returnUrl ?? null,
      order.requestHash,
      order.expiresAt,
      at,
      order.fulfilment?.mode ?? null,
      order.fulfilment?.timeoutMs ?? null,
      // NULL: the payer may use only `gateway` (orders from before a choice of gateways existed read the same).
      order.gateways ?? null,
      order.workflowRunId ?? null,
    ],
  );
  return result.rowCount === 1;
}

/**
 * The recorded request hash, current status, expiry and recording workflow run of an order, or undefined when it was
 * never recorded.
 */
export async function findRecordedOrder(
  db: Pool | PoolClient,
  orderId: string,
): Promise<{ requestHash: string; status: OrderStatus; expiresAt: Date; workflowRunId: string | null } | undefined> {
  const result = await db.query<{
    request_hash: string;
    status: OrderStatus;
    expires_at: Date;
    workflow_run_id: string | null;
  }>('SELECT request_hash, status, expires_at, workflow_run_id FROM orders WHERE order_id = $1', [orderId]);
  const row = result.rows[0];
  return (
    row && {
      requestHash: row.request_hash,
      status: row.status,
      expiresAt: row.expires_at,
      workflowRunId: row.workflow_run_id,
    }
  );
}

export interface LockedOrder {
  status: OrderStatus;
  gateway: string;
  createdAt: Date;
}

/** Locks the order row until the transaction ends, so its status cannot move under a transition. */
export async function lockOrder(client: PoolClient, orderId: string): Promise<LockedOrder | undefined> {
  const result = await client.query<{ status: OrderStatus; gateway: string; created_at: Date }>(
    'SELECT status, gateway, created_at FROM orders WHERE order_id = $1 FOR UPDATE',
    [orderId],
  );
  const row = result.rows[0];
  return row && { status: row.status, gateway: row.gateway, createdAt: row.created_at };
}

// `satisfies` makes a field added to OrderChanges fail to compile until it has a column here.
const CHANGE_COLUMNS = {
  gateway: 'gateway',
  intentId: 'intent_id',
  paymentUrl: 'payment_url',
  paymentReference: 'payment_reference',
  capturedAmountMinor: 'captured_amount_minor',
  refundedAmountMinor: 'refunded_amount_minor',
  failureReason: 'failure_reason',
  needsAttention: 'needs_attention',
  paidAt: 'paid_at',
  expiresAt: 'expires_at',
  fulfilmentStatus: 'fulfilment_status',
  fulfilmentDueAt: 'fulfilment_due_at',
  fulfilmentReason: 'fulfilment_reason',
  fulfilmentAnsweredAt: 'fulfilment_answered_at',
} as const satisfies Record<keyof OrderChanges, string>;

export interface StatusUpdate {
  orderId: string;
  from: readonly OrderStatus[];
  to: OrderStatus;
  changes?: OrderChanges;
}

/**
 * Moves the order to `to` with the changes, only while its status is one of `from`. When `to` equals the current
 * status, it updates only if a change differs from the stored value, so re-applying the same absolute values
 * (a retried activity) matches no row. True when a row was updated.
 */
export async function updateOrderStatus(db: Pool | PoolClient, update: StatusUpdate): Promise<boolean> {
  const params: unknown[] = [update.orderId, update.from, update.to];
  const assignments = ['status = $3', 'updated_at = now()'];
  const differences = ['status IS DISTINCT FROM $3'];
  for (const [field, column] of Object.entries(CHANGE_COLUMNS)) {
    const value = update.changes?.[field as keyof OrderChanges];
    if (value === undefined) continue;
    params.push(value);
    // Column names come from the constant map above, never from the caller.
    assignments.push(`${column} = $${params.length}`);
    differences.push(`${column} IS DISTINCT FROM $${params.length}`);
  }
  const result = await db.query(
    `UPDATE orders SET ${assignments.join(', ')}
     WHERE order_id = $1 AND status = ANY($2::text[]) AND (${differences.join(' OR ')})`,
    params,
  );
  return result.rowCount === 1;
}

export interface StatusHistoryEntry {
  orderId: string;
  from: OrderStatus | null;
  to: OrderStatus;
  reason: string;
  at: string | Date;
}

/**
 * Writes a timeline row and records the merchant events the change announces, in the caller's transaction: every
 * change of an order writes exactly one timeline row, so every change reaches the merchant, and none twice (a retried
 * transition that finds the row already moved writes no row).
 */
export async function insertStatusHistory(client: PoolClient, entry: StatusHistoryEntry): Promise<void> {
  await client.query(
    'INSERT INTO order_status_history (order_id, from_status, to_status, reason, at) VALUES ($1, $2, $3, $4, $5)',
    [entry.orderId, entry.from, entry.to, entry.reason, entry.at],
  );
  await recordOrderAnnouncements(client, { orderId: entry.orderId, reason: entry.reason });
}
