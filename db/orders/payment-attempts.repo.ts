// SQL for payment_attempts: one row per attempt of an order, keyed by (order_id, attempt_number). An attempt is one
// intent at one gateway; a Stripe session that stays open after a decline serves the next attempt too (same intent).
import type { GatewayName, PaymentAttemptState, PaymentAttemptStatus } from '../../contracts/order.contract';
import type { Pool, PoolClient } from '../pool';

/** An intent just created at a gateway for attempt `number` of an order. */
export interface NewPaymentAttempt {
  orderId: string;
  number: number;
  gateway: GatewayName;
  intentId: string;
  paymentUrl: string;
  /** The gateway's own expiry of the intent, when it gives one (Khalti). */
  intentExpiresAt?: Date;
}

/** An attempt as recorded. */
export interface RecordedPaymentAttempt extends PaymentAttemptState {
  orderId: string;
  intentExpiresAt: Date | null;
}

interface AttemptRow {
  order_id: string;
  attempt_number: number;
  gateway: GatewayName;
  intent_id: string;
  payment_url: string | null;
  status: PaymentAttemptStatus;
  failure_reason: string | null;
  decline_code: string | null;
  created_at: Date;
  ended_at: Date | null;
  intent_expires_at: Date | null;
}

const ATTEMPT_COLUMNS = `order_id, attempt_number, gateway, intent_id, payment_url, status, failure_reason, decline_code,
                         created_at, ended_at, intent_expires_at`;

function toAttempt(row: AttemptRow): RecordedPaymentAttempt {
  return {
    orderId: row.order_id,
    number: row.attempt_number,
    gateway: row.gateway,
    intentId: row.intent_id,
    paymentUrl: row.payment_url ?? '',
    status: row.status,
    failureReason: row.failure_reason,
    declineCode: row.decline_code,
    startedAt: row.created_at.toISOString(),
    endedAt: row.ended_at?.toISOString() ?? null,
    intentExpiresAt: row.intent_expires_at,
  };
}

/**
 * Records attempt `number` as open unless that attempt of the order is recorded already (a concurrent run of the
 * same activity inserted first). True when this call inserted it.
 */
export async function insertPaymentAttemptIfAbsent(
  db: Pool | PoolClient,
  attempt: NewPaymentAttempt,
): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO payment_attempts (order_id, attempt_number, gateway, intent_id, payment_url, status, intent_expires_at)
     VALUES ($1, $2, $3, $4, $5, 'open', $6)
     ON CONFLICT (order_id, attempt_number) DO NOTHING`,
    [
      attempt.orderId,
      attempt.number,
      attempt.gateway,
      attempt.intentId,
      attempt.paymentUrl,
      attempt.intentExpiresAt ?? null,
    ],
  );
  return result.rowCount === 1;
}

export async function findPaymentAttempt(
  db: Pool | PoolClient,
  orderId: string,
  number: number,
): Promise<RecordedPaymentAttempt | undefined> {
  const result = await db.query<AttemptRow>(
    `SELECT ${ATTEMPT_COLUMNS} FROM payment_attempts WHERE order_id = $1 AND attempt_number = $2`,
    [orderId, number],
  );
  const row = result.rows[0];
  return row && toAttempt(row);
}

/** Every attempt of the order, oldest first. */
export async function listPaymentAttempts(db: Pool | PoolClient, orderId: string): Promise<RecordedPaymentAttempt[]> {
  const result = await db.query<AttemptRow>(
    `SELECT ${ATTEMPT_COLUMNS} FROM payment_attempts WHERE order_id = $1 ORDER BY attempt_number`,
    [orderId],
  );
  return result.rows.map(toAttempt);
}

export interface AttemptUpsert {
  /** True when this call inserted the row or changed any of its values. */
  changed: boolean;
  /** The attempt's status before this call; undefined when this call inserted it. */
  statusBefore: PaymentAttemptStatus | undefined;
}

/**
 * Writes the attempt as the workflow holds it, by (order, number): inserted when absent (started at `startedAt`),
 * updated only when a value differs, so the same state again (a retried transition) changes no row. The caller holds
 * the order's row lock, so no other transition of the order writes its attempts meanwhile.
 */
export async function upsertPaymentAttempt(
  client: PoolClient,
  orderId: string,
  attempt: PaymentAttemptState,
): Promise<AttemptUpsert> {
  const before = await client.query<{ status: PaymentAttemptStatus }>(
    'SELECT status FROM payment_attempts WHERE order_id = $1 AND attempt_number = $2 FOR UPDATE',
    [orderId, attempt.number],
  );
  const result = await client.query(
    `INSERT INTO payment_attempts AS a (order_id, attempt_number, gateway, intent_id, payment_url, status,
                                       failure_reason, decline_code, created_at, ended_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
     ON CONFLICT (order_id, attempt_number) DO UPDATE
        SET gateway = EXCLUDED.gateway, intent_id = EXCLUDED.intent_id, payment_url = EXCLUDED.payment_url,
            status = EXCLUDED.status, failure_reason = EXCLUDED.failure_reason,
            decline_code = EXCLUDED.decline_code, ended_at = EXCLUDED.ended_at, updated_at = now()
      WHERE (a.gateway, a.intent_id, a.payment_url, a.status, a.failure_reason, a.decline_code, a.ended_at)
            IS DISTINCT FROM (EXCLUDED.gateway, EXCLUDED.intent_id, EXCLUDED.payment_url, EXCLUDED.status,
                              EXCLUDED.failure_reason, EXCLUDED.decline_code, EXCLUDED.ended_at)`,
    [
      orderId,
      attempt.number,
      attempt.gateway,
      attempt.intentId,
      attempt.paymentUrl,
      attempt.status,
      attempt.failureReason,
      attempt.declineCode,
      attempt.startedAt,
      attempt.endedAt,
    ],
  );
  return { changed: result.rowCount === 1, statusBefore: before.rows[0]?.status };
}

/** How many attempts the order has used. */
export async function countPaymentAttempts(db: Pool | PoolClient, orderId: string): Promise<number> {
  const result = await db.query<{ count: string }>('SELECT count(*) FROM payment_attempts WHERE order_id = $1', [
    orderId,
  ]);
  return Number(result.rows[0]?.count ?? 0);
}
