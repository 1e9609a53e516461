// Payer client secrets: `<orderId>_secret_<HMAC>`, like Stripe's `pi_…_secret_…`. They let a payer's browser read
// its own order's public status and nothing else. Derived with HMAC-SHA256 from ORDERPAY_CLIENT_SECRET_KEY instead
// of stored: nothing secret lands in the orders table or in the stored idempotent checkout answers, a replayed
// checkout gets the same secret without a lookup, and rotating the key invalidates every outstanding secret at once.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { DEVELOPMENT_CLIENT_SECRET_KEY, type ApiConfig } from '../../config/env';

const SEPARATOR = '_secret_';

export type ClientSecrets = {
  /** The order's client secret. */
  issue(orderId: string): string;
  /** Whether `offered` is this order's client secret; constant time in the offered value. */
  verify(orderId: string, offered: string): boolean;
};

export function clientSecrets(config: Pick<ApiConfig, 'ORDERPAY_CLIENT_SECRET_KEY'>): ClientSecrets {
  const key = config.ORDERPAY_CLIENT_SECRET_KEY ?? DEVELOPMENT_CLIENT_SECRET_KEY;
  const issue = (orderId: string) =>
    `${orderId}${SEPARATOR}${createHmac('sha256', key).update(`client-secret:${orderId}`, 'utf8').digest('base64url')}`;
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return {
    issue,
    verify: (orderId, offered) => timingSafeEqual(digest(offered), digest(issue(orderId))),
  };
}
