// SQL for refunds, keyed by our deterministic refund ID (also the gateway idempotency key).
import type { OrderStatus } from '../../contracts/order.contract';
import { recordRefundAnnouncement } from '../merchant-events/merchant-events.repo';
import type { Pool, PoolClient } from '../pool';

/**
 * requested: row written, gateway not yet known to have it; pending: accepted, not settled; awaiting_manual: the
 * gateway has no refund API and an operator must refund and confirm it; then final.
 */
export type RefundState = 'requested' | 'pending' | 'awaiting_manual' | 'succeeded' | 'failed';
/** States an operator's confirmation or a gateway answer may still move. */
const OPEN_REFUND_STATES: readonly RefundState[] = ['requested', 'pending', 'awaiting_manual'];
/** Refunds that hold money against a capture: every state but failed (an open one may still go through). */
export const LIVE_REFUND_STATES: readonly RefundState[] = [...OPEN_REFUND_STATES, 'succeeded'];

export interface NewRefund {
  refundId: string;
  orderId: string;
  amountMinor: number;
  currency: string;
  reason: string;
  /** The payment the refund is made against (absent: the order's own payment, whose reference is not known). */
  paymentReference?: string;
  /** The request the refund answers (`admin:<Idempotency-Key>`, or the refund ID for the workflow's own refunds). */
  requestId?: string;
}

export interface RefundRow extends Omit<NewRefund, 'paymentReference' | 'requestId'> {
  state: RefundState;
  /**
   * The gateway's own reference, as its settlement data shows it: Stripe's refund ID, Khalti's transaction_id of
   * the refunded payment, eSewa's reference as the operator confirmed it (null while the manual refund waits).
   */
  gatewayRefundId: string | null;
  paymentReference: string | null;
  manualReference: string | null;
  confirmedBy: string | null;
  /** Null until the first gateway call was about to be made: the gateway has certainly never seen this refund. */
  sentToGatewayAt: Date | null;
  /** When the gateway first answered 'pending'. */
  pendingSince: Date | null;
}

/** Inserts the refund in state 'requested' unless the refund ID exists; true when this call inserted it. */
export async function insertRefundIfAbsent(db: Pool | PoolClient, refund: NewRefund): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO refunds (refund_id, order_id, amount_minor, currency, reason, state, payment_reference, request_id)
     VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7)
     ON CONFLICT (refund_id) DO NOTHING`,
    [
      refund.refundId,
      refund.orderId,
      refund.amountMinor,
      refund.currency,
      refund.reason,
      refund.paymentReference ?? null,
      refund.requestId ?? null,
    ],
  );
  return result.rowCount === 1;
}

/** What a refund is checked against, read under the order's row lock held until the transaction ends. */
export interface OrderLedger {
  status: OrderStatus;
  currency: string;
  intentId: string | null;
  paymentReference: string | null;
  capturedAmountMinor: number;
  refundedAmountMinor: number;
  needsAttention: boolean;
}

/**
 * Locks the order row (SELECT … FOR UPDATE) and reads its capture. Every refund of the order takes this lock before
 * it checks the sum, so two refunds of one order cannot both pass the check on the same money.
 */
export async function lockOrderLedger(client: PoolClient, orderId: string): Promise<OrderLedger | undefined> {
  const result = await client.query<{
    status: OrderStatus;
    currency: string;
    intent_id: string | null;
    payment_reference: string | null;
    captured_amount_minor: number;
    refunded_amount_minor: number;
    needs_attention: boolean;
  }>(
    `SELECT status, currency, intent_id, payment_reference, captured_amount_minor, refunded_amount_minor,
            needs_attention
       FROM orders WHERE order_id = $1 FOR UPDATE`,
    [orderId],
  );
  const row = result.rows[0];
  return (
    row && {
      status: row.status,
      currency: row.currency,
      intentId: row.intent_id,
      paymentReference: row.payment_reference,
      capturedAmountMinor: row.captured_amount_minor,
      refundedAmountMinor: row.refunded_amount_minor,
      needsAttention: row.needs_attention,
    }
  );
}

/**
 * Records a capture the order row does not know yet (a payment after the order closed unpaid), so the ledger has
 * something to check refunds against. Only fills what is still empty: a recorded capture is never rewritten.
 */
export async function recordLateCapture(
  client: PoolClient,
  orderId: string,
  capture: { amountMinor: number; paymentReference?: string },
): Promise<void> {
  await client.query(
    `UPDATE orders SET captured_amount_minor = $2, payment_reference = COALESCE(payment_reference, $3),
                       updated_at = now()
      WHERE order_id = $1 AND captured_amount_minor = 0`,
    [orderId, capture.amountMinor, capture.paymentReference ?? null],
  );
}

/**
 * The sum of the order's refunds against one payment, other than `exceptRefundId`, in the given states.
 * `ownPayment`: the order's own capture, whose refunds may carry no reference (recorded before it was known).
 */
export async function sumRefundsOfPayment(
  db: Pool | PoolClient,
  query: {
    orderId: string;
    paymentReference: string | null;
    ownPayment: boolean;
    exceptRefundId: string;
    states: readonly RefundState[];
  },
): Promise<number> {
  const result = await db.query<{ total: number }>(
    `SELECT COALESCE(sum(amount_minor), 0)::bigint AS total FROM refunds
      WHERE order_id = $1 AND refund_id <> $2 AND state = ANY($3::text[])
        AND (payment_reference = $4 OR ($5 AND payment_reference IS NULL))`,
    [query.orderId, query.exceptRefundId, query.states, query.paymentReference, query.ownPayment],
  );
  return Number(result.rows[0]?.total ?? 0);
}

/**
 * Locks the refund row, if there is one, without waiting: while one attempt talks to the gateway, another attempt of
 * the same refund fails at once with SQLSTATE 55P03 (lock_not_available, retryable) instead of queueing behind it.
 */
export async function lockRefundNoWait(client: PoolClient, refundId: string): Promise<void> {
  await client.query('SELECT 1 FROM refunds WHERE refund_id = $1 FOR UPDATE NOWAIT', [refundId]);
}

/** Marks the refund as about to reach the gateway; from then on a retry must assume the gateway may have it. */
export async function markSentToGateway(db: Pool | PoolClient, refundId: string, at: Date): Promise<void> {
  await db.query('UPDATE refunds SET sent_to_gateway_at = COALESCE(sent_to_gateway_at, $2) WHERE refund_id = $1', [
    refundId,
    at,
  ]);
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
    payment_reference: string | null;
    manual_reference: string | null;
    confirmed_by: string | null;
    sent_to_gateway_at: Date | null;
    pending_since: Date | null;
  }>(
    `SELECT refund_id, order_id, amount_minor, currency, reason, state, gateway_refund_id, payment_reference,
            manual_reference, confirmed_by, sent_to_gateway_at, pending_since
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
      paymentReference: row.payment_reference,
      manualReference: row.manual_reference,
      confirmedBy: row.confirmed_by,
      sentToGatewayAt: row.sent_to_gateway_at,
      pendingSince: row.pending_since,
    }
  );
}

