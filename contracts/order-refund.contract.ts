// The contract of refunds made after an order's workflow has closed: one orderRefundWorkflow per refund request,
// shared by the API, the worker and the workflow. Workflow-safe: names, types and IDs only.
import { defineUpdate } from '@temporalio/workflow';
import type { ConfirmManualRefundRequest, GatewayName, OrderStatus, RefundRecord } from './order.contract';

/** The workflow type: the name `orderRefundWorkflow` is exported under from workflows/index.ts (a wire name). */
export const ORDER_REFUND_WORKFLOW_TYPE = 'orderRefundWorkflow';

/**
 * `requestKey` is derived from the caller's idempotency key (a hash, computed by the API), so the same request is the
 * same workflow whoever sends it and however often.
 */
export function orderRefundWorkflowId(orderId: string, requestKey: string): string {
  return `order-refund-${orderId}-${requestKey}`;
}

/**
 * The refunds row key and the gateway idempotency key. The `k` keeps it apart from the order workflow's own
 * `refund-<orderId>-<n>` and reconciliation's `refund-<orderId>-recon`.
 */
export function orderRefundId(orderId: string, requestKey: string): string {
  return `refund-${orderId}-k${requestKey}`;
}

/** The requestKey inside a refund ID made by orderRefundId, or undefined for any other refund of the order. */
export function requestKeyOfOrderRefundId(orderId: string, refundId: string): string | undefined {
  const prefix = `refund-${orderId}-k`;
  if (!refundId.startsWith(prefix)) return undefined;
  const key = refundId.slice(prefix.length);
  return ORDER_REFUND_REQUEST_KEY_PATTERN.test(key) ? key : undefined;
}

/** What the API derives from an idempotency key: lowercase hex, fixed length. */
export const ORDER_REFUND_REQUEST_KEY_PATTERN = /^[0-9a-f]{24}$/;

export interface OrderRefundWorkflowInput {
  orderId: string;
  gateway: GatewayName;
  currency: string;
  refundId: string;
  /** The caller's idempotency key as they sent it (reported back in the answer). */
  requestId: string;
  /** Omit for the whole refundable remainder, as the ledger has it when the workflow gets to it. */
  amountMinor?: number;
  reason: string;
}

/**
 * - settled: the refund reached a state worth answering with (succeeded, failed, awaiting_manual or, when the gateway
 *   kept it pending past the refund activity's limit, pending). The order row and the search attributes already show
 *   it.
 * - rejected: nothing was refunded; `type` is an ORDER_ERROR_TYPES value (RefundExceedsCaptured, InvalidTransition,
 *   OrderNotFound, RefundRecordConflict).
 */
export type OrderRefundAnswer =
  | { outcome: 'settled'; refund: RefundRecord; status: OrderStatus; needsAttention: boolean }
  | { outcome: 'rejected'; type: string; status?: OrderStatus; refundableAmountMinor?: number };

/** Sent with the start (update-with-start); answers once the refund is settled or rejected. */
export const orderRefundUpdate = defineUpdate<OrderRefundAnswer, []>('orderRefundUpdate');

/**
 * An operator's confirmation of this workflow's manual (eSewa) refund, delivered by POST /admin/refunds/:refundId/confirm;
 * answers once the confirmation is recorded and the order moved. Confirming twice is harmless.
 */
export const confirmOrderRefundManualUpdate = defineUpdate<
  { refundId: string; confirmed: true },
  [ConfirmManualRefundRequest]
>('confirmOrderRefundManualUpdate');
