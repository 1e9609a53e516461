// Reconciliation workflows.
// - reconciliationWorkflow: one gateway and window, ID from both (reconciliationRunWorkflowId), so the same window
//   never runs twice at once. Collect, classify set-wise, look up and repair in keyset batches; the history stays
//   bounded because every step is a handful of activities whatever the volume, and long lookup or repair phases
//   continue as new with their cursor.
// - scheduledReconciliationWorkflow: what the Temporal Schedule starts. It turns the scheduled time into the window
//   and runs the window's reconciliationWorkflow as a child under that deterministic ID.
// - reconciliationRefundWorkflow: refunds one gateway payment, ID from the payment, so it happens exactly once.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  allHandlersFinished,
  ApplicationFailure,
  ContinueAsNew,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OrderActivities } from '../activities/orders/order-activity.types';
import type { ReconciliationActivities } from '../activities/reconciliation/reconciliation-activity.types';
import { ORDER_ERROR_TYPES, orderSearchAttributes, type ConfirmManualRefundRequest } from '../contracts/order.contract';
import {
  DEFAULT_RECONCILIATION_TIMEOUTS,
  RECONCILIATION_ERROR_TYPES,
  confirmReconciliationManualRefundUpdate,
  duplicateCaptureRefundId,
  reconciliationRefundId,
  reconciliationRunWorkflowId,
  reconciliationSearchAttributes,
  scheduledStartTimeAttribute,
  type ReconciliationInput,
  type ReconciliationRefundInput,
  type ReconciliationSummary,
  type ReconciliationTimeouts,
  type ScheduledReconciliationInput,
  type ScheduledReconciliationResult,
} from '../contracts/reconciliation.contract';
import { CLOSED_UNPAID_STATUSES } from '../domain/order-status';
import { databaseWrites, gatewayRefunds } from './activity-policies';
import { failureType } from './failure-type';

const NON_RETRYABLE = [
  RECONCILIATION_ERROR_TYPES.reportNotFound,
  RECONCILIATION_ERROR_TYPES.settlementSourceMissing,
  ORDER_ERROR_TYPES.invalidTransition,
  ORDER_ERROR_TYPES.gatewayRejected,
  ORDER_ERROR_TYPES.orderNotFound,
  ORDER_ERROR_TYPES.refundRecordConflict,
  ORDER_ERROR_TYPES.invalidOrderData,
];

type BulkActivities = Pick<
  ReconciliationActivities,
  'beginReconciliationRun' | 'collectSettlementData' | 'classifySettlement'
>;
type BatchActivities = Pick<
  ReconciliationActivities,
  'lookUpOrderStatuses' | 'repairDiscrepancies' | 'finishReconciliationRun' | 'failReconciliationRun'
>;

/**
 * The run's activities with its timeouts. Reading a whole window and comparing it set-wise can take minutes at
 * volume; both retry until done. Every one heartbeats, so a worker that dies mid-activity is noticed after the
 * heartbeat timeout, not the whole start-to-close timeout, and another worker takes over.
 */
function runActivities(timeouts: ReconciliationTimeouts): { bulk: BulkActivities; batches: BatchActivities } {
  const heartbeatTimeout = timeouts.heartbeatMs;
  return {
    bulk: proxyActivities<BulkActivities>({
      startToCloseTimeout: timeouts.bulkMs,
      heartbeatTimeout,
      retry: {
        initialInterval: '2s',
        backoffCoefficient: 2,
        maximumInterval: '2m',
        nonRetryableErrorTypes: NON_RETRYABLE,
      },
    }),
    batches: proxyActivities<BatchActivities>({
      startToCloseTimeout: timeouts.batchMs,
      heartbeatTimeout,
      retry: {
        initialInterval: '1s',
        backoffCoefficient: 2,
        maximumInterval: '1m',
        nonRetryableErrorTypes: NON_RETRYABLE,
      },
    }),
  };
}

const refunds = proxyActivities<
  Pick<OrderActivities, 'refundPayment' | 'recordManualRefund'> & Pick<ReconciliationActivities, 'refundUnknownPayment'>
>(gatewayRefunds(NON_RETRYABLE));

const records = proxyActivities<
  Pick<OrderActivities, 'transitionOrder'> &
    Pick<ReconciliationActivities, 'completeReconciliationItem' | 'markManualRefundRequired'>
>(databaseWrites(NON_RETRYABLE));

const LOOKUP_BATCH = 200;
const REPAIR_BATCH = 100;
/** Well below Temporal's limits; a long phase continues as new with its cursor. */
const MAX_HISTORY_EVENTS = 2_000;

