// Payment attempts: the rules every part of orderpay shares (workflow, activities, gateways, API). Workflow-safe.
import type { GatewayName, PaymentAttemptState } from '../contracts/order.contract';

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

/** A new attempt as the workflow and the attempt's row both hold it: open, on the intent just created. */
export function openedAttempt(
  number: number,
  gateway: GatewayName,
  intent: { intentId: string; paymentUrl: string },
  at: string,
): PaymentAttemptState {
  return {
    number,
    gateway,
    intentId: intent.intentId,
    paymentUrl: intent.paymentUrl,
    status: 'open',
    failureReason: null,
    declineCode: null,
    startedAt: at,
    endedAt: null,
  };
}

/**
 * The intent's own expiry when it comes before the order's (epoch ms), else undefined: the order must not outlive
 * its intent, or a payer could no longer pay while the order still waits.
 */
export function intentExpiryBefore(orderExpiresAtMs: number, intentExpiresAt: string | undefined): number | undefined {
  const intentExpiryMs = intentExpiresAt === undefined ? NaN : Date.parse(intentExpiresAt);
  return Number.isFinite(intentExpiryMs) && intentExpiryMs < orderExpiresAtMs ? intentExpiryMs : undefined;
}
