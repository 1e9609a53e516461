// The order state machine. Status only moves forward; these sets are what every transition is checked against.
import type { OrderStatus } from '../contracts/order.contract';

/** Statuses in which no money can arrive any more through the normal flow. */
export const CLOSED_UNPAID_STATUSES: readonly OrderStatus[] = ['FAILED', 'EXPIRED', 'CANCELLED'];
/** Statuses in which money was captured and (some of it) may still be refunded. */
export const REFUNDABLE_STATUSES: readonly OrderStatus[] = ['PAID', 'PARTIALLY_REFUNDED'];

const ALLOWED_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  PENDING: ['AWAITING_PAYMENT', 'FAILED', 'CANCELLED'],
  AWAITING_PAYMENT: ['PAID', 'FAILED', 'EXPIRED', 'CANCELLED'],
  PAID: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  PARTIALLY_REFUNDED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  // A capture that arrives after the order closed unpaid is refunded.
  FAILED: ['REFUNDED'],
  EXPIRED: ['REFUNDED'],
  CANCELLED: ['REFUNDED'],
  REFUNDED: [],
};

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/** Every status from which `to` may be reached: the `from` list of a conditional update. */
export function statusesLeadingTo(to: OrderStatus): OrderStatus[] {
  return (Object.keys(ALLOWED_TRANSITIONS) as OrderStatus[]).filter((from) => canTransition(from, to));
}