export async function reconciliationWorkflow(input: ReconciliationInput): Promise<ReconciliationSummary> {
  const info = workflowInfo();
  const runId = input.runId ?? info.runId;
  const { bulk, batches } = runActivities(input.timeouts ?? DEFAULT_RECONCILIATION_TIMEOUTS);
  const window = { runId, gateway: input.gateway, windowStart: input.windowStart, windowEnd: input.windowEnd };
  upsertSearchAttributes([
    { key: reconciliationSearchAttributes.gateway, value: input.gateway },
    { key: reconciliationSearchAttributes.openDiscrepancies, value: 0 },
  ]);
  const resume = input.resume;
  try {
    if (!resume) {
      await bulk.beginReconciliationRun({ ...window, workflowId: info.workflowId });
      const { reportId } = await bulk.collectSettlementData({ ...window, reportId: input.reportId });
      await bulk.classifySettlement({ ...window, reportId });
    }

    let stage = resume?.stage ?? 'lookups';
    let cursor = resume?.cursor ?? (stage === 'lookups' ? '' : '0');
    while (stage === 'lookups') {
      const batch = await batches.lookUpOrderStatuses({
        runId,
        gateway: input.gateway,
        after: cursor,
        batchSize: LOOKUP_BATCH,
      });
      if (batch.next === undefined) {
        stage = 'repairs';
        cursor = '0';
      } else {
        cursor = batch.next;
        if (historyIsLong())
          await continueAsNew<typeof reconciliationWorkflow>({ ...input, runId, resume: { stage, cursor } });
      }
    }
    for (;;) {
      const batch = await batches.repairDiscrepancies({
        runId,
        gateway: input.gateway,
        after: cursor,
        batchSize: REPAIR_BATCH,
      });
      if (batch.next === undefined) break;
      cursor = batch.next;
      if (historyIsLong())
        await continueAsNew<typeof reconciliationWorkflow>({ ...input, runId, resume: { stage: 'repairs', cursor } });
    }

    const summary = await batches.finishReconciliationRun({ runId, gateway: input.gateway });
    upsertSearchAttributes([
      { key: reconciliationSearchAttributes.openDiscrepancies, value: summary.openDiscrepancies },
    ]);
    return summary;
  } catch (error) {
    // Continuing as new is not a failure: the next execution carries the run on.
    if (isCancellation(error) || error instanceof ContinueAsNew) throw error;
    log.error('reconciliation run failed', { runId, gateway: input.gateway, type: failureType(error) });
    await batches.failReconciliationRun({ runId });
    throw error;
  }

  function historyIsLong(): boolean {
    const current = workflowInfo();
    return current.continueAsNewSuggested || current.historyLength > MAX_HISTORY_EVENTS;
  }
}

export async function scheduledReconciliationWorkflow(
  input: ScheduledReconciliationInput,
): Promise<ScheduledReconciliationResult> {
  const info = workflowInfo();
  // The schedule's nominal time, also for a backfill or a manual trigger; a plain start falls back to now.
  const scheduledAt = info.typedSearchAttributes.get(scheduledStartTimeAttribute) ?? new Date(info.startTime);
  const endMs = Math.floor(scheduledAt.getTime() / 1000) * 1000;
  const windowEnd = new Date(endMs).toISOString();
  const windowStart = new Date(endMs - input.windowMs - input.overlapMs).toISOString();
  const workflowId = reconciliationRunWorkflowId(input.gateway, windowStart, windowEnd);
  try {
    const summary = await executeChild(reconciliationWorkflow, {
      workflowId,
      args: [
        { gateway: input.gateway, windowStart, windowEnd, ...(input.timeouts ? { timeouts: input.timeouts } : {}) },
      ],
    });
    return { outcome: 'completed', summary };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      log.info('this window is already being reconciled', { workflowId });
      return { outcome: 'already_running', workflowId };
    }
    throw error;
  }
}

