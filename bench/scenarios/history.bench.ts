// P6: history events and (estimated) Temporal Cloud billable actions per order, for each path an order takes, read
// from the closed workflow's history. Durations are shortened so a run takes seconds; what a shorter duration changes
// is the number of timer-driven status polls, so the 30-minute expiry is computed from two measured runs:
//   base: no periodic polls at all (poll and grace-poll intervals longer than its 5 s TTL and 5 s grace window);
//   many: a poll every second through a 6 s TTL and a 3 s grace window;
// events per poll = (many − base) / (polls(many) − polls(base)), and the 30-minute order is base + that times the
// periodic polls the production cadence makes (domain/poll-schedule.ts: 30 s, ×2, at most 5 m). The sandbox's
// Stripe expires the Checkout Session when the order closes, so its grace window makes no polls (a gateway that
// cannot close its intents, eSewa or Khalti, adds a grace poll every 5 m through the 1 h window).
import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { randomBytes } from 'node:crypto';
import { orderWorkflowId } from '../../contracts/order.contract';
import { pollDelayMs } from '../../domain/poll-schedule';
import type { Pool } from '../../db/pool';
import { BARE_WORKFLOW_TYPE, bareCheckoutUpdate, barePaidSignal } from '../bare/bare.contract';
import { sleep } from '../support/processes';
import { watchOrders } from '../support/order-watcher';
import type { OrderpayApi, OrderpayStack } from '../support/stack';

const EventType = temporal.api.enums.v1.EventType;

export interface Extrapolated {
  events: number;
  billableActions: number;
  periodicPolls: number;
  eventsPerPoll: number;
}

export interface HistoryCount {
  events: number;
  billableActions: number;
  /**
   * fetchPaymentStatus activities plus local-activity markers. Polls run as local activities in current runs, and a
   * marker does not name its activity outside the (encrypted) payload; the two expiry runs record the same other local
   * activities, so their difference is the difference in polls, which is all this is used for.
   */
  statusPolls: number;
}

export interface HistoryFigures {
  paidByWebhook: HistoryCount;
  paidByPoll: HistoryCount;
  refunded: HistoryCount;
  expiredShortBase: HistoryCount;
  expiredShortMany: HistoryCount;
  /** Extrapolated to a 30-minute TTL and Stripe's default cadence (GATEWAY_POLL_CADENCE's default, 15 m). */
  expired30m: Extrapolated;
  /** The same with the POLL_* defaults (30 s doubling to 5 m), i.e. GATEWAY_POLL_CADENCE set empty. */
  expired30mPollDefaults: Extrapolated;
  /** The POLL_* defaults for a gateway that cannot close its intents (eSewa, Khalti): its grace window polls too. */
  expired30mWithGracePolls: Extrapolated;
  bare: HistoryCount;
}

/** The policy of the `base` API: no periodic poll ever falls due; the webhook, refund and base-expiry paths use it. */
export const HISTORY_BASE_API_ENV = {
  GATEWAY_POLL_CADENCE: '',
  ORDER_TTL: '5s',
  ORDER_GRACE_PERIOD: '5s',
  POLL_INITIAL_INTERVAL: '1h',
  POLL_MAX_INTERVAL: '1h',
  GRACE_POLL_INTERVAL: '1h',
};
/** The `many` API: a poll every second. */
export const HISTORY_MANY_API_ENV = {
  GATEWAY_POLL_CADENCE: '',
  ORDER_TTL: '6s',
  ORDER_GRACE_PERIOD: '3s',
  POLL_INITIAL_INTERVAL: '1s',
  POLL_BACKOFF_COEFFICIENT: '1',
  POLL_MAX_INTERVAL: '1s',
  GRACE_POLL_INTERVAL: '1s',
};

/**
 * Billable actions as Temporal Cloud counts them from a history (docs.temporal.io/cloud/actions): a start (or
 * continue-as-new), each signal, each accepted update, each activity scheduled, each timer, each search-attribute
 * upsert, each child start or external signal/cancel, each local-activity marker. Patch (version) markers are not
 * counted, and neither are queries, heartbeats or activity retries hidden in the last attempt.
 */
