// Timeouts and retries shared by the workflows that write orders and refunds: one policy per kind of work, so the
// order, refund and reconciliation workflows never drift apart on how hard they try.
import type { ActivityOptions } from '@temporalio/workflow';

/** Database writes: retried until the database is back, because what they record must be recorded. */
export function databaseWrites(nonRetryableErrorTypes: string[]): ActivityOptions {
  return {
    startToCloseTimeout: '10s',
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes },
  };
}

/** A refund at the gateway: retried until the gateway settles it (a pending refund is a retryable failure). */
export function gatewayRefunds(nonRetryableErrorTypes: string[]): ActivityOptions {
  return {
    startToCloseTimeout: '15s',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m', nonRetryableErrorTypes },
  };
}
