// How activities report failure to Temporal: business outcomes and bad data are non-retryable ApplicationFailures
// with a stable type the workflow branches on; only faults that a later attempt can outlive stay retryable.
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

/**
 * What a PostgreSQL error means for a retry, by SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html):
 * - transient: the server or the connection is in trouble, or the transaction lost a race; the same statement
 *   succeeds later. Class 08 connection exception, 40 transaction rollback (serialization failure, deadlock),
 *   53 insufficient resources, 57 operator intervention (shutdown, statement timeout), 58 system error (I/O), and
 *   55P03 lock not available (another attempt of the same activity holds the row).
 * - invalid_data: the values themselves are refused and would be refused again. Class 22 data exception (a NUL
 *   character is 22021 in text and 22P05 in jsonb, an out-of-range number 22003), 23 integrity constraint violation
 *   (the constraints code expects, ON CONFLICT keys and 23503 for a missing order, are handled before this), and
 *   54 program limit exceeded (a value too large for an index).
 * - unknown: anything else (a schema not yet migrated, a permission): left retryable so that fixing the deployment
 *   lets running orders carry on.
 */
export type SqlStateClass = 'transient' | 'invalid_data' | 'unknown';

const TRANSIENT_SQLSTATE_CLASSES = ['08', '40', '53', '57', '58'];
const TRANSIENT_SQLSTATES = ['55P03'];
const INVALID_DATA_SQLSTATE_CLASSES = ['22', '23', '54'];

export function classifySqlState(code: string): SqlStateClass {
  const sqlClass = code.slice(0, 2);
  if (TRANSIENT_SQLSTATES.includes(code) || TRANSIENT_SQLSTATE_CLASSES.includes(sqlClass)) return 'transient';
  if (INVALID_DATA_SQLSTATE_CLASSES.includes(sqlClass)) return 'invalid_data';
  return 'unknown';
}

/**
 * Errors JavaScript raises for values it cannot handle or for code that is wrong: a lone UTF-16 surrogate that the
 * Stripe SDK cannot URI-encode (URIError, thrown before any request), a number out of range (RangeError), a call on
 * undefined (TypeError). No retry changes their outcome. Node's network errors are plain Errors with a `code`
 * (ECONNREFUSED, ETIMEDOUT), never these, so they stay retryable.
 */
const DETERMINISTIC_JS_ERRORS: readonly (new (...args: never[]) => Error)[] = [
  URIError,
  RangeError,
  TypeError,
  ReferenceError,
  SyntaxError,
];

function isDeterministicJsError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  // A TypeError carrying a system error code is undici's wrapper of a network failure ("fetch failed").
  if (error.cause instanceof Error && typeof (error.cause as NodeJS.ErrnoException).code === 'string') return false;
  return DETERMINISTIC_JS_ERRORS.some((type) => error.constructor === type);
}

/**
 * Maps what an activity caught to what it should throw. Only transient faults are returned as-is (or as a retryable
 * GatewayUnavailable) so Temporal retries them: connection errors, timeouts, 5xx, 429 and the SQLSTATE classes above.
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
    if (classifySqlState(error.code) === 'invalid_data') {
      return ApplicationFailure.create({
        type: ORDER_ERROR_TYPES.invalidOrderData,
        // The constraint name and SQLSTATE identify the problem; the message could quote a value.
        message: `database refused the data of order ${context.orderId} (SQLSTATE ${error.code})`,
        nonRetryable: true,
        details: [{ sqlState: error.code, constraint: error.constraint }],
      });
    }
    return error;
  }
  if (isDeterministicJsError(error)) {
    return ApplicationFailure.create({
      type: ORDER_ERROR_TYPES.invalidOrderData,
      // The error's name says what kind of value or defect it was; its message may quote order data, so it stays
      // in the worker's log (the activity logs the original error), not in the workflow history.
      message: `order ${context.orderId} could not be processed: ${error.name} (no retry can change it)`,
      nonRetryable: true,
      details: [{ error: error.name }],
    });
  }
  return error;
}