/**
 * Stores what the gateway said about the refund; callers pass only states the gateway reported. Returns the state
 * the row had before, so a caller can tell a new state from a retry hearing the same answer again. A final state is
 * never overwritten, so a retried call cannot turn a confirmed manual refund back into a task. A null
 * gatewayRefundId (a manual refund not yet made) keeps what the row holds; `at` starts pending_since once.
 */
export async function updateRefundState(
  client: PoolClient,
  refundId: string,
  update: { state: Exclude<RefundState, 'requested'>; gatewayRefundId: string | null; at?: Date },
): Promise<RefundState | undefined> {
  const result = await client.query<{ previous_state: RefundState }>(
    // The locked sub-select reads the row as it was; a CTE would not (it sees nothing once the row is updated).
    `UPDATE refunds
        SET state = CASE WHEN previous.state = ANY($4::text[]) THEN $2 ELSE refunds.state END,
            gateway_refund_id = CASE WHEN previous.state = ANY($4::text[])
                                     THEN COALESCE($3, refunds.gateway_refund_id)
                                     ELSE refunds.gateway_refund_id END,
            pending_since = CASE WHEN previous.state = ANY($4::text[]) AND $2 = 'pending'
                                 THEN COALESCE(refunds.pending_since, $5::timestamptz)
                                 ELSE refunds.pending_since END,
            updated_at = now()
     FROM (SELECT refund_id, state FROM refunds WHERE refund_id = $1 FOR UPDATE) AS previous
     WHERE refunds.refund_id = previous.refund_id
     RETURNING previous.state AS previous_state`,
    [refundId, update.state, update.gatewayRefundId, OPEN_REFUND_STATES, update.at ?? new Date()],
  );
  const previous = result.rows[0]?.previous_state;
  // The merchant hears of a refund once, when it first becomes final.
  if (previous !== undefined && OPEN_REFUND_STATES.includes(previous) && isFinal(update.state)) {
    await recordRefundAnnouncement(client, refundId);
  }
  return previous;
}

function isFinal(state: RefundState): boolean {
  return state === 'succeeded' || state === 'failed';
}

export interface ManualRefundConfirmation {
  refundId: string;
  reference: string;
  note?: string;
  actor: string;
  at: string | Date;
}

/**
 * Marks a manual refund as made, with the operator's reference. Only an `awaiting_manual` row moves; true when this
 * call moved it (false for a repeated confirmation). The operator's reference is the gateway's (eSewa's) own
 * reference for the refund, so it also becomes gateway_refund_id, the column reconciliation matches on.
 */
export async function confirmManualRefund(
  client: PoolClient,
  confirmation: ManualRefundConfirmation,
): Promise<boolean> {
  const result = await client.query(
    `UPDATE refunds
        SET state = 'succeeded', manual_reference = $2, gateway_refund_id = $2, manual_note = $3, confirmed_by = $4, confirmed_at = $5,
            updated_at = now()
      WHERE refund_id = $1 AND state = 'awaiting_manual'`,
    [confirmation.refundId, confirmation.reference, confirmation.note ?? null, confirmation.actor, confirmation.at],
  );
  if (result.rowCount !== 1) return false;
  await recordRefundAnnouncement(client, confirmation.refundId);
  return true;
}

/** How many refunds are in each of `states` (the manual-refund gauge); a state no row holds (yet) counts 0. */
export async function countRefundsInStates(
  db: Pool | PoolClient,
  states: readonly string[],
): Promise<Record<string, number>> {
  const result = await db.query<{ state: string; count: number }>(
    'SELECT state, count(*)::int AS count FROM refunds WHERE state = ANY($1) GROUP BY state',
    [states],
  );
  const counts = Object.fromEntries(states.map((state) => [state, 0]));
  for (const row of result.rows) counts[row.state] = row.count;
  return counts;
}

/** The refund an earlier request of the order got (the order workflow records the request with each refund). */
export async function findRefundOfRequest(
  db: Pool | PoolClient,
  orderId: string,
  requestId: string,
): Promise<RefundRow | undefined> {
  const result = await db.query<{ refund_id: string }>(
    'SELECT refund_id FROM refunds WHERE order_id = $1 AND request_id = $2 ORDER BY created_at LIMIT 1',
    [orderId, requestId],
  );
  const refundId = result.rows[0]?.refund_id;
  return refundId === undefined ? undefined : findRefund(db, refundId);
}
