// Read models of an order for the API. The workflow's activities own every write; these are reads only.
// Customer contact data is never selected: nothing the API returns or logs needs it.
import type { FulfilmentStatus, GatewayName, OrderStatus, PaymentAttemptStatus } from '../../contracts/order.contract';
import type { Pool } from '../pool';

/** Just what POST /orders needs to decide between replay, conflict and start. */
export interface OrderSummary {
  orderId: string;
  status: OrderStatus;
  requestHash: string;
  amountMinor: number;
  currency: string;
  gateway: GatewayName;
  paymentUrl: string | null;
  expiresAt: string;
}

export interface OrderTimelineEntry {
  at: string;
  fromStatus: OrderStatus | null;
  status: OrderStatus;
  reason: string;
}

export interface OrderRefundView {
  refundId: string;
  amountMinor: number;
  currency: string;
  reason: string;
  state: string;
  createdAt: string;
  updatedAt: string;
}

export interface PaymentAttemptView {
  number: number;
  gateway: GatewayName;
  status: PaymentAttemptStatus;
  failureReason: string | null;
  declineCode: string | null;
  intentId: string;
  paymentUrl: string | null;
  startedAt: string;
  endedAt: string | null;
  /** The same as startedAt: the name the view had before attempts were numbered. */
  createdAt: string;
}

/** Fulfilment confirmation, for an order that asked for it. */
export interface OrderFulfilmentView {
  mode: 'confirm';
  timeoutMs: number;
  status: FulfilmentStatus;
  dueAt: string | null;
  reason: string | null;
  answeredAt: string | null;
}

export interface OrderView {
  orderId: string;
  status: OrderStatus;
  amountMinor: number;
  currency: string;
  gateway: GatewayName;
  description: string | null;
  intentId: string | null;
  paymentUrl: string | null;
  expiresAt: string;
  capturedAmountMinor: number;
  refundedAmountMinor: number;
  failureReason: string | null;
  needsAttention: boolean;
  paidAt: string | null;
  createdAt: string;
  updatedAt: string;
  refunds: OrderRefundView[];
  attempts: PaymentAttemptView[];
  timeline: OrderTimelineEntry[];
  /** Absent when the order did not ask for fulfilment confirmation. */
  fulfilment?: OrderFulfilmentView;
}

export interface SummaryRow {
  order_id: string;
  status: OrderStatus;
  request_hash: string;
  amount_minor: number;
  currency: string;
  gateway: GatewayName;
  payment_url: string | null;
  expires_at: Date;
}

export async function findOrderSummary(pool: Pool, orderId: string): Promise<OrderSummary | undefined> {
  const { rows } = await pool.query<SummaryRow>(
    `SELECT order_id, status, request_hash, amount_minor, currency, gateway, payment_url, expires_at
       FROM orders WHERE order_id = $1`,
    [orderId],
  );
  const row = rows[0];
  return row && orderSummaryOf(row);
}

export function orderSummaryOf(row: SummaryRow): OrderSummary {
  return {
    orderId: row.order_id,
    status: row.status,
    requestHash: row.request_hash,
    amountMinor: row.amount_minor,
    currency: row.currency,
    gateway: row.gateway,
    paymentUrl: row.payment_url,
    expiresAt: row.expires_at.toISOString(),
  };
}

/** Where the payer goes back to after a wallet's callback, and the status to mention if nowhere. */
export async function findOrderReturn(
  pool: Pool,
  orderId: string,
): Promise<{ status: OrderStatus; returnUrl: string | null } | undefined> {
  const { rows } = await pool.query<{ status: OrderStatus; return_url: string | null }>(
    'SELECT status, return_url FROM orders WHERE order_id = $1',
    [orderId],
  );
  const row = rows[0];
  return row && { status: row.status, returnUrl: row.return_url };
}

/**
 * The intents a wallet callback of `gateway` may name for the order: every attempt's at that gateway (a payer who
 * switched wallets, or came back through the pay link, leaves earlier attempts whose capture must still reach the
 * workflow, which refunds it), and the order's own when the order is at that gateway. Undefined: no such order.
 */
export async function findOrderPaymentIntents(
  pool: Pool,
  orderId: string,
  gateway: GatewayName,
): Promise<{ intentIds: string[] } | undefined> {
  const { rows } = await pool.query<{ intent_ids: string[] }>(
    `SELECT ARRAY(SELECT a.intent_id FROM payment_attempts a WHERE a.order_id = o.order_id AND a.gateway = $2
                   UNION
                  SELECT o.intent_id WHERE o.gateway = $2 AND o.intent_id IS NOT NULL) AS intent_ids
       FROM orders o
      WHERE o.order_id = $1`,
    [orderId, gateway],
  );
  const row = rows[0];
  return row && { intentIds: row.intent_ids };
}

export async function findOrderStatus(pool: Pool, orderId: string): Promise<OrderStatus | undefined> {
  return (await findOrderStanding(pool, orderId))?.status;
}