function countHistory(events: temporal.api.history.v1.IHistoryEvent[]): HistoryCount {
  let billableActions = 0;
  let statusPolls = 0;
  for (const event of events) {
    switch (event.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
      case EventType.EVENT_TYPE_TIMER_STARTED:
      case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
      case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
      case EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
      case EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
        billableActions += 1;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        billableActions += 1;
        if (event.activityTaskScheduledEventAttributes?.activityType?.name === 'fetchPaymentStatus') statusPolls += 1;
        break;
      case EventType.EVENT_TYPE_MARKER_RECORDED:
        if (event.markerRecordedEventAttributes?.markerName === 'core_local_activity') {
          billableActions += 1;
          statusPolls += 1;
        }
        break;
      default:
        break;
    }
  }
  return { events: events.length, billableActions, statusPolls };
}

/** One line per event: its type, and the marker's or activity's name (what to count when a figure moves). */
function describeEvents(events: temporal.api.history.v1.IHistoryEvent[]): string {
  return events
    .map((event) => {
      const type = EventType[event.eventType ?? 0]?.replace('EVENT_TYPE_', '') ?? String(event.eventType);
      const name =
        event.markerRecordedEventAttributes?.markerName ??
        event.activityTaskScheduledEventAttributes?.activityType?.name;
      return `  ${type}${name ? ` ${name}` : ''}\n`;
    })
    .join('');
}

async function closedHistory(client: Client, workflowId: string, timeoutMs = 120_000): Promise<HistoryCount> {
  const handle = client.workflow.getHandle(workflowId);
  const deadline = Date.now() + timeoutMs;
  while ((await handle.describe()).status.name === 'RUNNING') {
    if (Date.now() > deadline) throw new Error(`${workflowId} did not close within ${timeoutMs / 1000}s`);
    await sleep(250);
  }
  const history = await handle.fetchHistory();
  if (process.env.BENCH_PRINT_HISTORY === '1')
    process.stderr.write(`${workflowId}\n${describeEvents(history.events ?? [])}`);
  return countHistory(history.events ?? []);
}

/** The POLL_* defaults: POLL_INITIAL_INTERVAL 30s, POLL_BACKOFF_COEFFICIENT 2, POLL_MAX_INTERVAL 5m, grace 1h. */
export const POLL_DEFAULTS_CADENCE = {
  poll: { initialIntervalMs: 30_000, backoffCoefficient: 2, maxIntervalMs: 5 * 60_000 },
  gracePollIntervalMs: 5 * 60_000,
};
/** Stripe's default (GATEWAY_POLL_CADENCE=stripe=15m/15m/15m): the seeds' design, for reliable signed webhooks. */
export const STRIPE_DEFAULT_CADENCE = {
  poll: { initialIntervalMs: 15 * 60_000, backoffCoefficient: 2, maxIntervalMs: 15 * 60_000 },
  gracePollIntervalMs: 15 * 60_000,
};

/**
 * Polls an order left unpaid makes through its TTL and a 1-hour grace window (not the final check at expiry, which
 * the measured orders make too); the window polls, and looks a last time, only when the gateway could not close the
 * intent for good (`closesIntents` false).
 */
export function periodicPolls(
  ttlMs: number,
  cadence: typeof POLL_DEFAULTS_CADENCE,
  { closesIntents }: { closesIntents: boolean },
): number {
  let polls = 0;
  for (let at = pollDelayMs(cadence.poll, 0); at < ttlMs; at += pollDelayMs(cadence.poll, polls)) polls += 1;
  const graceMs = 60 * 60_000;
  // A grace poll every interval until the window ends, where the last look replaces the one due then.
  const gracePolls = closesIntents ? 0 : Math.ceil(graceMs / cadence.gracePollIntervalMs);
  return polls + gracePolls;
}

