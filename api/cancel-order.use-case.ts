// POST /orders/:orderId/cancel: the workflow decides what cancelling means (close the intent before payment,
// refund after it); the API only asks, within a deadline, and translates the answer.
import type { Client } from '@temporalio/client';
import type { ApiConfig } from '../config/env';
import type { Logger } from '../config/logger';
import { ORDER_ERROR_TYPES, cancelOrderUpdate, orderWorkflowId } from '../contracts/order.contract';
import { findOrderStatus } from '../db/order-view.repo';
import type { Pool } from '../db/pool';
import { getOrder } from './get-order.use-case';
import { cancelPending, invalidTransition, orderClosed, orderNotFound, temporalUnavailable } from './errors';
import { probeOrderWorkflow, withTemporalDeadline } from './temporal-calls';
import { applicationFailureType, isTemporalUnavailableError, isWorkflowNotFoundError } from './temporal-errors';

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
      throw await explainCancelFailure(deps, orderId, error);
    }
  }
  // The workflow records every transition before it answers, so the order view already shows the outcome, in the
  // same shape as GET /orders/:orderId.
  return getOrder(deps, orderId);
}

async function explainCancelFailure({ pool, temporal }: CancelDeps, orderId: string, error: unknown): Promise<unknown> {
  if (applicationFailureType(error) === ORDER_ERROR_TYPES.invalidTransition) {
    return invalidTransition(orderId, await findOrderStatus(pool, orderId));
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
