// Records merchant events in the transaction of the change they announce (the outbox): the event row, one delivery
// row per enabled endpoint subscribed to its type, and a NOTIFY that PostgreSQL sends only if the transaction commits,
// so the worker's dispatcher starts delivering at once (and its sweeper finds anything a lost notification missed).
import { randomUUID } from 'node:crypto';
import type { MerchantEventType } from '../../contracts/merchant-events.contract';
import type { GatewayName, OrderStatus } from '../../contracts/order.contract';
import { announcementsOf, type Announced } from '../../domain/merchant-announcements';
import type { PoolClient } from '../pool';

/** The channel the worker LISTENs on; the payload is a MerchantEventsNotice as JSON. */
export const MERCHANT_EVENTS_CHANNEL = 'orderpay_merchant_events';
export type MerchantEventsNotice = { orderId: string } | { endpointId: string };

/**
 * The order as a merchant event shows it: status and money, never the customer (added per endpoint at delivery time
 * when the endpoint is configured to receive it), secrets, gateway references or the payer's client secret.
 */
export interface MerchantOrderView {
  orderId: string;
  status: OrderStatus;
  amount: number;
  currency: string;
  gateway: GatewayName;
  capturedAmount: number;
  refundedAmount: number;
  failureReason: string | null;
  needsAttention: boolean;
  paidAt: string | null;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
}

export interface MerchantRefundView {
  refundId: string;
  amount: number;
  currency: string;
  reason: string;
  state: string;
}

/** What an event row's `data` holds; the delivered body wraps it with id, type, timestamp and sequence. */
export interface MerchantEventData {
  order: MerchantOrderView;
  /** The timeline reason of the change (refund events: the refund's own reason is in `refund`). */
  reason?: string;
  refund?: MerchantRefundView;
}

interface OrderViewRow {
  order_id: string;
  status: OrderStatus;
  amount_minor: number;
  currency: string;
  gateway: GatewayName;
  captured_amount_minor: number;
  refunded_amount_minor: number;
  failure_reason: string | null;
  needs_attention: boolean;
  paid_at: Date | null;
  expires_at: Date;
  created_at: Date;
  updated_at: Date;
}

async function readOrderView(client: PoolClient, orderId: string): Promise<MerchantOrderView | undefined> {
  const { rows } = await client.query<OrderViewRow>(
    `SELECT order_id, status, amount_minor, currency, gateway, captured_amount_minor, refunded_amount_minor,
            failure_reason, needs_attention, paid_at, expires_at, created_at, updated_at
       FROM orders WHERE order_id = $1`,
    [orderId],
  );
  const row = rows[0];
  return (
    row && {
      orderId: row.order_id,
      status: row.status,
      amount: row.amount_minor,
      currency: row.currency,
      gateway: row.gateway,
      capturedAmount: row.captured_amount_minor,
      refundedAmount: row.refunded_amount_minor,
      failureReason: row.failure_reason,
      needsAttention: row.needs_attention,
      paidAt: row.paid_at?.toISOString() ?? null,
      expiresAt: row.expires_at.toISOString(),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    }
  );
}

interface AnnouncementRow {
  last_sequence: number;
  status: OrderStatus | null;
  refunded_amount_minor: number;
  needs_attention: boolean;
  fulfilment_failed: boolean;
}

/**
 * Locks the order's announcement row until the transaction ends. Taken last in every transaction that records
 * events, so the events of one order get their sequence numbers one transaction at a time, in commit order.
 */
async function lockAnnouncements(client: PoolClient, orderId: string): Promise<AnnouncementRow> {
  await client.query('INSERT INTO merchant_order_announcements (order_id) VALUES ($1) ON CONFLICT DO NOTHING', [
    orderId,
  ]);
  const { rows } = await client.query<AnnouncementRow>(
    `SELECT last_sequence, status, refunded_amount_minor, needs_attention, fulfilment_failed
       FROM merchant_order_announcements WHERE order_id = $1 FOR UPDATE`,
    [orderId],
  );
  const row = rows[0];
  if (!row) throw new Error(`announcement row of order ${orderId} vanished inside its own transaction`);
  return row;
}

