// POST /orders/:orderId/fulfilment as a story: hand the merchant's answer to the order's workflow, which records it
// (and, for a failure, refunds the payment after answering). The answer is read back from the order's row, so a
// repeat answers exactly as the first did, whether the workflow answers it or has closed since: an order that asked
// for confirmation keeps its workflow open until the answer or the timeout, so a closed one has its outcome recorded.
import type { Client } from '@temporalio/client';
import type { ApiConfig } from '../../config/env';
import type { Logger } from '../../config/logger';
import { ORDER_ERROR_TYPES, fulfilmentUpdate, orderWorkflowId } from '../../contracts/order.contract';
import { findOrderView, type OrderFulfilmentView, type OrderView } from '../../db/orders/order-view.repo';
import type { Pool } from '../../db/pool';
import type { FulfilmentAnswerBody } from './checkout.schema';
import {
  fulfilmentConflict,
  fulfilmentNotRequested,
  fulfilmentPending,
  invalidTransition,
  orderClosed,
  orderNotFound,
  temporalUnavailable,
} from '../http/errors';
import type { FulfilmentResponseBody } from '../http/responses.schema';
import { probeOrderWorkflow, withTemporalDeadline } from '../temporal/temporal-calls';
import {
  applicationFailureType,
  isTemporalUnavailableError,
  isWorkflowNotFoundError,
} from '../temporal/temporal-errors';

const FULFILMENT_PENDING_RETRY_AFTER_SECONDS = 2;
const ANSWERED: readonly OrderFulfilmentView['status'][] = ['fulfilled', 'failed', 'timed_out'];

export interface FulfilmentDeps {
  config: ApiConfig;
  pool: Pool;
  temporal: Client;
  logger: Logger;
}

export async function answerFulfilment(
  deps: FulfilmentDeps,
  { orderId, answer }: { orderId: string; answer: FulfilmentAnswerBody },
): Promise<FulfilmentResponseBody> {
  const { config, temporal } = deps;
  try {
    // The workflow answers once the answer is recorded; a failure's refund runs after that, so this is short.
    await withTemporalDeadline(temporal, config.CHECKOUT_TIMEOUT, () =>
      temporal.workflow.getHandle(orderWorkflowId(orderId)).executeUpdate(fulfilmentUpdate, { args: [answer] }),
    );
  } catch (error) {
    return answerFromRecord(deps, orderId, answer, await workflowAfterRefusal(deps, orderId, error));
  }
  const order = await findOrderView(deps.pool, orderId);
  if (!order?.fulfilment) throw new Error(`order ${orderId} accepted a fulfilment answer it has no record of`);
  deps.logger.info({ orderId, fulfilment: order.fulfilment.status }, 'fulfilment answered');
  return { orderId, fulfilment: order.fulfilment };
}

/** Whether the workflow that refused (or could not be reached) is still open; anything else is rethrown. */
async function workflowAfterRefusal(
  { temporal }: FulfilmentDeps,
  orderId: string,
  error: unknown,
): Promise<'open' | 'closed'> {
  const failureType = applicationFailureType(error);
  if (failureType === ORDER_ERROR_TYPES.fulfilmentConflict || failureType === ORDER_ERROR_TYPES.invalidTransition) {
    return 'open';
  }
  if (isWorkflowNotFoundError(error)) return 'closed';
  if (isTemporalUnavailableError(error)) {
    const workflow = await probeOrderWorkflow(temporal, orderId);
    if (workflow === 'running') throw fulfilmentPending(orderId, FULFILMENT_PENDING_RETRY_AFTER_SECONDS);
    if (workflow === 'closed' || workflow === 'missing') return 'closed';
    throw Object.assign(temporalUnavailable(), { cause: error });
  }
  throw error;
}

/**
 * The workflow refused, or has closed: the order's record says why. The same answer as recorded is answered as the
 * first time; another one conflicts with it.
 */
async function answerFromRecord(
  { pool }: FulfilmentDeps,
  orderId: string,
  answer: FulfilmentAnswerBody,
  workflow: 'open' | 'closed',
): Promise<FulfilmentResponseBody> {
  const order = await findOrderView(pool, orderId);
  if (!order) throw orderNotFound(orderId);
  const { fulfilment } = order;
  if (!fulfilment) throw fulfilmentNotRequested(orderId);
  if (fulfilment.status === answer.status) return { orderId, fulfilment };
  if (ANSWERED.includes(fulfilment.status)) throw fulfilmentConflict(orderId, fulfilment.status);
  throw refusedInStatus(order, workflow);
}

/** Not paid (yet), or refunded in full before an answer: closed orders say so, open ones name their status. */
function refusedInStatus(order: OrderView, workflow: 'open' | 'closed') {
  return workflow === 'closed' ? orderClosed(order.orderId) : invalidTransition(order.orderId, order.status);
}