async function checkoutOrThrow(api: OrderpayApi, orderId: string): Promise<string> {
  const answer = await api.checkout(orderId);
  if (answer.status !== 201 || !answer.body.paymentUrl) {
    throw new Error(`POST /orders answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  }
  return answer.body.paymentUrl;
}

export async function measureHistories(
  stack: OrderpayStack,
  pool: Pool,
  client: Client,
  bareTaskQueue: string,
): Promise<HistoryFigures> {
  const run = randomBytes(3).toString('hex');
  const id = (path: string) => `bench-p6-${run}-${path}`;
  const [base, many] = [await stack.addApi(HISTORY_BASE_API_ENV), await stack.addApi(HISTORY_MANY_API_ENV)];
  const watcher = watchOrders(pool, ['PAID']);
  const refundedWatcher = watchOrders(pool, ['REFUNDED']);
  try {
    // Webhooks on: paid by the signed webhook (no poll is due for an hour), and refunded within the grace window.
    const paidByWebhook = async () => {
      const paymentUrl = await checkoutOrThrow(base, id('webhook'));
      const paid = watcher.waitFor(id('webhook'));
      await stack.pay(paymentUrl);
      await paid;
      return closedHistory(client, orderWorkflowId(id('webhook')));
    };
    const refunded = async () => {
      const paymentUrl = await checkoutOrThrow(base, id('refund'));
      const paid = watcher.waitFor(id('refund'));
      await stack.pay(paymentUrl);
      await paid;
      // 503 refund_pending: under way, and the API stopped waiting; the same request (same key) returns the result,
      // and runs the refund on its own workflow if the order's closed meanwhile.
      let answer = await base.refund(id('refund'));
      for (let attempt = 1; answer.status === 503 && attempt < 30; attempt += 1) {
        await sleep(1_000);
        answer = await base.refund(id('refund'));
      }
      if (answer.status !== 201 && answer.status !== 200) {
        throw new Error(`the refund answered ${answer.status}: ${answer.body}`);
      }
      await refundedWatcher.waitFor(id('refund'), 30_000).catch(async (error: unknown) => {
        const [history, refunds] = await Promise.all([
          pool.query('SELECT to_status, reason FROM order_status_history WHERE order_id = $1 ORDER BY id', [
            id('refund'),
          ]),
          pool.query('SELECT state, amount_minor FROM refunds WHERE order_id = $1', [id('refund')]),
        ]);
        throw new Error(
          `${String(error)}; refund answered ${answer.status} ${answer.body}; history ${JSON.stringify(history.rows)}; refunds ${JSON.stringify(refunds.rows)}`,
        );
      });
      return closedHistory(client, orderWorkflowId(id('refund')));
    };
    const expired = async (api: OrderpayApi, path: string) => {
      await checkoutOrThrow(api, id(path));
      return closedHistory(client, orderWorkflowId(id(path)));
    };
    const [webhookCount, refundCount, baseCount, manyCount] = await Promise.all([
      paidByWebhook(),
      refunded(),
      expired(base, 'expired-base'),
      expired(many, 'expired-many'),
    ]);
    // Webhooks off: only the first status poll (1 s after checkout) can find the payment.
    await stack.dropWebhooks(1);
    let pollCount: HistoryCount;
    try {
      const paymentUrl = await checkoutOrThrow(many, id('poll'));
      const paid = watcher.waitFor(id('poll'));
      await stack.pay(paymentUrl);
      await paid;
      pollCount = await closedHistory(client, orderWorkflowId(id('poll')));
    } finally {
      await stack.dropWebhooks(0);
    }
    const eventsPerPoll = (manyCount.events - baseCount.events) / (manyCount.statusPolls - baseCount.statusPolls);
    const actionsPerPoll =
      (manyCount.billableActions - baseCount.billableActions) / (manyCount.statusPolls - baseCount.statusPolls);
    // The orders measured are Stripe's, whose sessions the sandbox expires when the order closes; the last figure
    // applies the same per-poll cost to a gateway whose grace window polls.
    const extrapolate = (cadence: typeof POLL_DEFAULTS_CADENCE, closesIntents = true): Extrapolated => {
      const polls = periodicPolls(30 * 60_000, cadence, { closesIntents });
      return {
        events: Math.round(baseCount.events + eventsPerPoll * polls),
        billableActions: Math.round(baseCount.billableActions + actionsPerPoll * polls),
        periodicPolls: polls,
        eventsPerPoll,
      };
    };
    return {
      paidByWebhook: webhookCount,
      paidByPoll: pollCount,
      refunded: refundCount,
      expiredShortBase: baseCount,
      expiredShortMany: manyCount,
      expired30m: extrapolate(STRIPE_DEFAULT_CADENCE),
      expired30mPollDefaults: extrapolate(POLL_DEFAULTS_CADENCE),
      expired30mWithGracePolls: extrapolate(POLL_DEFAULTS_CADENCE, false),
      bare: await bareHistory(client, bareTaskQueue, run),
    };
  } finally {
    watcher.stop();
    refundedWatcher.stop();
  }
}

async function bareHistory(client: Client, taskQueue: string, run: string): Promise<HistoryCount> {
  const workflowId = `bare-p6-${run}`;
  await client.workflow.executeUpdateWithStart(bareCheckoutUpdate, {
    startWorkflowOperation: new WithStartWorkflowOperation(BARE_WORKFLOW_TYPE, {
      workflowId,
      taskQueue,
      args: [{ orderId: run }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });
  await client.workflow.getHandle(workflowId).signal(barePaidSignal);
  return closedHistory(client, workflowId);
}
