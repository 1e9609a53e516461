// Delivers events to the webhook endpoint the way Stripe does: JSON body, a fresh signature per attempt, and
// retries with exponential backoff on any non-2xx answer or network failure. Delivery runs on timers, never on
// the request that produced the event, so API answers are not slowed or failed by a slow receiver.
import type { Logger } from '../config/logger';
import type { SandboxFaults } from './sandbox.faults';
import type { EventObject } from './stripe.objects';
import { signStripePayload } from './webhook.signer';

export interface WebhookRetryPolicy {
  /** Delay before the second attempt; doubles for each further attempt. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts per delivery, the first included; after the last failure the delivery is abandoned. */
  maxAttempts: number;
  /** Per-attempt HTTP timeout; a receiver that hangs counts as a failed attempt. */
  requestTimeoutMs: number;
}

export const DEFAULT_WEBHOOK_RETRY: WebhookRetryPolicy = {
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxAttempts: 8,
  requestTimeoutMs: 10_000,
};

export interface WebhookStats {
  /** Events handed to the dispatcher. */
  events: number;
  /** HTTP attempts made, retries included. */
  attempted: number;
  /** Deliveries acknowledged with a 2xx. */
  succeeded: number;
  /** Attempts that got a non-2xx answer or no answer. */
  failed: number;
  /** Events never delivered because of webhookDropRate. */
  dropped: number;
  /** Events delivered twice because of webhookDuplicateRate. */
  duplicated: number;
  /** Deliveries that ran out of attempts. */
  abandoned: number;
  /** Deliveries not yet acknowledged or abandoned (held, delayed, in flight or waiting to retry). */
  pending: number;
}

export interface WebhookDispatcherOptions {
  url: string;
  secret: string;
  retry: WebhookRetryPolicy;
  faults: () => SandboxFaults;
  random: () => number;
  now: () => number;
  logger: Logger;
  /** Called when a delivery becomes pending or stops being pending, so the pending list can be saved. */
  onPendingChange?: () => void;
}

/** A delivery not yet acknowledged or abandoned, as kept across a restart (SANDBOX_STATE_FILE). */
export interface PendingWebhook {
  eventId: string;
  eventType: string;
  /** The exact bytes to send; each attempt signs them afresh. */
  payload: string;
}

export interface WebhookDispatcher {
  enqueue(event: EventObject): void;
  /** Sends events held for reordering now (used when reordering is switched off). */
  releaseHeld(): void;
  stats(): WebhookStats;
  /** Forgets pending deliveries and zeroes the counters. */
  reset(): void;
  /**
   * Stops all timers and aborts requests in flight; nothing is delivered afterwards. What was still pending,
   * in flight included, stays in pending() so it can be saved and sent again after a restart.
   */
  close(): void;
  /** Deliveries not yet acknowledged or abandoned, oldest first; held, delayed and duplicate copies included. */
  pending(): PendingWebhook[];
  /**
   * Sends deliveries saved before a restart again, at least once, as Stripe retries after an outage. Each gets a
   * full set of attempts: under `npm start` the receiver usually restarts at the same time and is not ready yet.
   * Fault injection already decided about these deliveries when their events happened, so it is not applied again.
   */
  resume(saved: readonly PendingWebhook[]): void;
}

interface Delivery {
  eventId: string;
  eventType: string;
  payload: string;
  attempts: number;
  /** Deliveries from before a reset() are silently discarded. */
  generation: number;
}

const emptyStats = (): WebhookStats => ({
  events: 0,
  attempted: 0,
  succeeded: 0,
  failed: 0,
  dropped: 0,
  duplicated: 0,
  abandoned: 0,
  pending: 0,
});

