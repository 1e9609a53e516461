// What the order's pay link (GET /pay/:orderId) shows: the order, the gateways its payer may choose from, and its
// payment attempts. Only what a payer may see: no description, customer, return URL or payment reference.
import type { GatewayName, OrderStatus } from '../../contracts/order.contract';
import type { Pool } from '../pool';
import { listPaymentAttempts, type RecordedPaymentAttempt } from './payment-attempts.repo';

export type PayPageAttempt = Pick<
  RecordedPaymentAttempt,
  'number' | 'gateway' | 'intentId' | 'paymentUrl' | 'status' | 'failureReason' | 'declineCode'
>;

export interface PayPageOrder {
  orderId: string;
  status: OrderStatus;
  amountMinor: number;
  currency: string;
  /** The order's current gateway (its latest attempt's). */
  gateway: GatewayName;
  /** The gateways a new attempt may use; `[gateway]` when the order named none. */
  allowedGateways: GatewayName[];
  expiresAt: string;
  /**
   * Oldest first. An order recorded before attempts were numbered and whose attempt row is missing shows its own
   * intent as attempt 1, open while the order awaits payment.
   */
  attempts: PayPageAttempt[];
}

interface PayPageRow {
  order_id: string;
  status: OrderStatus;
  amount_minor: number;
  currency: string;
  gateway: GatewayName;
  allowed_gateways: GatewayName[] | null;
  expires_at: Date;
  intent_id: string | null;
  payment_url: string | null;
}

export async function findPayPageOrder(pool: Pool, orderId: string): Promise<PayPageOrder | undefined> {
  const { rows } = await pool.query<PayPageRow>(
    `SELECT order_id, status, amount_minor, currency, gateway, allowed_gateways, expires_at, intent_id, payment_url
       FROM orders WHERE order_id = $1`,
    [orderId],
  );
  const row = rows[0];
  if (!row) return undefined;
  const attempts: PayPageAttempt[] = await listPaymentAttempts(pool, orderId);
  if (attempts.length === 0 && row.intent_id !== null && row.status === 'AWAITING_PAYMENT') {
    attempts.push({
      number: 1,
      gateway: row.gateway,
      intentId: row.intent_id,
      paymentUrl: row.payment_url ?? '',
      status: 'open',
      failureReason: null,
      declineCode: null,
    });
  }
  return {
    orderId: row.order_id,
    status: row.status,
    amountMinor: row.amount_minor,
    currency: row.currency,
    gateway: row.gateway,
    allowedGateways: row.allowed_gateways && row.allowed_gateways.length > 0 ? row.allowed_gateways : [row.gateway],
    expiresAt: row.expires_at.toISOString(),
    attempts,
  };
}