/** The order's status, and whether its expiry is due by the database's clock (its workflow closes it then). */
export async function findOrderStanding(
  pool: Pool,
  orderId: string,
): Promise<{ status: OrderStatus; expiryDue: boolean } | undefined> {
  const { rows } = await pool.query<{ status: OrderStatus; expiry_due: boolean }>(
    'SELECT status, expires_at <= now() AS expiry_due FROM orders WHERE order_id = $1',
    [orderId],
  );
  const row = rows[0];
  return row && { status: row.status, expiryDue: row.expiry_due };
}

interface ViewRow {
  order_id: string;
  status: OrderStatus;
  amount_minor: number;
  currency: string;
  gateway: GatewayName;
  description: string | null;
  intent_id: string | null;
  payment_url: string | null;
  expires_at: Date;
  captured_amount_minor: number;
  refunded_amount_minor: number;
  failure_reason: string | null;
  needs_attention: boolean;
  paid_at: Date | null;
  created_at: Date;
  updated_at: Date;
  refunds: JsonRefund[];
  attempts: JsonAttempt[];
  timeline: JsonTimelineEntry[];
  fulfilment_mode: 'confirm' | null;
  fulfilment_timeout_ms: number | null;
  fulfilment_status: FulfilmentStatus | null;
  fulfilment_due_at: Date | null;
  fulfilment_reason: string | null;
  fulfilment_answered_at: Date | null;
}

// json_agg renders bigint as a JSON number and timestamptz as text; the mappers below normalise both.
interface JsonRefund {
  refund_id: string;
  amount_minor: number;
  currency: string;
  reason: string;
  state: string;
  created_at: string;
  updated_at: string;
}
interface JsonAttempt {
  attempt_number: number;
  gateway: GatewayName;
  status: PaymentAttemptStatus;
  failure_reason: string | null;
  decline_code: string | null;
  intent_id: string;
  payment_url: string | null;
  created_at: string;
  ended_at: string | null;
}
interface JsonTimelineEntry {
  at: string;
  from_status: OrderStatus | null;
  to_status: OrderStatus;
  reason: string;
}

/** The order with its refunds, attempts and timeline, read in one statement so they are one snapshot. */
export async function findOrderView(pool: Pool, orderId: string): Promise<OrderView | undefined> {
  const { rows } = await pool.query<ViewRow>(
    `SELECT o.order_id, o.status, o.amount_minor, o.currency, o.gateway, o.description, o.intent_id, o.payment_url,
            o.expires_at, o.captured_amount_minor, o.refunded_amount_minor, o.failure_reason, o.needs_attention,
            o.paid_at, o.created_at, o.updated_at, o.fulfilment_mode, o.fulfilment_timeout_ms, o.fulfilment_status,
            o.fulfilment_due_at, o.fulfilment_reason, o.fulfilment_answered_at,
            COALESCE((SELECT json_agg(json_build_object(
                        'refund_id', r.refund_id, 'amount_minor', r.amount_minor, 'currency', r.currency,
                        'reason', r.reason, 'state', r.state, 'created_at', r.created_at, 'updated_at', r.updated_at)
                        ORDER BY r.created_at, r.refund_id)
                        FROM refunds r WHERE r.order_id = o.order_id), '[]') AS refunds,
            COALESCE((SELECT json_agg(json_build_object(
                        'attempt_number', a.attempt_number, 'gateway', a.gateway, 'status', a.status,
                        'failure_reason', a.failure_reason, 'decline_code', a.decline_code,
                        'intent_id', a.intent_id, 'payment_url', a.payment_url, 'created_at', a.created_at,
                        'ended_at', a.ended_at) ORDER BY a.attempt_number)
                        FROM payment_attempts a WHERE a.order_id = o.order_id), '[]') AS attempts,
            COALESCE((SELECT json_agg(json_build_object(
                        'at', h.at, 'from_status', h.from_status, 'to_status', h.to_status, 'reason', h.reason)
                        ORDER BY h.id)
                        FROM order_status_history h WHERE h.order_id = o.order_id), '[]') AS timeline
       FROM orders o
      WHERE o.order_id = $1`,
    [orderId],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    orderId: row.order_id,
    status: row.status,
    amountMinor: row.amount_minor,
    currency: row.currency,
    gateway: row.gateway,
    description: row.description,
    intentId: row.intent_id,
    paymentUrl: row.payment_url,
    expiresAt: row.expires_at.toISOString(),
    capturedAmountMinor: row.captured_amount_minor,
    refundedAmountMinor: row.refunded_amount_minor,
    failureReason: row.failure_reason,
    needsAttention: row.needs_attention,
    paidAt: row.paid_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    refunds: row.refunds.map((refund) => ({
      refundId: refund.refund_id,
      amountMinor: Number(refund.amount_minor),
      currency: refund.currency,
      reason: refund.reason,
      state: refund.state,
      createdAt: isoTimestamp(refund.created_at),
      updatedAt: isoTimestamp(refund.updated_at),
    })),
    attempts: row.attempts.map((attempt) => ({
      number: attempt.attempt_number,
      gateway: attempt.gateway,
      status: attempt.status,
      failureReason: attempt.failure_reason,
      declineCode: attempt.decline_code,
      intentId: attempt.intent_id,
      paymentUrl: attempt.payment_url,
      startedAt: isoTimestamp(attempt.created_at),
      endedAt: attempt.ended_at === null ? null : isoTimestamp(attempt.ended_at),
      createdAt: isoTimestamp(attempt.created_at),
    })),
    timeline: row.timeline.map((entry) => ({
      at: isoTimestamp(entry.at),
      fromStatus: entry.from_status,
      status: entry.to_status,
      reason: entry.reason,
    })),
    ...fulfilmentOf(row),
  };
}

