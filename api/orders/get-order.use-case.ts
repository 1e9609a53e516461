// GET /orders/:orderId reads the database, not the workflow: it answers while Temporal is down and after the
// workflow has closed, and it shows exactly what the activities recorded.
import { findOrderView, type OrderView } from '../../db/orders/order-view.repo';
import type { Pool } from '../../db/pool';
import { orderNotFound } from '../http/errors';
import type { OrderResponseBody } from '../http/responses.schema';

export async function getOrder({ pool }: { pool: Pool }, orderId: string): Promise<OrderResponseBody> {
  const order = await findOrderView(pool, orderId);
  if (!order) throw orderNotFound(orderId);
  return toOrderResponse(order);
}

/** Amounts are integer minor units, named like the checkout request's `amount`. */
function toOrderResponse(order: OrderView): OrderResponseBody {
  return {
    orderId: order.orderId,
    status: order.status,
    amount: order.amountMinor,
    currency: order.currency,
    gateway: order.gateway,
    description: order.description,
    intentId: order.intentId,
    paymentUrl: order.paymentUrl,
    expiresAt: order.expiresAt,
    capturedAmount: order.capturedAmountMinor,
    refundedAmount: order.refundedAmountMinor,
    failureReason: order.failureReason,
    needsAttention: order.needsAttention,
    paidAt: order.paidAt,
    createdAt: order.createdAt,
    updatedAt: order.updatedAt,
    refunds: order.refunds.map((refund) => ({
      refundId: refund.refundId,
      amount: refund.amountMinor,
      currency: refund.currency,
      reason: refund.reason,
      state: refund.state,
      createdAt: refund.createdAt,
      updatedAt: refund.updatedAt,
    })),
    attempts: order.attempts,
    timeline: order.timeline,
    ...(order.fulfilment ? { fulfilment: order.fulfilment } : {}),
  };
}
