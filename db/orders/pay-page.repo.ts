// What the order's pay link (GET /pay/:orderId) shows: the order, the gateways its payer may choose from, and its
// payment attempts, read in one statement so they are one snapshot. Only what a payer may see: no description,
// customer, return URL or payment reference.
import type { GatewayName, OrderStatus, PaymentAttemptStatus } from '../../contracts/order.contract';
import type { Pool } from '../pool';

export interface PayPageAttempt {
  number: number;
  gateway: GatewayName;
  intentId: string;
  paymentUrl: string | null;
  status: PaymentAttemptStatus;
  failureReason: string | null;
  declineCode: string | null;
}

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
  attempts: JsonAttempt[];
}

interface JsonAttempt {
  attempt_number: number;
  gateway: GatewayName;
  intent_id: string;
  payment_url: string | null;
  status: PaymentAttemptStatus;
  failure_reason: string | null;
  decline_code: string | null;
}

export async function findPayPageOrder(pool: Pool, orderId: string): Promise<PayPageOrder | undefined> {
  const { rows } = await pool.query<PayPageRow>(
    `SELECT o.order_id, o.status, o.amount_minor, o.currency, o.gateway, o.allowed_gateways, o.expires_at,
            o.intent_id, o.payment_url,
            COALESCE((SELECT json_agg(json_build_object(
                               'attempt_number', a.attempt_number, 'gateway', a.gateway, 'intent_id', a.intent_id,
                               'payment_url', a.payment_url, 'status', a.status,
                               'failure_reason', a.failure_reason, 'decline_code', a.decline_code)
                               ORDER BY a.attempt_number)
                        FROM payment_attempts a WHERE a.order_id = o.order_id), '[]'::json) AS attempts
       FROM orders o WHERE o.order_id = $1`,
    [orderId],
  );
  const row = rows[0];
  if (!row) return undefined;
  const attempts: PayPageAttempt[] = row.attempts.map((attempt) => ({
    number: attempt.attempt_number,
    gateway: attempt.gateway,
    intentId: attempt.intent_id,
    paymentUrl: attempt.payment_url,
    status: attempt.status,
    failureReason: attempt.failure_reason,
    declineCode: attempt.decline_code,
  }));
  if (attempts.length === 0 && row.intent_id !== null && row.status === 'AWAITING_PAYMENT') {
    attempts.push({
      number: 1,
      gateway: row.gateway,
      intentId: row.intent_id,
      paymentUrl: row.payment_url,
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
