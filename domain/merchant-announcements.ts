// Which merchant events a change of an order announces. The merchant is told about what it can see change: the
// status, a further partial refund, the attention flag being raised, and a failed fulfilment. Comparing with what was
// last announced (rather than with the transition's own from/to) makes every writer of the order's timeline (the
// order workflow, refunds after close, reconciliation, an operator) announce the same way, and makes a timeline row
// that changes nothing visible announce nothing.
import { FULFILMENT_FAILURE_REASONS, type MerchantEventType } from '../contracts/merchant-events.contract';
import type { OrderStatus } from '../contracts/order.contract';

/** What the merchant has been told about an order so far (all defaults before its first event). */
export interface Announced {
  status: OrderStatus | null;
  refundedAmountMinor: number;
  needsAttention: boolean;
  fulfilmentFailed: boolean;
}

export interface OrderNow {
  status: OrderStatus;
  refundedAmountMinor: number;
  needsAttention: boolean;
}

const STATUS_EVENTS: Partial<Record<OrderStatus, MerchantEventType>> = {
  AWAITING_PAYMENT: 'order.awaiting_payment',
  PAID: 'order.paid',
  FAILED: 'order.failed',
  EXPIRED: 'order.expired',
  CANCELLED: 'order.cancelled',
  PARTIALLY_REFUNDED: 'order.partially_refunded',
  REFUNDED: 'order.refunded',
};

/** The events to record, in the order the merchant should see them, and what is announced afterwards. */
export function announcementsOf(
  announced: Announced,
  now: OrderNow,
  reason: string,
): { types: MerchantEventType[]; announced: Announced } {
  const types: MerchantEventType[] = [];
  const fulfilmentFailed = FULFILMENT_FAILURE_REASONS.includes(reason);
  // The cause before its consequence: fulfilment failed, then the order is refunded.
  if (fulfilmentFailed && !announced.fulfilmentFailed) types.push('order.fulfilment_failed');
  if (now.status !== announced.status) {
    const type = STATUS_EVENTS[now.status];
    if (type) types.push(type);
  } else if (now.status === 'PARTIALLY_REFUNDED' && now.refundedAmountMinor !== announced.refundedAmountMinor) {
    types.push('order.partially_refunded');
  }
  if (now.needsAttention && !announced.needsAttention) types.push('order.needs_attention');
  return {
    types,
    announced: {
      status: now.status,
      refundedAmountMinor: now.refundedAmountMinor,
      needsAttention: now.needsAttention,
      fulfilmentFailed: announced.fulfilmentFailed || fulfilmentFailed,
    },
  };
}
