// POST /admin/orders/:orderId/refunds as a story (the route answers each Idempotency-Key once): ask the order's workflow for the refund (requestId `admin:<key>`, so the
// workflow refunds once per key whatever happens to this request) and wait a bounded time for the gateway's answer.
// Once the order's workflow has closed (after its grace window), the refund runs as its own orderRefundWorkflow,
// keyed by the same Idempotency-Key, for as long as the gateway accepts refunds.
import type { Client } from '@temporalio/client';
import type { ApiConfig } from '../../config/env';
import type { Logger } from '../../config/logger';
import {
  ORDER_ERROR_TYPES,
  orderWorkflowId,
  refundOrderUpdate,
  type OrderState,
  type RefundRecord,
} from '../../contracts/order.contract';
import { findOrderStatus, findOrderView } from '../../db/orders/order-view.repo';
import { findRefundOfRequest } from '../../db/refunds/refunds.repo';
import type { Pool } from '../../db/pool';
import type { RefundRequestBody } from './admin.schema';
import {
  idempotencyConflict,
  invalidTransition,
  orderNotFound,
  refundExceedsRefundable,
  refundPending,
  temporalUnavailable,
} from '../http/errors';
import { REFUNDABLE_STATUSES } from '../../domain/order-status';
import { getOrder } from '../orders/get-order.use-case';
import type { OrderResponseBody } from '../http/responses.schema';
import { refundAfterClose } from './order-refund-workflow';
import { requestHash } from '../http/request-hash';
import { probeOrderWorkflow, withTemporalDeadline } from '../temporal/temporal-calls';
import {
  applicationFailureType,
  isTemporalUnavailableError,
  isWorkflowNotFoundError,
} from '../temporal/temporal-errors';

const REFUND_PENDING_RETRY_AFTER_SECONDS = 5;

/**
 * The workflow's refund requestId for a key. Refunds the workflow makes on its own carry their refund ID
 * (`refund-<orderId>-<n>`) as requestId; an operator's key could be spelled the same, so admin keys get a prefix.
 */
function adminRefundRequestId(idempotencyKey: string): string {
  return `admin:${idempotencyKey}`;
}

export interface RefundDeps {
  config: ApiConfig;
  pool: Pool;
  temporal: Client;
  logger: Logger;
}

export interface RefundCommand {
  orderId: string;
  idempotencyKey: string;
  body: RefundRequestBody;
}

export interface RefundOutcome {
  refund: RefundRecord;
  /** The order as it is after the refund settled (or was left pending at the gateway). */
  order: OrderResponseBody;
}

export const ADMIN_REFUND_SCOPE = 'POST /admin/orders/:orderId/refunds';

/** What makes two refund requests the same: the order is part of it, so one key cannot refund two orders. */
export const refundRequestHash = ({ orderId, body }: Pick<RefundCommand, 'orderId' | 'body'>): string =>
  requestHash({ orderId, amount: body.amount, reason: body.reason });

export async function refundOrder(deps: RefundDeps, command: RefundCommand): Promise<RefundOutcome> {
  const { orderId, body } = command;
  const refund = await requestRefund(deps, command);
  // Two different requests racing with one key both reach the workflow before either stored its answer; the
  // workflow refunded the first, and the second must not be told it got what it asked for.
  if ((body.amount !== undefined && refund.amountMinor !== body.amount) || refund.reason !== body.reason) {
    throw idempotencyConflict();
  }
  deps.logger.info({ orderId, refundId: refund.refundId, state: refund.state }, 'admin refund settled');
  return { refund, order: await getOrder(deps, orderId) };
}

/** The order's open workflow refunds; once it has closed (or was never kept), a refund workflow does. */
async function requestRefund(deps: RefundDeps, command: RefundCommand): Promise<RefundRecord> {
  const { config, temporal } = deps;
  const { orderId, idempotencyKey, body } = command;
  const requestId = adminRefundRequestId(idempotencyKey);
  let state: OrderState;
  try {
    // A refund is a gateway call that the workflow retries until it settles; the request waits as long as a checkout.
    state = await withTemporalDeadline(temporal, config.CHECKOUT_TIMEOUT, () =>
      temporal.workflow.getHandle(orderWorkflowId(orderId)).executeUpdate(refundOrderUpdate, {
        args: [{ requestId, amountMinor: body.amount, reason: body.reason }],
      }),
    );
  } catch (error) {
    if (isWorkflowNotFoundError(error)) return refundClosedOrder(deps, command);
    throw await explainRefundFailure(deps, orderId, error);
  }
  const refund = state.refunds.find((record) => record.requestId === requestId);
  if (!refund) throw new Error(`refund update for order ${orderId} returned without the refund it settled`);
  return refund;
}

async function refundClosedOrder(
  deps: RefundDeps,
  { orderId, idempotencyKey, body }: RefundCommand,
): Promise<RefundRecord> {
  const order = await findOrderView(deps.pool, orderId);
  if (!order) throw orderNotFound(orderId);
  // The order workflow may have made this very refund before it closed, with its answer lost on the way back (an API
  // restart before the answer was stored): that refund is the answer, never a second one.
  const requestId = adminRefundRequestId(idempotencyKey);
  const earlier = await findRefundOfRequest(deps.pool, orderId, requestId);
  if (earlier) {
    const state = earlier.state === 'requested' ? 'pending' : earlier.state;
    return { refundId: earlier.refundId, amountMinor: earlier.amountMinor, reason: earlier.reason, state, requestId };
  }
  // A REFUNDED order goes on: this key's refund may be what refunded it, and its workflow answers with it.
  if (!REFUNDABLE_STATUSES.includes(order.status) && order.status !== 'REFUNDED') {
    throw invalidTransition(orderId, order.status);
  }
  const refund = await refundAfterClose(deps, {
    order,
    source: 'admin',
    requestId: idempotencyKey,
    amountMinor: body.amount,
    reason: body.reason,
  });
  // The refund workflow reports the key itself; the order workflow's records carry the prefixed form.
  return { ...refund, requestId: adminRefundRequestId(refund.requestId) };
}

async function explainRefundFailure({ pool, temporal }: RefundDeps, orderId: string, error: unknown): Promise<unknown> {
  const failureType = applicationFailureType(error);
  if (failureType === ORDER_ERROR_TYPES.refundExceedsCaptured) {
    const order = await findOrderView(pool, orderId);
    const refundable = order ? Math.max(order.capturedAmountMinor - order.refundedAmountMinor, 0) : 0;
    return refundExceedsRefundable(orderId, refundable);
  }
  if (failureType === ORDER_ERROR_TYPES.invalidTransition) {
    const status = await findOrderStatus(pool, orderId);
    // A paid order whose workflow refuses is one closing at the end of its grace window: asked again, the refund
    // goes to a refund workflow.
    if (status && REFUNDABLE_STATUSES.includes(status))
      return refundPending(orderId, REFUND_PENDING_RETRY_AFTER_SECONDS);
    return invalidTransition(orderId, status);
  }
  if (isTemporalUnavailableError(error)) {
    const workflow = await probeOrderWorkflow(temporal, orderId);
    if (workflow === 'running') return refundPending(orderId, REFUND_PENDING_RETRY_AFTER_SECONDS);
    // Closed while the update waited: the same request again goes to a refund workflow.
    if (workflow === 'closed') return refundPending(orderId, REFUND_PENDING_RETRY_AFTER_SECONDS);
    if (workflow === 'missing') return orderNotFound(orderId);
    return temporalUnavailable();
  }
  return error;
}
