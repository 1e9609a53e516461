// Payment attempts: the rules every part of orderpay shares (workflow, activities, gateways, API). Workflow-safe.
import type { GatewayName } from '../contracts/order.contract';

/** ORDER_MAX_ATTEMPTS when unset, and the limit of orders whose input names none. */
export const DEFAULT_MAX_PAYMENT_ATTEMPTS = 5;

/**
 * The gateway idempotency key of an attempt: the order ID for the first (as before attempts existed, so a retried
 * first attempt of an older order finds its intent), the order ID and the attempt number for later ones.
 */
export function paymentAttemptKey(orderId: string, attemptNumber: number): string {
  return attemptNumber === 1 ? orderId : `${orderId}:attempt-${attemptNumber}`;
}

/**
 * Gateways whose intent stays payable after a declined try: Stripe's hosted Checkout page lets the payer try another
 * card on the same session, so the next attempt opens on the same intent. Wallets (eSewa's transaction UUID, Khalti's
 * pidx) serve one try each: the payer starts the next attempt from the order's pay link.
 */
export function intentStaysOpenAfterDecline(gateway: GatewayName): boolean {
  return gateway === 'stripe';
}
