// The worker's part in merchant events: the configured endpoint, the LISTEN that starts deliveries as soon as a
// transaction recording events commits, and the sweeper schedule that starts whatever a lost notification missed.
import {
  type Client,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import pg from 'pg';
import type { MerchantEventDispatcher } from '../activities/merchant-events/merchant-event-dispatcher';
import { describeError, type Logger } from '../config/logger';
import {
  MERCHANT_EVENT_SWEEP_WORKFLOW_TYPE,
  merchantEventSweepScheduleId,
  type MerchantEventSweepInput,
} from '../contracts/merchant-events.contract';
import { disableConfiguredEndpoint, upsertConfiguredEndpoint } from '../db/merchant-events/merchant-endpoints.repo';
import { MERCHANT_EVENTS_CHANNEL, type MerchantEventsNotice } from '../db/merchant-events/merchant-events.repo';
import type { Pool } from '../db/pool';
import type { merchantEventSweepWorkflow } from '../workflows/merchant-events/merchant-event-delivery.workflow';

/** MERCHANT_WEBHOOK_URL is the truth for the configured endpoint: written when set, disabled when unset. */
export async function syncConfiguredEndpoint(
  pool: Pool,
  config: { url: string | undefined; includeCustomer: boolean },
  logger: Logger,
): Promise<void> {
  if (config.url === undefined) {
    await disableConfiguredEndpoint(pool);
    return;
  }
  const endpoint = await upsertConfiguredEndpoint(pool, { url: config.url, includeCustomer: config.includeCustomer });
  if (!endpoint.enabled) {
    logger.warn(
      { endpointId: endpoint.endpointId, disabledReason: endpoint.disabledReason },
      'the configured merchant endpoint is disabled (enable it through the admin API)',
    );
  }
}

function parseNotice(payload: string | undefined): MerchantEventsNotice | undefined {
  try {
    const notice = JSON.parse(payload ?? '') as Partial<Record<'orderId' | 'endpointId', unknown>>;
    if (typeof notice.orderId === 'string') return { orderId: notice.orderId };
    if (typeof notice.endpointId === 'string') return { endpointId: notice.endpointId };
  } catch {
    // Not ours: ignored below.
  }
  return undefined;
}

export interface MerchantEventListener {
  stop(): Promise<void>;
}

/**
 * LISTENs on its own connection and dispatches each notification. A lost connection is re-opened after a pause;
 * notifications sent meanwhile are lost, which is what the sweeper is for.
 */
export function listenForMerchantEvents(
  databaseUrl: string,
  dispatcher: MerchantEventDispatcher,
  logger: Logger,
  reconnectDelayMs = 2_000,
): MerchantEventListener {
  let stopped = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  // One dispatch at a time, in arrival order: a burst of notices becomes a queue, not a storm of Temporal calls.
  let queue: Promise<void> = Promise.resolve();

  const onNotification = (message: pg.Notification) => {
    const notice = parseNotice(message.payload);
    if (!notice) return;
    queue = queue.then(() =>
      dispatcher.dispatch(notice).then(
        () => undefined,
        (error: unknown) =>
          logger.warn({ err: describeError(error), notice }, 'merchant event dispatch failed; the sweeper retries it'),
      ),
    );
  };

  const connect = async () => {
    if (stopped) return;
    const next = new pg.Client({ connectionString: databaseUrl, application_name: 'orderpay-merchant-events' });
    next.on('notification', onNotification);
    next.on('error', (error) => {
      logger.warn({ err: { name: error.name, message: error.message } }, 'merchant event listener connection lost');
      void next.end().catch(() => undefined);
      if (client === next) client = undefined;
      scheduleReconnect();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${MERCHANT_EVENTS_CHANNEL}`);
      client = next;
      if (stopped) await next.end();
    } catch (error) {
      logger.warn({ err: describeError(error) }, 'merchant event listener could not connect');
      await next.end().catch(() => undefined);
      scheduleReconnect();
    }
  };
  const scheduleReconnect = () => {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, reconnectDelayMs);
  };

  void connect();
  return {
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      await client?.end().catch(() => undefined);
      await queue;
    },
  };
}

/** The sweeper schedule of this deployment's merchant event task queue: created, or updated to the configuration. */
export async function ensureMerchantEventSweepSchedule(
  client: Client,
  options: { taskQueue: string; intervalMs: number },
  logger: Logger,
): Promise<void> {
  const scheduleId = merchantEventSweepScheduleId(options.taskQueue);
  const input: MerchantEventSweepInput = {
    // Younger deliveries belong to the notification that is surely still being handled.
    olderThanMs: Math.min(options.intervalMs, 30_000),
    // A pending delivery whose workflow was started this long ago is checked again (its run may have ended).
    redispatchAfterMs: Math.max(options.intervalMs * 5, 60_000),
    limit: 500,
  };
  const action: ScheduleOptionsStartWorkflowAction<typeof merchantEventSweepWorkflow> = {
    type: 'startWorkflow',
    workflowType: MERCHANT_EVENT_SWEEP_WORKFLOW_TYPE,
    taskQueue: options.taskQueue,
    workflowId: `merchant-event-sweep-${options.taskQueue}`,
    args: [input],
    // A sweep nobody runs (its workers are gone) does not linger.
    workflowExecutionTimeout: Math.max(options.intervalMs * 5, 60_000),
  };
  const spec = { intervals: [{ every: options.intervalMs }] };
  // One sweep at a time, and none made up after downtime: the next one covers everything anyway.
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.max(options.intervalMs, 60_000) };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  }
  logger.info({ scheduleId, intervalMs: options.intervalMs }, 'merchant event sweep schedule');
}