export async function reconciliationRefundWorkflow(
  input: ReconciliationRefundInput,
): Promise<{ state: 'done' | 'failed'; outcome: string }> {
  const { order } = input;
  let outcome: { state: 'done' | 'failed'; outcome: string; refundId?: string; gatewayRefundId?: string };
  let confirmation: ConfirmManualRefundRequest | undefined;
  /** Set once the confirmation is recorded and the order refunded: a confirming update answers only then. */
  let confirmed = false;
  const duplicate = input.kind === 'duplicate_capture';
  const orderRefundId = (orderId: string) =>
    duplicate ? duplicateCaptureRefundId(orderId, input.paymentReference) : reconciliationRefundId(orderId);
  const waitingRefundId = order ? orderRefundId(order.orderId) : undefined;
  // The order's view in the Web UI follows what this workflow does to it (it carries the order's attributes from
  // its start): its status once moved, NeedsAttention once flagged. Histories from before did not upsert.
  const orderView = order !== undefined && patched('recon-refund-order-search-attributes');
  const showNeedsAttention = () => {
    if (orderView) upsertSearchAttributes([{ key: orderSearchAttributes.needsAttention, value: true }]);
  };
  setHandler(
    confirmReconciliationManualRefundUpdate,
    async (request) => {
      confirmation ??= request;
      await condition(() => confirmed);
      return { refundId: request.refundId, confirmed: true as const };
    },
    {
      validator: ({ refundId }) => {
        // Any time once started: the API lets a confirmation through only for a refunds row in awaiting_manual, and
        // one that arrives while the refund activity is still reporting that state is kept until the wait.
        if (refundId !== waitingRefundId) {
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.invalidTransition,
            message: `refund ${refundId} does not wait for a manual confirmation here`,
            nonRetryable: true,
          });
        }
      },
    },
  );
  try {
    if (order) {
      const refundId = orderRefundId(order.orderId);
      const result = await refunds.refundPayment({
        orderId: order.orderId,
        gateway: input.gateway,
        intentId: order.intentId,
        paymentReference: input.paymentReference,
        refundId,
        amountMinor: input.amountMinor,
        currency: input.currency,
        // The refund is made against this payment's own capture, whatever else the order was paid with.
        capturedAmountMinor: input.amountMinor,
        reason: duplicate ? 'reconciliation_duplicate_capture' : 'reconciliation_late_success',
      });
      if (result.state === 'awaiting_manual') {
        // No refund API (eSewa): the refunds row waits for an operator, as in the order workflow. Nothing counts as
        // refunded until they confirm; the wait has no timeout, so the case cannot be lost.
        await records.markManualRefundRequired({
          itemId: input.itemId,
          orderId: order.orderId,
          refundId,
          gatewayRefundId: result.gatewayRefundId,
        });
        showNeedsAttention();
        await condition(() => confirmation !== undefined);
        if (confirmation) {
          await refunds.recordManualRefund({ ...confirmation, orderId: order.orderId, at: new Date().toISOString() });
        }
      }
      // A duplicate capture leaves the order as it is: the payment that paid it stands.
      if (!duplicate && (result.state === 'succeeded' || result.state === 'awaiting_manual')) {
        await records.transitionOrder({
          orderId: order.orderId,
          from: [...CLOSED_UNPAID_STATUSES],
          to: 'REFUNDED',
          reason: 'refund_succeeded:reconciliation_late_success',
          at: new Date().toISOString(),
          changes: {
            capturedAmountMinor: input.amountMinor,
            refundedAmountMinor: input.amountMinor,
            paymentReference: input.paymentReference,
          },
        });
        if (orderView) upsertSearchAttributes([{ key: orderSearchAttributes.orderStatus, value: 'REFUNDED' }]);
      }
      // A refund still pending past REFUND_PENDING_LIMIT is not money returned: the item stays with an operator.
      outcome =
        result.state === 'failed' || result.state === 'pending'
          ? {
              state: 'failed',
              outcome: result.state === 'pending' ? 'refund_pending_too_long' : 'refund_failed',
              refundId,
              gatewayRefundId: result.gatewayRefundId,
            }
          : {
              state: 'done',
              outcome: result.state === 'awaiting_manual' ? 'refunded_manually' : 'refunded',
              refundId,
              gatewayRefundId: result.gatewayRefundId,
            };
    } else {
      const result = await refunds.refundUnknownPayment({
        gateway: input.gateway,
        paymentReference: input.paymentReference,
        amountMinor: input.amountMinor,
        currency: input.currency,
      });
      outcome = {
        state: result.state === 'succeeded' ? 'done' : 'failed',
        outcome: result.state === 'succeeded' ? 'refunded' : 'refund_failed',
        refundId: result.refundId,
        gatewayRefundId: result.gatewayRefundId,
      };
    }
  } catch (error) {
    if (isCancellation(error)) throw error;
    // A business refusal (the gateway refused, the order moved on): an operator looks at the item.
    log.error('reconciliation refund failed', { itemId: input.itemId, type: failureType(error) });
    outcome = { state: 'failed', outcome: `refund_failed:${failureType(error) ?? 'unknown'}` };
  }
  await records.completeReconciliationItem({ itemId: input.itemId, ...outcome });
  // The operator's confirmation answers once the order is refunded and the item done.
  confirmed = true;
  await condition(allHandlersFinished);
  return { state: outcome.state, outcome: outcome.outcome };
}
