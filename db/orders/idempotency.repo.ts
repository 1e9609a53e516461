// Stored HTTP responses keyed by (scope, Idempotency-Key): the same key with the same request replays the
// stored response; the same key with a different request is a conflict the caller must see.
import type { Pool } from '../pool';
import { orderSummaryOf, type OrderSummary, type SummaryRow } from './order-view.repo';

export interface IdempotencyRecord {
  scope: string;
  idempotencyKey: string;
  requestHash: string;
  orderId: string | null;
  responseStatus: number;
  responseBody: unknown;
}

interface IdempotencyRow {
  scope: string;
  idempotency_key: string;
  request_hash: string;
  order_id: string | null;
  response_status: number;
  response_body: unknown;
}

export async function findIdempotencyRecord(
  pool: Pool,
  scope: string,
  idempotencyKey: string,
): Promise<IdempotencyRecord | undefined> {
  const { rows } = await pool.query<IdempotencyRow>(
    `SELECT scope, idempotency_key, request_hash, order_id, response_status, response_body
       FROM idempotency_records
      WHERE scope = $1 AND idempotency_key = $2`,
    [scope, idempotencyKey],
  );
  const row = rows[0];
  return row && recordOf(row);
}

function recordOf(row: IdempotencyRow): IdempotencyRecord {
  return {
    scope: row.scope,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    orderId: row.order_id,
    responseStatus: row.response_status,
    responseBody: row.response_body,
  };
}

type CheckoutRecordsRow = { idempotency: IdempotencyRow | null } & { [K in keyof SummaryRow]: SummaryRow[K] | null };

/**
 * What a checkout reads before it starts anything, in one round trip: the answer stored under its Idempotency-Key
 * and the order's row. Each is undefined when absent; both come from the same snapshot.
 */
export async function findCheckoutRecords(
  pool: Pool,
  { scope, idempotencyKey, orderId }: { scope: string; idempotencyKey: string; orderId: string },
): Promise<{ record: IdempotencyRecord | undefined; order: OrderSummary | undefined }> {
  const { rows } = await pool.query<CheckoutRecordsRow>(
    `SELECT (SELECT to_jsonb(i) FROM idempotency_records i WHERE i.scope = $1 AND i.idempotency_key = $2) AS idempotency,
            o.order_id, o.status, o.request_hash, o.amount_minor, o.currency, o.gateway, o.payment_url, o.expires_at
       FROM (SELECT) AS one
       LEFT JOIN orders o ON o.order_id = $3`,
    [scope, idempotencyKey, orderId],
  );
  const row = rows[0];
  if (!row) throw new Error('the checkout records query returned no row');
  return {
    record: row.idempotency ? recordOf(row.idempotency) : undefined,
    order: row.order_id === null ? undefined : orderSummaryOf(row as SummaryRow),
  };
}

/**
 * First writer wins: a concurrent identical request computed the same response from the same workflow, so
 * losing the race changes nothing. Returns whether this call stored the record.
 */
export async function saveIdempotencyRecord(pool: Pool, record: IdempotencyRecord): Promise<boolean> {
  const { rowCount } = await pool.query(
    `INSERT INTO idempotency_records (scope, idempotency_key, request_hash, order_id, response_status, response_body)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (scope, idempotency_key) DO NOTHING`,
    [
      record.scope,
      record.idempotencyKey,
      record.requestHash,
      record.orderId,
      record.responseStatus,
      JSON.stringify(record.responseBody),
    ],
  );
  return rowCount === 1;
}
