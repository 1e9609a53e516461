// The order workflow's activities, grouped by how hard each kind of work must try. Imported as types only: the
// worker registers the implementation (createOrderActivities) under these wire names.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { OrderActivities } from '../../activities/orders/order-activity.types';
import { ORDER_ERROR_TYPES } from '../../contracts/order.contract';
import { databaseWrites, gatewayRefunds } from '../activity-policies';

// Business failures never retry; everything else (DB or gateway outages) retries with backoff.
const NON_RETRYABLE = [
  ORDER_ERROR_TYPES.orderRecordConflict,
  ORDER_ERROR_TYPES.invalidTransition,
  ORDER_ERROR_TYPES.gatewayRejected,
  ORDER_ERROR_TYPES.orderNotFound,
  ORDER_ERROR_TYPES.refundRecordConflict,
  ORDER_ERROR_TYPES.invalidOrderData,
  ORDER_ERROR_TYPES.refundExceedsCaptured,
];

/** Database writes: retried until the database is back, because the order must be recorded. */
export const db = proxyActivities<Pick<OrderActivities, 'recordOrder' | 'transitionOrder' | 'recordManualRefund'>>(
  databaseWrites(NON_RETRYABLE),
);

/**
 * The same database writes as local activities (runs on the current process): each is one marker in the history
 * instead of three events and a workflow task of their own, and the order moves without a round trip to the server.
 */
export const localDb = proxyLocalActivities<
  Pick<OrderActivities, 'recordOrder' | 'transitionOrder' | 'recordManualRefund'>
>(databaseWrites(NON_RETRYABLE));

/** Intent creation: bounded, so a dead gateway fails the checkout instead of hanging it. */
const INTENT_CREATION = {
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '2m',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 6,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
} as const;

export const intents = proxyActivities<Pick<OrderActivities, 'createPaymentIntent' | 'startPayment'>>(INTENT_CREATION);

/**
 * The same as a local activity (runs of the current process): the checkout's intent is created in the workflow task
 * that records the order, so the checkout answers without a round trip to the server for an activity task, and the
 * history holds one marker instead of three events and a workflow task. Safe to repeat: the gateway call carries the
 * attempt's idempotency key and a retry returns the recorded intent.
 */
export const localIntents =
  proxyLocalActivities<Pick<OrderActivities, 'createPaymentIntent' | 'startPayment'>>(INTENT_CREATION);

/** A routine poll: a few quick tries; the next poll comes anyway. */
const ROUTINE_POLL = {
  startToCloseTimeout: '10s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '5s',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
} as const;

export const polls = proxyActivities<Pick<OrderActivities, 'fetchPaymentStatus'>>(ROUTINE_POLL);

/**
 * The same poll as a local activity (a read, safe to repeat): one marker instead of three events and a workflow task
 * of its own, for every poll of every open order.
 */
export const localPolls = proxyLocalActivities<Pick<OrderActivities, 'fetchPaymentStatus'>>(ROUTINE_POLL);

/** The final check and cancel at expiry must get through; they retry for up to 30 minutes. */
const CLOSING = {
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '30m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE },
} as const;

export const closing = proxyActivities<Pick<OrderActivities, 'fetchPaymentStatus' | 'cancelPaymentIntent'>>(CLOSING);

/**
 * The expiry's final check and cancel as one local activity (runs of the current process): the expiry is one
 * workflow task with two markers (this and the transition) instead of two activities and their workflow tasks, so
 * orders expiring together cost the server about half as much work.
 */
export const localClosing = proxyLocalActivities<Pick<OrderActivities, 'closePaymentAtExpiry'>>(CLOSING);

/** Refunds retry until the gateway settles them (a pending refund is a retryable failure). */
export const refunds = proxyActivities<Pick<OrderActivities, 'refundPayment'>>(gatewayRefunds(NON_RETRYABLE));
