// A refund after the order's workflow has closed (its grace window is over): the order row is the truth, and each
// refund request runs as its own orderRefundWorkflow under an ID derived from the request's key, so the same request
// is refunded once however often it is sent, and a finished one answers from its result. Used by the admin refund and
// by a cancel after payment; while the order workflow is open they go to it instead (it is the single writer).
import { createHash } from 'node:crypto';
import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import type { ApiConfig } from '../../config/env';
import { ORDER_ERROR_TYPES, orderSearchAttributes, type RefundRecord } from '../../contracts/order.contract';
import {
  ORDER_REFUND_WORKFLOW_TYPE,
  orderRefundId,
  orderRefundUpdate,
  orderRefundWorkflowId,
  type OrderRefundAnswer,
  type OrderRefundWorkflowInput,
} from '../../contracts/order-refund.contract';
import type { OrderView } from '../../db/orders/order-view.repo';
import {
  idempotencyConflict,
  invalidTransition,
  refundExceedsRefundable,
  refundPending,
  temporalUnavailable,
} from '../http/errors';
import { TEMPORAL_PROBE_TIMEOUT_MS, withTemporalDeadline } from '../temporal/temporal-calls';
import {
  isTemporalUnavailableError,
  isWorkflowAlreadyStartedError,
  isWorkflowNotFoundError,
} from '../temporal/temporal-errors';

const REFUND_PENDING_RETRY_AFTER_SECONDS = 5;

/** Who asks: an operator's Idempotency-Key (admin), or the order's one cancel-after-payment (cancel). */
export type RefundSource = 'admin' | 'cancel';

/** 24 hex digits of SHA-256 over the source and key: fixed length whatever the key, and keys never collide across sources. */
export function refundRequestKey(source: RefundSource, key: string): string {
  return createHash('sha256').update(`${source}:${key}`).digest('hex').slice(0, 24);
}

export interface RefundAfterCloseRequest {
  order: Pick<OrderView, 'orderId' | 'gateway' | 'currency' | 'amountMinor' | 'status' | 'needsAttention'>;
  source: RefundSource;
  /** The caller's idempotency key; reported back as the refund's requestId. */
  requestId: string;
  amountMinor?: number;
  reason: string;
}

export interface RefundAfterCloseDeps {
  config: Pick<ApiConfig, 'TEMPORAL_TASK_QUEUE' | 'CHECKOUT_TIMEOUT'>;
  temporal: Client;
}

/**
 * Starts the refund's workflow (or joins it while it runs) and waits a bounded time for its answer; a finished one
 * answers from its result. Rejections come back as the API errors the order workflow's update path gives.
 */
export async function refundAfterClose(
  { config, temporal }: RefundAfterCloseDeps,
  request: RefundAfterCloseRequest,
): Promise<RefundRecord> {
  const { order } = request;
  const requestKey = refundRequestKey(request.source, request.requestId);
  const workflowId = orderRefundWorkflowId(order.orderId, requestKey);
  const input: OrderRefundWorkflowInput = {
    orderId: order.orderId,
    gateway: order.gateway,
    currency: order.currency,
    refundId: orderRefundId(order.orderId, requestKey),
    requestId: request.requestId,
    amountMinor: request.amountMinor,
    reason: request.reason,
  };
  const startWorkflowOperation = new WithStartWorkflowOperation(ORDER_REFUND_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    // A finished refund is never run again under its ID; its result is the answer.
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    // The order's attributes as the row has them now, so a search by OrderId finds this workflow in the order's
    // current state; the workflow upserts OrderStatus and NeedsAttention as it moves the order.
    typedSearchAttributes: [
      { key: orderSearchAttributes.orderId, value: order.orderId },
      { key: orderSearchAttributes.gateway, value: order.gateway },
      { key: orderSearchAttributes.amountMinor, value: order.amountMinor },
      { key: orderSearchAttributes.currency, value: order.currency },
      { key: orderSearchAttributes.orderStatus, value: order.status },
      { key: orderSearchAttributes.needsAttention, value: order.needsAttention },
    ],
    staticSummary: `Refund of order ${order.orderId} (${order.amountMinor} ${order.currency} minor units via ${order.gateway})`,
    memo: { orderId: order.orderId, gateway: order.gateway, refundId: input.refundId },
  });
  let answer: OrderRefundAnswer;
  try {
    answer = await withTemporalDeadline(temporal, config.CHECKOUT_TIMEOUT, async () => {
      try {
        return await temporal.workflow.executeUpdateWithStart(orderRefundUpdate, { startWorkflowOperation });
      } catch (error) {
        // Finished before (or while the update waited): its result is the refund's final state.
        if (isWorkflowAlreadyStartedError(error) || isWorkflowNotFoundError(error)) {
          return temporal.workflow.getHandle(workflowId).result() as Promise<OrderRefundAnswer>;
        }
        throw error;
      }
    });
  } catch (error) {
    if (isTemporalUnavailableError(error)) throw await explainTimeout(temporal, workflowId, order.orderId, error);
    throw error;
  }
  if (answer.outcome === 'settled') return answer.refund;
  switch (answer.type) {
    case ORDER_ERROR_TYPES.refundExceedsCaptured:
      throw refundExceedsRefundable(order.orderId, answer.refundableAmountMinor ?? 0);
    case ORDER_ERROR_TYPES.refundRecordConflict:
      throw idempotencyConflict();
    default:
      throw invalidTransition(order.orderId, order.status);
  }
}

/** A deadline means either a refund the gateway has not settled yet (it carries on) or an unreachable server. */
async function explainTimeout(temporal: Client, workflowId: string, orderId: string, cause: unknown): Promise<unknown> {
  try {
    await withTemporalDeadline(temporal, TEMPORAL_PROBE_TIMEOUT_MS, () =>
      temporal.workflow.getHandle(workflowId).describe(),
    );
    return refundPending(orderId, REFUND_PENDING_RETRY_AFTER_SECONDS);
  } catch {
    return Object.assign(temporalUnavailable(), { cause });
  }
}
