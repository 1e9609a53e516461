// Hands one stored webhook event to its order's workflow. Shared by the webhook delivery queue and sweeper (after the
// gateway was answered), the wallets' browser callbacks and the dead-letter queue (an operator's retry), so all
// record outcomes the same way and all go through the same claim: of any number of concurrent deliveries of one
// event, on any number of API replicas, exactly one signals the workflow.
import { type Client, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { describeError, type Logger } from '../../config/logger';
import {
  ORDER_ERROR_TYPES,
  ORDER_ID_PATTERN,
  orderWorkflowId,
  paymentEventSignal,
  paymentHintUpdate,
  type PaymentEvent,
} from '../../contracts/order.contract';
import { findOrderStanding } from '../../db/orders/order-view.repo';
import type { Pool } from '../../db/pool';
import {
  claimWebhookDelivery,
  recordWebhookDeliveryFailure,
  recordWebhookOutcome,
  sameCaptureDelivered,
  type WebhookOutcome,
} from '../../db/webhooks/webhook-events.repo';
import { temporalUnavailable } from '../http/errors';
import { TEMPORAL_SIGNAL_TIMEOUT_MS, withTemporalDeadline } from '../temporal/temporal-calls';
import {
  applicationFailureType,
  isTemporalUnavailableError,
  isWorkflowNotFoundError,
} from '../temporal/temporal-errors';

/** A hint goes as an update, which needs a worker; if none answers this soon, it goes as a signal instead. */
const HINT_UPDATE_TIMEOUT_MS = 2_000;

export interface WebhookDeliveryDeps {
  pool: Pool;
  temporal: Client;
}

export interface StoredPaymentEvent {
  /** The webhook_events row. */
  id: number;
  orderId: string;
  paymentEvent: PaymentEvent;
}

export type WebhookDeliveryResult =
  /** secondsSinceReceived: from storing the event to recording its delivery (the database's clock). */
  | { result: 'delivered'; secondsSinceReceived: number }
  /** No open workflow: the order never existed here or has closed; left to reconciliation. */
  | { result: 'order_not_found' }
  /**
   * Nothing to signal: a decline, cancel or pending report for an order that no longer awaits payment, or a capture
   * its workflow was already signalled by another event.
   */
  | { result: 'ignored' }
  /** Someone else delivered it first; nothing was signalled. */
  | { result: 'already_processed'; outcome: WebhookOutcome }
  /** Another delivery holds the claim right now; nothing was signalled. */
  | { result: 'in_progress' };

/**
 * Claims the event, signals the workflow and records the outcome. A Temporal outage releases the claim and throws
 * temporalUnavailable (the row stays `received`, and the sweeper delivers it once Temporal is back); any other signal
 * failure marks the row `failed`, which puts it in the dead-letter queue.
 */
export async function deliverStoredPaymentEvent(
  { pool, temporal }: WebhookDeliveryDeps,
  event: StoredPaymentEvent,
  logger: Logger,
): Promise<WebhookDeliveryResult> {
  const claim = await claimWebhookDelivery(pool, event.id);
  if (!claim.claimed) {
    logger.info({ reason: claim.reason }, 'webhook delivery skipped: not claimed');
    return claim.reason === 'already_processed'
      ? { result: 'already_processed', outcome: claim.outcome }
      : { result: 'in_progress' };
  }
  const needless = await needlessReason(pool, event);
  if (needless) {
    await recordWebhookOutcome(pool, event.id, 'ignored', { attemptedDelivery: false });
    logger.info({ kind: event.paymentEvent.kind, reason: needless }, 'webhook not signalled: it moves nothing');
    return { result: 'ignored' };
  }
  try {
    await handOver(temporal, event.paymentEvent, event.orderId, logger);
  } catch (error) {
    if (isWorkflowNotFoundError(error)) {
      await recordWebhookOutcome(pool, event.id, 'order_not_found', { attemptedDelivery: true });
      logger.warn('no open workflow for the webhook; left to reconciliation');
      return { result: 'order_not_found' };
    }
    if (isTemporalUnavailableError(error)) {
      await recordWebhookDeliveryFailure(pool, event.id, { outcome: 'received', error: 'temporal_unavailable' });
      throw Object.assign(temporalUnavailable(), { cause: error });
    }
    await recordWebhookDeliveryFailure(pool, event.id, { outcome: 'failed', error: 'signal_failed' }).catch(
      (recordError: unknown) => logger.error({ err: describeError(recordError) }, 'webhook failure not recorded'),
    );
    throw error;
  }
  const recorded = await recordWebhookOutcome(pool, event.id, 'delivered', { attemptedDelivery: true });
  logger.info({ kind: event.paymentEvent.kind }, 'webhook delivered');
  return { result: 'delivered', secondsSinceReceived: recorded?.secondsSinceReceived ?? 0 };
}

/** Reports that change an order only while it awaits payment. */
const AWAITING_ONLY_KINDS: readonly PaymentEvent['kind'][] = ['failed', 'cancelled', 'pending'];

/**
 * Why a signed event would change nothing in its workflow (a signal and a workflow task for nothing), if it would
 * not; the database is read only for the kinds concerned, and when it cannot be read the event is signalled as always
 * (the workflow ignores what does not apply).
 * - A decline, cancel or pending report for an order whose row has moved past awaiting payment: a gateway's retry, a
 *   late decline, a `checkout.session.expired` that arrives after the order recorded its expiry.
 * - A cancel report for an order whose expiry is due: the workflow's own expiry is closing the payment (a final status
 *   check, then the cancel) and will record it, so the report is the echo of that close (Stripe's
 *   `checkout.session.expired` for the session orderpay just expired) or comes too late to change how the order ends.
 * - A capture the workflow was already signalled by another event (sameCaptureDelivered). Any other capture is
 *   always signalled: money moved.
 */
async function needlessReason(
  pool: Pool,
  event: StoredPaymentEvent,
): Promise<'order_past_awaiting_payment' | 'order_expiry_due' | 'capture_already_delivered' | undefined> {
  const { orderId, paymentEvent } = event;
  if (!paymentEvent.verified) return undefined;
  if (paymentEvent.kind === 'captured') {
    const delivered = await sameCaptureDelivered(pool, event).catch(() => false);
    return delivered ? 'capture_already_delivered' : undefined;
  }
  if (!AWAITING_ONLY_KINDS.includes(paymentEvent.kind)) return undefined;
  const order = await findOrderStanding(pool, orderId).catch(() => undefined);
  if (order === undefined) return undefined;
  if (order.status !== 'PENDING' && order.status !== 'AWAITING_PAYMENT') return 'order_past_awaiting_payment';
  return paymentEvent.kind === 'cancelled' && order.expiryDue ? 'order_expiry_due' : undefined;
}

/** A stored event as read back: what it needs is decided from these fields alone. */
export interface StoredEventFields {
  id: number;
  eventType: string;
  orderId?: string | null;
  paymentEvent?: PaymentEvent | null;
}

/** Closed at once (it moves no order, or names none of ours), or to be delivered to its order's workflow. */
export type StoredEventPlan =
  { outcome: 'ignored' | 'order_not_found' } | { outcome: 'deliver'; event: StoredPaymentEvent };

/**
 * Closes an event that nothing needs to be signalled for, without Temporal; anything else is to be delivered. The
 * intake decides this before answering, the sweeper again for a row whose intake died before deciding.
 */
export async function planStoredEvent(pool: Pool, stored: StoredEventFields, logger: Logger): Promise<StoredEventPlan> {
  if (!stored.paymentEvent) {
    await recordWebhookOutcome(pool, stored.id, 'ignored', { attemptedDelivery: false });
    logger.info({ eventType: stored.eventType }, 'payment event ignored: it does not move orders');
    return { outcome: 'ignored' };
  }
  if (!stored.orderId || !ORDER_ID_PATTERN.test(stored.orderId)) {
    await recordWebhookOutcome(pool, stored.id, 'order_not_found', { attemptedDelivery: false });
    logger.warn('payment event names no order of ours; left to reconciliation');
    return { outcome: 'order_not_found' };
  }
  return { outcome: 'deliver', event: { id: stored.id, orderId: stored.orderId, paymentEvent: stored.paymentEvent } };
}

/**
 * A signed event is signalled. An unsigned one (a hint) is sent as an update, so that the workflow's validator can
 * refuse a hint that changes nothing (a lookup is already due) without a trace in its history; such a refusal means
 * the workflow has what it needs, so it counts as delivered. Without a worker to answer the update in time, the
 * hint is signalled as before.
 */
async function handOver(temporal: Client, paymentEvent: PaymentEvent, orderId: string, logger: Logger): Promise<void> {
  const workflow = temporal.workflow.getHandle(orderWorkflowId(orderId));
  if (!paymentEvent.verified) {
    try {
      await withTemporalDeadline(temporal, HINT_UPDATE_TIMEOUT_MS, () =>
        workflow.executeUpdate(paymentHintUpdate, { args: [paymentEvent] }),
      );
      return;
    } catch (error) {
      if (applicationFailureType(error) === ORDER_ERROR_TYPES.redundantRequest) {
        logger.debug('hint not needed: the workflow has a lookup due');
        return;
      }
      if (!(error instanceof WorkflowUpdateRPCTimeoutOrCancelledError)) throw error;
      logger.warn('hint update not answered in time; signalling it');
    }
  }
  await withTemporalDeadline(temporal, TEMPORAL_SIGNAL_TIMEOUT_MS, () =>
    workflow.signal(paymentEventSignal, paymentEvent),
  );
}
