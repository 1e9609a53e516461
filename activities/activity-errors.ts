// How activities report failure to Temporal: business outcomes and bad data are non-retryable ApplicationFailures
// with a stable type the workflow branches on; transient faults stay retryable.
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { ORDER_ERROR_TYPES } from '../contracts/order.contract';
import { GatewayRejectedError, GatewayUnavailableError } from '../gateways/gateway-errors';

export function orderNotFound(orderId: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: ORDER_ERROR_TYPES.orderNotFound,
    message: `order ${orderId} does not exist`,
    nonRetryable: true,
    details: [{ orderId }],
  });
}

const FOREIGN_KEY_VIOLATION = '23503';
// Class 22 (data exception) and 23 (integrity constraint violation) depend only on the input and rows that the
// order's own workflow writes, so a retry would fail the same way until its retry policy gives up.
const DETERMINISTIC_SQLSTATE_CLASSES = ['22', '23'];

/**
 * Maps what an activity caught to what it should throw. Anything unrecognised (connection errors, timeouts,
 * serialization failures, bugs) is returned as-is so Temporal retries it.
 */
export function toActivityFailure(error: unknown, context: { orderId: string }): unknown {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof GatewayRejectedError) {
    return ApplicationFailure.create({
      type: ORDER_ERROR_TYPES.gatewayRejected,
      message: error.message,
      nonRetryable: true,
      details: [error.code],
      cause: error,
    });
  }
  if (error instanceof GatewayUnavailableError) {
    return ApplicationFailure.create({
      type: ORDER_ERROR_TYPES.gatewayUnavailable,
      message: error.message,
      nonRetryable: false,
      // Honour the gateway's Retry-After over the retry policy's backoff; absent, the policy decides.
      nextRetryDelay: error.retryAfterMs,
      cause: error,
    });
  }
  if (error instanceof pg.DatabaseError && error.code !== undefined) {
    // Every activity writes rows that reference orders, so a missing parent means the order was never recorded.
    if (error.code === FOREIGN_KEY_VIOLATION) return orderNotFound(context.orderId);
    if (DETERMINISTIC_SQLSTATE_CLASSES.includes(error.code.slice(0, 2))) {
      return ApplicationFailure.create({
        type: ORDER_ERROR_TYPES.invalidOrderData,
        // The constraint name and SQLSTATE identify the problem; the message could quote a value.
        message: `database refused the data of order ${context.orderId} (SQLSTATE ${error.code})`,
        nonRetryable: true,
        details: [{ sqlState: error.code, constraint: error.constraint }],
      });
    }
  }
  return error;
}
