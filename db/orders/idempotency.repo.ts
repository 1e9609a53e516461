// Stored HTTP responses keyed by (scope, Idempotency-Key): the same key with the same request replays the
// stored response; the same key with a different request is a conflict the caller must see.
import type { Pool } from '../pool';

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
  return (
    row && {
      scope: row.scope,
      idempotencyKey: row.idempotency_key,
      requestHash: row.request_hash,
      orderId: row.order_id,
      responseStatus: row.response_status,
      responseBody: row.response_body,
    }
  );
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