export function createWebhookDispatcher(options: WebhookDispatcherOptions): WebhookDispatcher {
  const { url, secret, retry, faults, random, now, logger } = options;
  const onPendingChange = options.onPendingChange ?? (() => {});
  const timers = new Set<NodeJS.Timeout>();
  // Insertion-ordered, so pending() lists deliveries in the order their events happened.
  const pendingDeliveries = new Set<Delivery>();
  const inFlight = new Set<AbortController>();
  let held: Delivery[] = [];
  let holdTimer: NodeJS.Timeout | undefined;
  let counters = emptyStats();
  let generation = 0;
  let closed = false;

  function later(fn: () => void, delayMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, delayMs);
    timers.add(timer);
    return timer;
  }

  function enqueue(event: EventObject): void {
    if (closed) return;
    counters.events += 1;
    const current = faults();
    if (random() < current.webhookDropRate) {
      counters.dropped += 1;
      logger.debug({ eventId: event.id, eventType: event.type }, 'webhook dropped by fault injection');
      return;
    }
    const copies = random() < current.webhookDuplicateRate ? 2 : 1;
    if (copies === 2) counters.duplicated += 1;
    // Stripe sends the JSON pretty-printed; receivers must verify the exact bytes, so mimic it.
    const payload = JSON.stringify(event, null, 2);
    for (let copy = 0; copy < copies; copy += 1) {
      const delivery = track({ eventId: event.id, eventType: event.type, payload });
      if (current.webhookReorder) hold(delivery, current);
      else later(() => void attempt(delivery), current.webhookDelayMs);
    }
    onPendingChange();
  }

  function track(webhook: PendingWebhook): Delivery {
    const delivery: Delivery = { ...webhook, attempts: 0, generation };
    pendingDeliveries.add(delivery);
    counters.pending += 1;
    return delivery;
  }

  function settle(delivery: Delivery): void {
    pendingDeliveries.delete(delivery);
    counters.pending -= 1;
    onPendingChange();
  }

  function resume(saved: readonly PendingWebhook[]): void {
    if (closed || saved.length === 0) return;
    for (const webhook of saved) {
      const delivery = track(webhook);
      later(() => void attempt(delivery), faults().webhookDelayMs);
    }
    logger.info({ deliveries: saved.length }, 'resuming webhook deliveries pending before the restart');
  }

  function hold(delivery: Delivery, current: SandboxFaults): void {
    held.push(delivery);
    holdTimer ??= later(() => {
      holdTimer = undefined;
      releaseHeld();
    }, current.webhookReorderWindowMs);
  }

  function releaseHeld(): void {
    if (holdTimer) {
      clearTimeout(holdTimer);
      timers.delete(holdTimer);
      holdTimer = undefined;
    }
    const batch = held.reverse();
    held = [];
    if (batch.length === 0) return;
    // One after another, so the receiver sees exactly the reversed order rather than a race between sockets.
    later(() => void deliverInOrder(batch), faults().webhookDelayMs);
  }

  async function deliverInOrder(batch: Delivery[]): Promise<void> {
    for (const delivery of batch) await attempt(delivery);
  }

  async function attempt(delivery: Delivery): Promise<void> {
    if (closed || delivery.generation !== generation) return;
    delivery.attempts += 1;
    counters.attempted += 1;
    const outcome = await post(delivery);
    if (closed || delivery.generation !== generation) return;
    if (outcome.ok) {
      counters.succeeded += 1;
      settle(delivery);
      return;
    }
    counters.failed += 1;
    const log = { eventId: delivery.eventId, eventType: delivery.eventType, attempt: delivery.attempts, ...outcome };
    if (delivery.attempts >= retry.maxAttempts) {
      counters.abandoned += 1;
      settle(delivery);
      logger.warn(log, 'webhook delivery abandoned after the last attempt');
      return;
    }
    const delayMs = Math.min(retry.baseDelayMs * 2 ** (delivery.attempts - 1), retry.maxDelayMs);
    logger.info({ ...log, retryInMs: delayMs }, 'webhook delivery failed; will retry');
    later(() => void attempt(delivery), delayMs);
  }

  async function post(delivery: Delivery): Promise<{ ok: boolean; status?: number; error?: string }> {
    const controller = new AbortController();
    inFlight.add(controller);
    const timeout = setTimeout(() => controller.abort(), retry.requestTimeoutMs);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signStripePayload(delivery.payload, secret, now() / 1000),
        },
        body: delivery.payload,
        signal: controller.signal,
      });
      // Drain the body so the connection can be reused or closed.
      await response.arrayBuffer();
      return { ok: response.status >= 200 && response.status < 300, status: response.status };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timeout);
      inFlight.delete(controller);
    }
  }

  function cancelEverything(): void {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    holdTimer = undefined;
    held = [];
    for (const controller of inFlight) controller.abort();
    inFlight.clear();
  }

  return {
    enqueue,
    releaseHeld,
    stats: () => ({ ...counters }),
    reset() {
      generation += 1;
      cancelEverything();
      pendingDeliveries.clear();
      counters = emptyStats();
      onPendingChange();
    },
    close() {
      closed = true;
      cancelEverything();
    },
    pending: () => [...pendingDeliveries].map(({ eventId, eventType, payload }) => ({ eventId, eventType, payload })),
    resume,
  };
}
