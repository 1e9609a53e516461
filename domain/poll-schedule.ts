import type { PollPolicy } from '../contracts/order.contract';

/** Delay before status poll number `pollIndex` (0-based): exponential backoff capped at the maximum interval. */
export function pollDelayMs(policy: PollPolicy, pollIndex: number): number {
  const uncapped = policy.initialIntervalMs * Math.pow(policy.backoffCoefficient, pollIndex);
  return Math.round(Math.min(uncapped, policy.maxIntervalMs));
}
