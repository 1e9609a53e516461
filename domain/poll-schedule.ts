import type { PollPolicy } from '../contracts/order.contract';

/** Delay before status poll number `pollIndex` (0-based): exponential backoff capped at the maximum interval. */
export function pollDelayMs(policy: PollPolicy, pollIndex: number): number {
  const uncapped = policy.initialIntervalMs * Math.pow(policy.backoffCoefficient, pollIndex);
  return Math.round(Math.min(uncapped, policy.maxIntervalMs));
}

/** Grace-window polling of a closed unpaid order, for policies written before it existed. */
export const DEFAULT_GRACE_POLL_INTERVAL_MS = 5 * 60_000;

/**
 * Hints (unsigned events) never make lookups closer together than this: a flood of forged Khalti returns costs one
 * lookup per interval, while a payer's genuine return is looked up at once after a quiet period.
 */
export const HINT_LOOKUP_MIN_INTERVAL_MS = 1_000;

/**
 * History length at which an order's run continues as new; far below Temporal's 51,200-event limit and its 10,240
 * warning, so that a run is always replayed quickly.
 */
export const DEFAULT_HISTORY_EVENT_LIMIT = 5_000;

/** When the lookup a hint asks for may run: at once, unless the last lookup was less than the minimum interval ago. */
export function hintLookupAtMs(lastLookupAtMs: number, nowMs: number): number {
  return Math.max(nowMs, lastLookupAtMs + HINT_LOOKUP_MIN_INTERVAL_MS);
}
