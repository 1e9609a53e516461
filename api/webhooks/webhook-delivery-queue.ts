// Delivers stored webhook events after their gateway has been answered: a bounded first-in-first-out queue with a
// bounded number of deliveries in flight, fewer while webhooks are pouring in (delivery-pacer.ts). When it is full an event is simply not taken; it is already stored as
// `received`, and the sweeper delivers it later, so a burst of webhooks never becomes an unbounded pile of promises.
import { describeError, type Logger } from '../../config/logger';
import type { ApiMetrics } from '../../config/metrics';
import type { GatewayName } from '../../contracts/order.contract';
import { performance } from 'node:perf_hooks';
import { ApiError } from '../http/errors';
import { createDeliveryPacer, type DeliveryPacingSettings } from './delivery-pacer';
import { deliverStoredPaymentEvent, type StoredPaymentEvent, type WebhookDeliveryDeps } from './deliver-webhook-event';

export interface QueuedPaymentEvent extends StoredPaymentEvent {
  gateway: GatewayName;
  /**
   * Bound to the event by whoever handed it over: the webhook's request logger (so the delivery's lines carry the
   * request ID of the answer that stored it), or the sweeper's.
   */
  logger: Logger;
}

export interface WebhookDeliveryQueue {
  /**
   * Takes an event for delivery unless the queue is full or closed (false: the row waits for the sweeper). An event
   * already waiting or in flight here is not taken twice.
   */
  offer(event: QueuedPaymentEvent): boolean;
  /**
   * One signed webhook taken in (stored or not): a burst of them lowers the deliveries in flight until it ends, so
   * the deliveries do not slow the answers the gateway waits for.
   */
  noteIntake(): void;
  /** How many more events offer() would take now. */
  freeSlots(): number;
  /** Takes nothing more, forgets what waits (some replica's sweeper delivers it), waits for what is in flight. */
  close(): Promise<void>;
}

export interface WebhookDeliveryQueueSettings extends DeliveryPacingSettings {
  limit: number;
  /** Monotonic milliseconds; tests pass their own. */
  now?: () => number;
}

export function createWebhookDeliveryQueue(
  deps: WebhookDeliveryDeps & { metrics: Pick<ApiMetrics, 'webhookDelivered'> },
  { limit, now = () => performance.now(), ...pacing }: WebhookDeliveryQueueSettings,
): WebhookDeliveryQueue {
  const pacer = createDeliveryPacer(pacing, now);
  const waiting: QueuedPaymentEvent[] = [];
  /** Row IDs waiting or in flight. */
  const taken = new Set<number>();
  const inFlight = new Set<Promise<void>>();
  let closed = false;

  const deliver = async ({ logger, ...event }: QueuedPaymentEvent): Promise<void> => {
    try {
      const delivery = await deliverStoredPaymentEvent(deps, event, logger);
      if (delivery.result === 'delivered') deps.metrics.webhookDelivered(event.gateway, delivery.secondsSinceReceived);
    } catch (error) {
      // The row says what happened (still `received` for the sweeper, or `failed` for the dead-letter queue).
      if (error instanceof ApiError) logger.warn({ code: error.code }, 'webhook not delivered; the sweeper retries it');
      else logger.error({ err: describeError(error) }, 'webhook delivery failed');
    }
  };

  /** Orders with a delivery in flight here. */
  const ordersInFlight = new Set<string>();

  const pump = () => {
    // Read on every start: a delivery that ends after a burst is over starts the next ones at full concurrency.
    while (!closed && inFlight.size < pacer.concurrency()) {
      // One delivery per order at a time, oldest first: the next event of an order sees what the last one recorded
      // (a capture already signalled is not signalled again), and its signals arrive in the order they came.
      const next = waiting.findIndex((candidate) => !ordersInFlight.has(candidate.orderId));
      if (next === -1) return;
      const [event] = waiting.splice(next, 1) as [QueuedPaymentEvent];
      ordersInFlight.add(event.orderId);
      const running: Promise<void> = deliver(event).finally(() => {
        inFlight.delete(running);
        ordersInFlight.delete(event.orderId);
        taken.delete(event.id);
        pump();
      });
      inFlight.add(running);
    }
  };

  return {
    offer(event) {
      if (closed) return false;
      if (taken.has(event.id)) return true;
      if (waiting.length >= limit) return false;
      taken.add(event.id);
      waiting.push(event);
      // On the next turn of the event loop, so the answer to the gateway is on its way before any delivery starts.
      setImmediate(pump);
      return true;
    },
    noteIntake: () => pacer.noteArrival(),
    freeSlots: () => (closed ? 0 : Math.max(0, limit - waiting.length)),
    async close() {
      closed = true;
      for (const event of waiting.splice(0)) taken.delete(event.id);
      await Promise.all(inFlight);
    },
  };
}
