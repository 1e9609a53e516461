// Every API replica runs one: it finds stored webhook events that are still waiting for delivery (the API died after
// answering the gateway, Temporal was down, the delivery queue was full) and hands them to the delivery queue, oldest
// first. Several replicas may read the same rows; each delivery claims its row first, so exactly one signals.
import { describeError, type Logger } from '../../config/logger';
import { listDueWebhookDeliveries } from '../../db/webhooks/webhook-events.repo';
import type { Pool } from '../../db/pool';
import { planStoredEvent } from './deliver-webhook-event';
import type { WebhookDeliveryQueue } from './webhook-delivery-queue';

export interface WebhookSweeperSettings {
  /** Time between sweeps; also how long a fresh row is left to the queue of the API that stored it. */
  intervalMs: number;
  /** Rows read per sweep (fewer when the queue has less room). */
  batch: number;
  /** The longest wait before retrying a row whose deliveries keep failing; the first wait is one interval. */
  retryMaxMs: number;
}

export interface WebhookSweeper {
  /** One sweep now; answers how many rows it handed over or closed. */
  sweep(): Promise<number>;
  /** No further sweeps; waits for the one under way. */
  stop(): Promise<void>;
}

export function startWebhookSweeper(
  deps: { pool: Pool; queue: WebhookDeliveryQueue; logger: Logger },
  settings: WebhookSweeperSettings,
): WebhookSweeper {
  const logger = deps.logger.child({ component: 'webhook-sweeper' });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> = Promise.resolve(0);

  const sweepOnce = async (): Promise<number> => {
    const limit = Math.min(settings.batch, deps.queue.freeSlots());
    if (limit === 0) return 0;
    const rows = await listDueWebhookDeliveries(deps.pool, {
      olderThanMs: settings.intervalMs,
      retryInitialMs: settings.intervalMs,
      retryMaxMs: settings.retryMaxMs,
      limit,
    });
    let handled = 0;
    for (const row of rows) {
      if (stopped) break;
      const rowLogger = logger.child({ gateway: row.gateway, eventId: row.eventId, orderId: row.orderId });
      const plan = await planStoredEvent(deps.pool, row, rowLogger);
      if (plan.outcome !== 'deliver') {
        handled++;
        continue;
      }
      if (!deps.queue.offer({ ...plan.event, gateway: row.gateway, logger: rowLogger })) break;
      handled++;
    }
    if (handled > 0) logger.info({ rows: handled }, 'undelivered webhooks handed to the delivery queue');
    return handled;
  };

  const sweep = (): Promise<number> => {
    // One sweep at a time: a timer firing during a manual sweep waits for it rather than reading the same rows.
    running = running.then(sweepOnce, sweepOnce);
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      sweep()
        .catch((error: unknown) => logger.warn({ err: describeError(error) }, 'webhook sweep failed; next one retries'))
        .finally(schedule);
    }, settings.intervalMs);
    // A sweep due must never keep a stopping process alive.
    timer.unref();
  };
  schedule();

  return {
    sweep,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running.catch(() => undefined);
    },
  };
}
