// Stripe's webhook signature scheme as Stripe documents it (https://docs.stripe.com/webhooks#verify-manually),
// written out independently of the SDK and of the adapter, so the tests can check it against the official SDK's
// header and that the SDK-based verifier accepts what a separate implementation of the published scheme produces:
// Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>.<raw body>" keyed with the endpoint secret>.
import { createHmac } from 'node:crypto';

export function signStripePayload(payload: string, secret: string, timestampSeconds: number): string {
  const t = Math.floor(timestampSeconds);
  const v1 = createHmac('sha256', secret).update(`${t}.${payload}`, 'utf8').digest('hex');
  return `t=${t},v1=${v1}`;
}
