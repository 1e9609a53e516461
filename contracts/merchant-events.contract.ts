// The contract of merchant events: what orderpay tells a merchant's endpoint, and the delivery workflows that do it.
// Shared by the database layer that records events, the worker that delivers them, the API that lists and redelivers
// them, and the workflows. Workflow-safe: names, types and IDs only.
import { defineSignal } from '@temporalio/workflow';

/** Every event type a merchant endpoint can receive (and subscribe to). */
export const MERCHANT_EVENT_TYPES = [
  'order.awaiting_payment',
  'order.paid',
  'order.failed',
  'order.expired',
  'order.cancelled',
  'order.partially_refunded',
  'order.refunded',
  'order.needs_attention',
  'order.fulfilment_failed',
  'refund.succeeded',
  'refund.failed',
] as const;
export type MerchantEventType = (typeof MERCHANT_EVENT_TYPES)[number];

/** Timeline reasons that mean the merchant could not fulfil a paid order (the order is being refunded for it). */
export const FULFILMENT_FAILURE_REASONS: readonly string[] = ['fulfilment_failed', 'fulfilment_timeout'];

/** Endpoint IDs: the same rule as the merchant_endpoints.endpoint_id CHECK constraint. */
export const MERCHANT_ENDPOINT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** The endpoint MERCHANT_WEBHOOK_URL configures. */
export const CONFIGURED_MERCHANT_ENDPOINT_ID = 'configured';

/** The workflow types: the names exported from workflows/index.ts (wire names). */
export const MERCHANT_EVENT_DELIVERY_WORKFLOW_TYPE = 'merchantEventDeliveryWorkflow';
export const MERCHANT_EVENT_SWEEP_WORKFLOW_TYPE = 'merchantEventSweepWorkflow';

/**
 * Deliveries run on their own task queue, so a slow or dead merchant endpoint holds only delivery activity slots,
 * never an order's.
 */
export function merchantEventTaskQueue(orderTaskQueue: string): string {
  return `${orderTaskQueue}-merchant-events`;
}

/** One workflow per (endpoint, order): it delivers that order's events to that endpoint one after another. */
export function merchantDeliveryWorkflowId(endpointId: string, orderId: string): string {
  // ':' appears in neither ID, so no two (endpoint, order) pairs share a workflow ID.
  return `merchant-delivery:${endpointId}:${orderId}`;
}

/** One sweeper schedule per task queue (a deployment), found again and updated on every worker start. */
export function merchantEventSweepScheduleId(taskQueue: string): string {
  return `merchant-event-sweep:${taskQueue}`;
}

/** How a delivery is retried: exponential backoff until giveUpAfterMs has passed since the first attempt. */
export interface MerchantDeliveryRetryPolicy {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  giveUpAfterMs: number;
}

export interface MerchantDeliveryWorkflowInput {
  endpointId: string;
  orderId: string;
  retry: MerchantDeliveryRetryPolicy;
  /** One HTTP attempt's limit in the activity (the request's own timeout plus bookkeeping). */
  attemptTimeoutMs: number;
  /** How long the workflow waits for more events of the order once it has delivered everything. */
  idleMs: number;
}

export type MerchantDeliveryStop = 'idle' | 'endpoint_disabled';
export interface MerchantDeliveryWorkflowResult {
  delivered: number;
  gaveUp: number;
  stopped: MerchantDeliveryStop;
}

export interface MerchantEventSweepInput {
  /** Deliveries recorded this long ago and still never dispatched are started. */
  olderThanMs: number;
  /** A dispatched delivery still pending after this long is checked again (its workflow may have ended). */
  redispatchAfterMs: number;
  limit: number;
}

/** New events for the workflow's (endpoint, order) were recorded or reset for redelivery: look again. */
export const merchantEventsRecordedSignal = defineSignal('merchantEventsRecordedSignal');

export const MERCHANT_EVENT_ERROR_TYPES = {
  /** The endpoint cannot be signed for (no usable secret): retrying would not help until someone fixes it. */
  endpointMisconfigured: 'MerchantEndpointMisconfigured',
  /** Retryable: the endpoint answered something other than 2xx (or 410), or did not answer in time. */
  deliveryRejected: 'MerchantDeliveryRejected',
} as const;
