// The public face of an order, for the payer's browser: no customer, description, return URL or refunds.
import type { Pool } from '../pool';

export interface PublicOrderStatus {
  orderId: string;
  status: string;
  amountMinor: number;
  currency: string;
  expiresAt: string;
}

export async function findPublicOrderStatus(pool: Pool, orderId: string): Promise<PublicOrderStatus | undefined> {
  const result = await pool.query<{
    order_id: string;
    status: string;
    amount_minor: number;
    currency: string;
    expires_at: Date;
  }>('SELECT order_id, status, amount_minor, currency, expires_at FROM orders WHERE order_id = $1', [orderId]);
  const row = result.rows[0];
  return row
    ? {
        orderId: row.order_id,
        status: row.status,
        amountMinor: row.amount_minor,
        currency: row.currency,
        expiresAt: row.expires_at.toISOString(),
      }
    : undefined;
}
