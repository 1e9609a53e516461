// What each gateway accepts at checkout, so a request the gateway would refuse is a 400 naming the field instead of
// a workflow that fails at the gateway with a 502.
import type { GatewayName } from '../contracts/order.contract';

/** The Nepali wallets: NPR only, the payer's browser brings the result back, and a status lookup confirms it. */
export const WALLET_GATEWAYS = ['esewa', 'khalti'] as const satisfies readonly GatewayName[];
export const WALLET_CURRENCY = 'NPR';

/**
 * The largest amount each gateway takes, in minor units. Stripe documents 99999999 (eight digits, $999,999.99) for
 * most currencies (https://stripe.com/docs/currencies#minimum-and-maximum-charge-amounts). eSewa and Khalti
 * publish no API maximum; wallet balances and per-transaction limits are far below Rs 1,000,000 (10 lakh), so
 * that is the cap: larger amounts are refused at checkout rather than by the wallet.
 */
export const GATEWAY_MAX_AMOUNT_MINOR: Readonly<Record<GatewayName, number>> = {
  stripe: 99_999_999,
  esewa: 100_000_000,
  khalti: 100_000_000,
};
