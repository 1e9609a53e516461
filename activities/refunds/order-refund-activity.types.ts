// The activity contract of orderRefundWorkflow (refunds after the order workflow closed). The workflow imports these
// as types only; createOrderRefundActivities implements them. Function names are wire names.
import type { OrderStatus } from '../../contracts/order.contract';

export interface PrepareOrderRefundInput {
  orderId: string;
  refundId: string;
  /** Omit for everything the ledger says is left. */
  amountMinor?: number;
  currency: string;
  reason: string;
}

/** What the refund is made against, read under the order's row lock, and the amount reserved in the ledger. */
export interface PreparedOrderRefund {
  amountMinor: number;
  capturedAmountMinor: number;
  intentId: string;
  paymentReference?: string;
  status: OrderStatus;
  needsAttention: boolean;
}

export interface SettleOrderRefundInput {
  orderId: string;
  refundId: string;
  reason: string;
  /** Workflow time, stored in the timeline. */
  at: string;
}

export interface SettledOrderRefund {
  /** The refunds row's state as the ledger has it now. */
  refundState: 'requested' | 'pending' | 'awaiting_manual' | 'succeeded' | 'failed';
  status: OrderStatus;
  needsAttention: boolean;
  refundedAmountMinor: number;
}

export interface OrderRefundActivities {
  /**
   * Under the order's row lock: the order must be PAID or PARTIALLY_REFUNDED, and the amount must fit in what was
   * captured minus every refund not failed (other workflows' included); then the refunds row is written in
   * `requested`, which reserves the amount. A retry finds its own row and answers the same. Non-retryable
   * RefundExceedsCaptured / InvalidTransition / OrderNotFound / RefundRecordConflict otherwise.
   */
  prepareOrderRefund(input: PrepareOrderRefundInput): Promise<PreparedOrderRefund>;
  /**
   * Moves the order after the refund: succeeded → refunded amount recomputed from the ledger, PARTIALLY_REFUNDED or
   * REFUNDED with a timeline entry; failed, pending or awaiting_manual → the order is flagged (needs_attention) with a
   * timeline entry. A repeat changes nothing.
   */
  settleOrderRefund(input: SettleOrderRefundInput): Promise<SettledOrderRefund>;
}
