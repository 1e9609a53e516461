// Translates what the Stripe SDK throws into the two errors activities understand: retry it, or give up.
import Stripe from 'stripe';
import { z } from 'zod';
import { GatewayRejectedError, GatewayUnavailableError, retryAfterMs } from '../gateway-errors';

type StripeSdkError = InstanceType<typeof Stripe.errors.StripeError>;

/**
 * - No HTTP status (connection refused, reset, timeout, unreadable body), 5xx, 429, and 409 (Stripe's answer when
 *   another request with the same idempotency key is still running) are transient: retry, after Retry-After if sent.
 * - Any other 4xx (invalid request, authentication, permission, idempotency-key reuse) will not change on retry.
 * - A response that does not match our schema is retried too: it is a bug or an API-version drift that a deploy
 *   fixes, and failing the order for it would turn our mistake into the payer's problem.
 */
export function toGatewayError(error: unknown, operation: string): Error {
  if (error instanceof GatewayRejectedError || error instanceof GatewayUnavailableError) return error;
  if (error instanceof z.ZodError) {
    const fields = error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ');
    return new GatewayUnavailableError(`stripe ${operation}: unexpected response shape (${fields})`);
  }
  if (!(error instanceof Stripe.errors.StripeError)) {
    return error instanceof Error ? error : new Error(`stripe ${operation}: ${String(error)}`);
  }
  const status = error.statusCode;
  if (
    status === undefined ||
    status >= 500 ||
    status === 429 ||
    status === 409 ||
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeRateLimitError
  ) {
    return new GatewayUnavailableError(
      `stripe ${operation}: ${error.message}`,
      retryAfterMs(error.headers?.['retry-after']),
      status,
    );
  }
  return new GatewayRejectedError(`stripe ${operation}: ${error.message}`, stripeCodeOf(error), status);
}

/** Stripe's own error code when it sent one, else its error type (`invalid_request_error`, `idempotency_error`). */
function stripeCodeOf(error: StripeSdkError): string {
  return error.code ?? error.rawType ?? 'stripe_error';
}