export function newMerchantEventId(): string {
  return `evt_${randomUUID().replaceAll('-', '')}`;
}

async function insertEvents(
  client: PoolClient,
  orderId: string,
  firstSequence: number,
  events: readonly { type: MerchantEventType; data: MerchantEventData }[],
): Promise<void> {
  let sequence = firstSequence;
  let deliveries = 0;
  for (const event of events) {
    const eventId = newMerchantEventId();
    await client.query(
      'INSERT INTO merchant_events (event_id, order_id, sequence, type, data) VALUES ($1, $2, $3, $4, $5)',
      [eventId, orderId, sequence, event.type, JSON.stringify(event.data)],
    );
    const inserted = await client.query(
      `INSERT INTO merchant_event_deliveries (event_id, endpoint_id)
       SELECT $1, endpoint_id FROM merchant_endpoints
        WHERE enabled AND (event_types IS NULL OR $2 = ANY (event_types))`,
      [eventId, event.type],
    );
    deliveries += inserted.rowCount ?? 0;
    sequence += 1;
  }
  if (deliveries > 0) {
    const notice: MerchantEventsNotice = { orderId };
    await client.query('SELECT pg_notify($1, $2)', [MERCHANT_EVENTS_CHANNEL, JSON.stringify(notice)]);
  }
}

/**
 * Called with every row written to an order's timeline (db/orders/orders.repo.ts insertStatusHistory), in that
 * row's transaction and after the order row was changed: records the events the change announces.
 */
export async function recordOrderAnnouncements(
  client: PoolClient,
  change: { orderId: string; reason: string },
): Promise<MerchantEventType[]> {
  const order = await readOrderView(client, change.orderId);
  if (!order) return [];
  const row = await lockAnnouncements(client, change.orderId);
  const before: Announced = {
    status: row.status,
    refundedAmountMinor: row.refunded_amount_minor,
    needsAttention: row.needs_attention,
    fulfilmentFailed: row.fulfilment_failed,
  };
  const { types, announced } = announcementsOf(
    before,
    { status: order.status, refundedAmountMinor: order.refundedAmount, needsAttention: order.needsAttention },
    change.reason,
  );
  await insertEvents(
    client,
    change.orderId,
    row.last_sequence + 1,
    types.map((type) => ({ type, data: { order, reason: change.reason } })),
  );
  await client.query(
    `UPDATE merchant_order_announcements
        SET last_sequence = $2, status = $3, refunded_amount_minor = $4, needs_attention = $5, fulfilment_failed = $6
      WHERE order_id = $1`,
    [
      change.orderId,
      row.last_sequence + types.length,
      announced.status,
      announced.refundedAmountMinor,
      announced.needsAttention,
      announced.fulfilmentFailed,
    ],
  );
  return types;
}

/** Called when a refund reaches a final state (db/refunds/refunds.repo.ts), in that transaction. */
export async function recordRefundAnnouncement(
  client: PoolClient,
  refundId: string,
): Promise<MerchantEventType | undefined> {
  const { rows } = await client.query<{
    order_id: string;
    amount_minor: number;
    currency: string;
    reason: string;
    state: string;
  }>('SELECT order_id, amount_minor, currency, reason, state FROM refunds WHERE refund_id = $1', [refundId]);
  const refund = rows[0];
  if (!refund || (refund.state !== 'succeeded' && refund.state !== 'failed')) return undefined;
  const order = await readOrderView(client, refund.order_id);
  if (!order) return undefined;
  const type: MerchantEventType = refund.state === 'succeeded' ? 'refund.succeeded' : 'refund.failed';
  const row = await lockAnnouncements(client, refund.order_id);
  const data: MerchantEventData = {
    order,
    refund: {
      refundId,
      amount: refund.amount_minor,
      currency: refund.currency,
      reason: refund.reason,
      state: refund.state,
    },
  };
  await insertEvents(client, refund.order_id, row.last_sequence + 1, [{ type, data }]);
  await client.query('UPDATE merchant_order_announcements SET last_sequence = $2 WHERE order_id = $1', [
    refund.order_id,
    row.last_sequence + 1,
  ]);
  return type;
}
