// The activity contract of the reconciliation workflows. Workflows import these as types only; function names are
// wire names.
import type { GatewayName } from '../../contracts/order.contract';
import type { ReconciliationRefundInput, ReconciliationSummary } from '../../contracts/reconciliation.contract';

export interface ReconciliationWindowInput {
  runId: string;
  gateway: GatewayName;
  windowStart: string;
  windowEnd: string;
}

export interface BeginRunInput extends ReconciliationWindowInput {
  workflowId: string;
}

export interface CollectSettlementInput extends ReconciliationWindowInput {
  /** An uploaded report; without it the gateway's settlement API is read into a report of the run's own. */
  reportId?: string;
}

export interface ClassifyInput extends ReconciliationWindowInput {
  reportId: string;
}

export interface BatchInput {
  runId: string;
  gateway: GatewayName;
  /** Keyset cursor: the batch starts after this order ID / item ID. */
  after: string;
  batchSize: number;
}

export interface BatchResult {
  processed: number;
  /** Where the next batch starts; absent when there is nothing more. */
  next?: string;
}

export interface ReconciliationActivities {
  beginReconciliationRun(input: BeginRunInput): Promise<void>;
  /** Returns the report to reconcile against and its number of rows. */
  collectSettlementData(input: CollectSettlementInput): Promise<{ reportId: string; rows: number }>;
  classifySettlement(input: ClassifyInput): Promise<{ matched: number; lookups: number }>;
  /** Status lookups (the gateway port's fetchPaymentStatus) for one batch of the run's lookup candidates. */
  lookUpOrderStatuses(input: BatchInput): Promise<BatchResult>;
  /** Takes the configured action on one batch of the run's pending items. */
  repairDiscrepancies(input: BatchInput): Promise<BatchResult>;
  finishReconciliationRun(input: { runId: string; gateway: GatewayName }): Promise<ReconciliationSummary>;
  failReconciliationRun(input: { runId: string }): Promise<void>;
  /** Refunds a gateway payment that belongs to no order of ours (gateway idempotency key from the payment). */
  refundUnknownPayment(
    input: Omit<ReconciliationRefundInput, 'order' | 'itemId'>,
  ): Promise<{ gatewayRefundId: string; state: 'succeeded' | 'failed'; refundId: string }>;
  /**
   * A late payment's refund waits for an operator (the wallet has no refund API): the item stays in progress with
   * outcome manual_refund_required and the refund's ID, and the order is flagged for attention. Idempotent.
   */
  markManualRefundRequired(input: {
    itemId: number;
    orderId: string;
    refundId: string;
    gatewayRefundId?: string;
  }): Promise<void>;
  completeReconciliationItem(input: {
    itemId: number;
    state: 'done' | 'failed';
    outcome: string;
    refundId?: string;
    gatewayRefundId?: string;
  }): Promise<void>;
}
