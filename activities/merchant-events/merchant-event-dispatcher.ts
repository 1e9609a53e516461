// Starts (or wakes) the delivery workflow of an (endpoint, order) pair with signal-with-start: used by the worker's
// LISTEN on new events and by the sweeper. Starting twice is harmless: a running workflow only gets a wake-up signal,
// and it reads what to send from the database, never from the signal.
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Logger } from '../../config/logger';
import {
  MERCHANT_EVENT_DELIVERY_WORKFLOW_TYPE,
  merchantDeliveryWorkflowId,
  merchantEventsRecordedSignal,
  type MerchantDeliveryWorkflowInput,
  type MerchantEventSweepInput,
} from '../../contracts/merchant-events.contract';
import {
  markDispatched,
  pendingPairs,
  sweepCandidates,
  type DeliveryPair,
} from '../../db/merchant-events/merchant-deliveries.repo';
import type { MerchantEventsNotice } from '../../db/merchant-events/merchant-events.repo';
import type { Pool } from '../../db/pool';

export interface MerchantEventDispatcherDeps {
  pool: Pool;
  temporal: Client;
  /** The merchant events task queue (merchantEventTaskQueue). */
  taskQueue: string;
  /** Everything of a workflow's input but the pair: retry policy and timeouts from the worker's configuration. */
  delivery: Omit<MerchantDeliveryWorkflowInput, 'endpointId' | 'orderId'>;
  logger: Logger;
}

export interface MerchantEventDispatcher {
  /** A notification from a committed transaction: wake the workflows of the pairs it names. */
  dispatch(notice: MerchantEventsNotice): Promise<number>;
  /** The outbox sweep: start what was never started, and what waits although its workflow has ended. */
  sweep(options: MerchantEventSweepInput): Promise<{ started: number; alreadyRunning: number }>;
}

/** Pairs handled per notification; anything beyond is left to the sweeper. */
const DISPATCH_LIMIT = 1_000;

export function createMerchantEventDispatcher(deps: MerchantEventDispatcherDeps): MerchantEventDispatcher {
  const { pool, temporal, taskQueue, logger } = deps;

  async function signalWithStart(pair: DeliveryPair): Promise<void> {
    const workflowId = merchantDeliveryWorkflowId(pair.endpointId, pair.orderId);
    const input: MerchantDeliveryWorkflowInput = { ...deps.delivery, ...pair };
    try {
      await temporal.workflow.signalWithStart(MERCHANT_EVENT_DELIVERY_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [input],
        signal: merchantEventsRecordedSignal,
        signalArgs: [],
      });
    } catch (error) {
      // A run that is closing as we signal: the next notification or sweep starts a new one.
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
    await markDispatched(pool, pair);
  }

  async function isRunning(pair: DeliveryPair): Promise<boolean> {
    try {
      const description = await temporal.workflow
        .getHandle(merchantDeliveryWorkflowId(pair.endpointId, pair.orderId))
        .describe();
      return description.status.name === 'RUNNING';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  }

  return {
    async dispatch(notice) {
      const pairs = await pendingPairs(pool, notice, DISPATCH_LIMIT);
      for (const pair of pairs) await signalWithStart(pair);
      return pairs.length;
    },
    async sweep(options) {
      const pairs = await sweepCandidates(pool, options);
      let started = 0;
      let alreadyRunning = 0;
      for (const { neverDispatched, ...pair } of pairs) {
        // A delivery no workflow was told about must be signalled even if one runs (it may be idling towards its
        // end without looking again). Otherwise a running workflow is retrying with backoff: leave it alone rather
        // than grow its history with a signal every sweep.
        if (!neverDispatched && (await isRunning(pair))) {
          await markDispatched(pool, pair);
          alreadyRunning += 1;
          continue;
        }
        await signalWithStart(pair);
        started += 1;
      }
      if (started > 0) logger.info({ started, alreadyRunning }, 'merchant event sweep started deliveries');
      return { started, alreadyRunning };
    },
  };
}
