// The admin audit log: one row per admin action, with the operator, the target and the outcome.
import type { Pool } from '../pool';

export interface AdminActionRecord {
  actor: string;
  /** A stable verb such as `order.refund` or `reconciliation.trigger`. */
  action: string;
  /** What it acted on: an order ID, a webhook event ID, a run ID. */
  target?: string;
  requestId: string;
  idempotencyKey?: string;
  /** Request parameters worth keeping; never secrets or customer contact data. */
  details?: Record<string, unknown>;
  /** `succeeded`, `rejected`, or an error code. */
  outcome: string;
}

export interface StoredAdminAction extends AdminActionRecord {
  id: number;
  createdAt: string;
}

export async function recordAdminAction(pool: Pool, record: AdminActionRecord): Promise<void> {
  await pool.query(
    `INSERT INTO admin_actions (actor, action, target, request_id, idempotency_key, details, outcome)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      record.actor,
      record.action,
      record.target ?? null,
      record.requestId,
      record.idempotencyKey ?? null,
      JSON.stringify(record.details ?? {}),
      record.outcome,
    ],
  );
}

interface AdminActionRow {
  id: number;
  actor: string;
  action: string;
  target: string | null;
  request_id: string;
  idempotency_key: string | null;
  details: Record<string, unknown>;
  outcome: string;
  created_at: Date;
}

/** Newest first; `target` narrows to one order, event or run. */
export async function listAdminActions(
  pool: Pool,
  filter: { target?: string; limit: number },
): Promise<StoredAdminAction[]> {
  const result = await pool.query<AdminActionRow>(
    `SELECT id, actor, action, target, request_id, idempotency_key, details, outcome, created_at
       FROM admin_actions
      WHERE ($1::text IS NULL OR target = $1)
      ORDER BY id DESC
      LIMIT $2`,
    [filter.target ?? null, filter.limit],
  );
  return result.rows.map((row) => ({
    id: row.id,
    actor: row.actor,
    action: row.action,
    ...(row.target === null ? {} : { target: row.target }),
    requestId: row.request_id,
    ...(row.idempotency_key === null ? {} : { idempotencyKey: row.idempotency_key }),
    details: row.details,
    outcome: row.outcome,
    createdAt: row.created_at.toISOString(),
  }));
}