function fulfilmentOf(row: ViewRow): { fulfilment?: OrderFulfilmentView } {
  // The table's check makes mode, timeout and status all set or all NULL.
  if (row.fulfilment_mode === null || row.fulfilment_status === null) return {};
  return {
    fulfilment: {
      mode: row.fulfilment_mode,
      timeoutMs: row.fulfilment_timeout_ms ?? 0,
      status: row.fulfilment_status,
      dueAt: row.fulfilment_due_at?.toISOString() ?? null,
      reason: row.fulfilment_reason,
      answeredAt: row.fulfilment_answered_at?.toISOString() ?? null,
    },
  };
}

function isoTimestamp(text: string): string {
  return new Date(text).toISOString();
}

/** One row of an operator's order list: no customer data, no timeline. */
export interface OrderListItem {
  orderId: string;
  status: OrderStatus;
  gateway: GatewayName;
  amountMinor: number;
  currency: string;
  capturedAmountMinor: number;
  refundedAmountMinor: number;
  needsAttention: boolean;
  failureReason: string | null;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
}

export interface OrderListFilter {
  status?: OrderStatus;
  gateway?: GatewayName;
  /** Only orders created more than this long ago. */
  olderThanMs?: number;
  needsAttention?: boolean;
  /** Keyset position: the last row of the previous page. */
  after?: OrderListPosition;
  limit: number;
}

/** created_at at full microsecond precision (a JS Date would drop the microseconds and skip or repeat rows). */
export interface OrderListPosition {
  createdAt: string;
  orderId: string;
}

interface ListRow {
  order_id: string;
  status: OrderStatus;
  gateway: GatewayName;
  amount_minor: number;
  currency: string;
  captured_amount_minor: number;
  refunded_amount_minor: number;
  needs_attention: boolean;
  failure_reason: string | null;
  expires_at: Date;
  created_at: Date;
  updated_at: Date;
  created_at_exact: string;
}

/**
 * Oldest first, so the orders that have waited longest come first, with keyset pagination on
 * (created_at, order_id): the (status, created_at) and (gateway, created_at) indexes serve the common filters.
 */
export async function listOrders(
  pool: Pool,
  filter: OrderListFilter,
): Promise<{ orders: OrderListItem[]; last?: OrderListPosition }> {
  const { rows } = await pool.query<ListRow>(
    `SELECT order_id, status, gateway, amount_minor, currency, captured_amount_minor, refunded_amount_minor,
            needs_attention, failure_reason, expires_at, created_at, updated_at,
            to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_exact
       FROM orders
      WHERE ($1::text IS NULL OR status = $1)
        AND ($2::text IS NULL OR gateway = $2)
        AND ($3::double precision IS NULL OR created_at < now() - make_interval(secs => $3::double precision / 1000))
        AND ($4::boolean IS NULL OR needs_attention = $4)
        AND ($5::timestamptz IS NULL OR (created_at, order_id) > ($5::timestamptz, $6::text))
      ORDER BY created_at, order_id
      LIMIT $7`,
    [
      filter.status ?? null,
      filter.gateway ?? null,
      filter.olderThanMs ?? null,
      filter.needsAttention ?? null,
      filter.after?.createdAt ?? null,
      filter.after?.orderId ?? null,
      filter.limit,
    ],
  );
  const lastRow = rows.at(-1);
  return {
    orders: rows.map((row) => ({
      orderId: row.order_id,
      status: row.status,
      gateway: row.gateway,
      amountMinor: row.amount_minor,
      currency: row.currency,
      capturedAmountMinor: row.captured_amount_minor,
      refundedAmountMinor: row.refunded_amount_minor,
      needsAttention: row.needs_attention,
      failureReason: row.failure_reason,
      expiresAt: row.expires_at.toISOString(),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    })),
    ...(lastRow ? { last: { createdAt: lastRow.created_at_exact, orderId: lastRow.order_id } } : {}),
  };
}
