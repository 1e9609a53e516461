// Fault knobs that make the sandbox behave like a bad day at a real gateway. Settable at runtime through
// POST /_sandbox/faults, so a durability check can turn them on and off around a running system.
import { z } from 'zod';

const rate = z.number().min(0).max(1);
const millis = z.number().int().min(0).max(600_000);

export const sandboxFaultsSchema = z.strictObject({
  /** Share of webhook events never delivered (the gateway lost them; only polling can notice). */
  webhookDropRate: rate,
  /** Share of webhook events delivered twice, each copy signed and retried on its own. */
  webhookDuplicateRate: rate,
  /** Wait before the first delivery attempt of each event. */
  webhookDelayMs: millis,
  /** Hold events for webhookReorderWindowMs, then deliver the batch newest first, one after another. */
  webhookReorder: z.boolean(),
  webhookReorderWindowMs: millis,
  /** Share of /v1 requests answered 500 api_error before anything changes. */
  apiErrorRate: rate,
  /**
   * Share of /v1 POSTs that take effect but answer 500 api_error, as when the response is lost on the way
   * back. The result is stored under the idempotency key, so a retry with the same key gets the real answer.
   */
  apiErrorAfterCommitRate: rate,
  /** Added to every /v1 request (and eSewa status request) before it is handled. */
  apiLatencyMs: millis,
  /**
   * Share of wallet status requests answered with the wallet's outage body and HTTP 200 (eSewa:
   * `{"code":0,"error_message":"Service is currently unavailable"}`). The webhook knobs above also apply to the
   * wallets' browser callbacks: dropped, delivered twice, delayed.
   */
  statusOutageRate: rate,
  /**
   * New Stripe refunds stay `pending` until settled with POST /_sandbox/refunds/:id/settle
   * (`{"status": "succeeded" | "failed" | "canceled"}`).
   */
  refundsPending: z.boolean(),
  /**
   * Stripe idempotency keys are neither kept nor replayed, as at Stripe 24 hours after first use: a repeated POST
   * with an old key acts again.
   */
  forgetIdempotencyKeys: z.boolean(),
});
export type SandboxFaults = z.infer<typeof sandboxFaultsSchema>;

/** A partial update: fields left out keep their current value. */
export const sandboxFaultsPatchSchema = sandboxFaultsSchema.partial();
export type SandboxFaultsPatch = z.infer<typeof sandboxFaultsPatchSchema>;

export const NO_FAULTS: SandboxFaults = {
  webhookDropRate: 0,
  webhookDuplicateRate: 0,
  webhookDelayMs: 0,
  webhookReorder: false,
  webhookReorderWindowMs: 250,
  apiErrorRate: 0,
  apiErrorAfterCommitRate: 0,
  apiLatencyMs: 0,
  statusOutageRate: 0,
  refundsPending: false,
  forgetIdempotencyKeys: false,
};

/**
 * The API fault knobs for one request, the same for every mode: wait apiLatencyMs, then draw whether this request
 * fails with an injected server error (true). Each mode counts it and answers in its own gateway's error format.
 */
export async function drawInjectedApiError(current: SandboxFaults, random: () => number): Promise<boolean> {
  if (current.apiLatencyMs > 0) await delay(current.apiLatencyMs);
  return random() < current.apiErrorRate;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
