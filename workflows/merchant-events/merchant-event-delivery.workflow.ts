// One workflow per (merchant endpoint, order): delivers that order's events to that endpoint one at a time, in
// sequence order, each retried with exponential backoff until it is accepted or the retry window (3 days by default)
// has passed. The database says what is pending; signals only wake the workflow to look again. Separate workflows per
// endpoint and order, on their own task queue, mean a dead endpoint delays nothing but its own events.
import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { MerchantEventActivities } from '../../activities/merchant-events/merchant-event-activity.types';
import {
  MERCHANT_EVENT_ERROR_TYPES,
  merchantEventsRecordedSignal,
  type MerchantDeliveryWorkflowInput,
  type MerchantDeliveryWorkflowResult,
  type MerchantEventSweepInput,
} from '../../contracts/merchant-events.contract';
import type { SweepResult } from '../../activities/merchant-events/merchant-event-activity.types';

/** Rounds of "list what is pending, deliver it" per run before continuing as new (bounds the history). */
const ROUNDS_PER_RUN = 100;

function bookkeeping() {
  return proxyActivities<
    Pick<
      MerchantEventActivities,
      'listPendingMerchantDeliveries' | 'giveUpMerchantDelivery' | 'sweepMerchantDeliveries'
    >
  >({
    startToCloseTimeout: '1m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  });
}

export async function merchantEventDeliveryWorkflow(
  input: MerchantDeliveryWorkflowInput,
): Promise<MerchantDeliveryWorkflowResult> {
  let wakeUps = 0;
  setHandler(merchantEventsRecordedSignal, () => {
    wakeUps += 1;
  });
  const { endpointId, orderId } = input;
  const db = bookkeeping();
  const { deliverMerchantEvent } = proxyActivities<Pick<MerchantEventActivities, 'deliverMerchantEvent'>>({
    startToCloseTimeout: input.attemptTimeoutMs,
    // The retry window: measured from the first attempt of this event.
    scheduleToCloseTimeout: input.retry.giveUpAfterMs,
    retry: {
      initialInterval: input.retry.initialIntervalMs,
      backoffCoefficient: input.retry.backoffCoefficient,
      maximumInterval: input.retry.maximumIntervalMs,
      nonRetryableErrorTypes: [MERCHANT_EVENT_ERROR_TYPES.endpointMisconfigured],
    },
  });

  const result: MerchantDeliveryWorkflowResult = { delivered: 0, gaveUp: 0, stopped: 'idle' };
  for (let round = 0; round < ROUNDS_PER_RUN; round += 1) {
    const seen = wakeUps;
    const pending = await db.listPendingMerchantDeliveries({ endpointId, orderId });
    if (!pending.endpointEnabled) return { ...result, stopped: 'endpoint_disabled' };
    for (const eventId of pending.eventIds) {
      try {
        const { outcome } = await deliverMerchantEvent({ eventId, endpointId });
        if (outcome === 'endpoint_disabled') return { ...result, stopped: 'endpoint_disabled' };
        if (outcome === 'delivered') result.delivered += 1;
      } catch (error) {
        if (isCancellation(error) || !(error instanceof ActivityFailure)) throw error;
        // Out of retries: the event is failed (an operator can redeliver it) and the next one goes. Later events
        // are not held back for ever: receivers order by sequence number and drop what is older than they have.
        log.warn('merchant event delivery given up', { eventId, endpointId, reason: error.cause?.message });
        await db.giveUpMerchantDelivery({ eventId, endpointId, reason: error.cause?.message ?? 'retries exhausted' });
        result.gaveUp += 1;
      }
    }
    if (pending.eventIds.length === 0) {
      // Everything sent: wait a little for the order's next event, then end (the next one starts a new run).
      if (!(await condition(() => wakeUps > seen, input.idleMs))) {
        await condition(allHandlersFinished);
        return result;
      }
    }
  }
  await condition(allHandlersFinished);
  return continueAsNew<typeof merchantEventDeliveryWorkflow>(input);
}

/** Run by the sweeper schedule: starts deliveries that were recorded but never started (a lost notification). */
export async function merchantEventSweepWorkflow(input: MerchantEventSweepInput): Promise<SweepResult> {
  return bookkeeping().sweepMerchantDeliveries(input);
}
