// POST /orders/:orderId/cancel: the workflow decides what cancelling means (close the intent before payment,
// refund after it); the API only asks, within a deadline, and translates the answer. Once the order's workflow has
// closed, a paid order is still cancelled by refunding what is left: one refund workflow per order for its cancel.
import type { Client } from '@temporalio/client';
import type { ApiConfig } from '../../config/env';
import type { Logger } from '../../config/logger';
import { ORDER_ERROR_TYPES, cancelOrderUpdate, orderWorkflowId } from '../../contracts/order.contract';
import { findOrderStatus, findOrderView } from '../../db/orders/order-view.repo';
import { REFUNDABLE_STATUSES } from '../../domain/order-status';
import type { Pool } from '../../db/pool';
import { getOrder } from './get-order.use-case';
import { refundAfterClose } from '../admin/order-refund-workflow';
import { cancelPending, invalidTransition, orderClosed, orderNotFound, temporalUnavailable } from '../http/errors';
import { probeOrderWorkflow, withTemporalDeadline } from '../temporal/temporal-calls';
import {
  applicationFailureType,
  isTemporalUnavailableError,
  isWorkflowNotFoundError,
} from '../temporal/temporal-errors';

const CANCEL_PENDING_RETRY_AFTER_SECONDS = 2;
export const DEFAULT_CANCEL_REASON = 'requested_by_merchant';

export interface CancelDeps {
  config: ApiConfig;
  pool: Pool;
  temporal: Client;
  logger: Logger;
}

export async function cancelOrder(
  deps: CancelDeps,
  { orderId, reason }: { orderId: string; reason: string },
): Promise<ReturnType<typeof getOrder>> {
  const { config, temporal } = deps;
  const workflow = temporal.workflow.getHandle(orderWorkflowId(orderId));
  try {
    // Cancelling can mean a gateway call or a refund; it gets the same budget as a checkout.
    const state = await withTemporalDeadline(temporal, config.CHECKOUT_TIMEOUT, () =>
      workflow.executeUpdate(cancelOrderUpdate, { args: [{ reason }] }),
    );
    deps.logger.info({ orderId, status: state.status }, 'cancel handled');
  } catch (error) {
    // Nothing left to cancel (already cancelled or refunded): the answer is the order as it is.
    if (applicationFailureType(error) !== ORDER_ERROR_TYPES.redundantRequest) {
      // After the grace window the order workflow is gone: a paid order's cancel becomes a refund workflow.
      if (!isWorkflowNotFoundError(error)) throw await explainCancelFailure(deps, orderId, error);
      await cancelClosedOrder(deps, { orderId, reason });
    }
  }
  // The workflow records every transition before it answers, so the order view already shows the outcome, in the
  // same shape as GET /orders/:orderId.
  return getOrder(deps, orderId);
}

/** After the grace window: a paid order's cancel is a refund of the rest; any other closed order stays as it is. */
async function cancelClosedOrder(deps: CancelDeps, { orderId, reason }: { orderId: string; reason: string }) {
  const order = await findOrderView(deps.pool, orderId);
  if (!order) throw orderNotFound(orderId);
  // REFUNDED goes on too: the cancel's own refund may be what refunded it, and its workflow answers with it.
  if (!REFUNDABLE_STATUSES.includes(order.status) && order.status !== 'REFUNDED') throw orderClosed(orderId);
  // One cancel per order, whatever the reason says: the constant key makes a repeated cancel join (or read) the first.
  const refund = await refundAfterClose(deps, { order, source: 'cancel', requestId: 'cancel', reason });
  deps.logger.info({ orderId, refundId: refund.refundId, state: refund.state }, 'cancel after close refunded');
}

async function explainCancelFailure({ pool, temporal }: CancelDeps, orderId: string, error: unknown): Promise<unknown> {
  if (applicationFailureType(error) === ORDER_ERROR_TYPES.invalidTransition) {
    const status = await findOrderStatus(pool, orderId);
    // A paid order whose workflow refuses is one closing at the end of its grace window: asked again, the cancel
    // goes to a refund workflow.
    if (status && REFUNDABLE_STATUSES.includes(status))
      return cancelPending(orderId, CANCEL_PENDING_RETRY_AFTER_SECONDS);
    return invalidTransition(orderId, status);
  }
  // Updates cannot reach a workflow that never existed or has completed; the order row tells which.
  if (isWorkflowNotFoundError(error)) {
    return (await findOrderStatus(pool, orderId)) ? orderClosed(orderId) : orderNotFound(orderId);
  }
  if (isTemporalUnavailableError(error)) {
    const workflow = await probeOrderWorkflow(temporal, orderId);
    if (workflow === 'running') return cancelPending(orderId, CANCEL_PENDING_RETRY_AFTER_SECONDS);
    if (workflow === 'closed') return orderClosed(orderId);
    if (workflow === 'missing') return orderNotFound(orderId);
    return temporalUnavailable();
  }
  return error;
}
