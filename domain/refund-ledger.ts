// What the order can still refund. One ledger for every refund decision of the workflow: the update validators,
// the amount a cancel or a full refund takes, and the check right before each refund call at the gateway.
import type { RefundRecord } from '../contracts/order.contract';

export interface RefundLedger {
  capturedAmountMinor: number;
  refundedAmountMinor: number;
  refunds: readonly RefundRecord[];
}

/** Refunds of the order's own capture that were sent and not yet settled (pending, or awaiting an operator). */
export function inFlightRefundsMinor(ledger: RefundLedger, except?: string): number {
  return ledger.refunds
    .filter((refund) => refund.refundId !== except && isOwnCapture(refund))
    .filter((refund) => refund.state === 'pending' || refund.state === 'awaiting_manual')
    .reduce((sum, refund) => sum + refund.amountMinor, 0);
}

/** Captured minus refunded minus in flight: what one more refund may take. `except` leaves one refund out. */
export function unrefundedMinor(ledger: RefundLedger, except?: string): number {
  return ledger.capturedAmountMinor - ledger.refundedAmountMinor - inFlightRefundsMinor(ledger, except);
}

/** A refund of a second capture (duplicate_capture) is made against another payment than the order's. */
export function isOwnCapture(refund: RefundRecord): boolean {
  return refund.paymentReference === undefined;
}
