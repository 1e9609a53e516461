// SQL for payment_attempts: one row per intent created at a gateway.
import type { GatewayName } from '../../contracts/order.contract';
import type { Pool, PoolClient } from '../pool';

export interface PaymentAttempt {
  orderId: string;
  gateway: GatewayName;
  intentId: string;
  paymentUrl: string;
}

/**
 * Records the intent unless the order already has one at this gateway (or the intent is recorded): a retried
 * activity gets the same intent back from the gateway and must not add a row. True when this call inserted it.
 */
export async function insertPaymentAttemptIfAbsent(db: Pool | PoolClient, attempt: PaymentAttempt): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO payment_attempts (order_id, gateway, intent_id, payment_url) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`,
    [attempt.orderId, attempt.gateway, attempt.intentId, attempt.paymentUrl],
  );
  return result.rowCount === 1;
}

export async function findPaymentAttempt(
  db: Pool | PoolClient,
  orderId: string,
  gateway: GatewayName,
): Promise<PaymentAttempt | undefined> {
  const result = await db.query<{ intent_id: string; payment_url: string | null }>(
    'SELECT intent_id, payment_url FROM payment_attempts WHERE order_id = $1 AND gateway = $2',
    [orderId, gateway],
  );
  const row = result.rows[0];
  return row && { orderId, gateway, intentId: row.intent_id, paymentUrl: row.payment_url ?? '' };
}
