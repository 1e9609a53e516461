// Reconciliation activities: collect a window's settlement data, compare it with our records set-wise, look up
// the orders that need the gateway's word, and repair what differs. Every step is idempotent: findings are keyed
// per run, items per gateway and subject, refunds by a deterministic workflow ID and gateway idempotency key, and
// a signal to an order workflow by a deterministic event ID.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Logger } from '../../config/logger';
import {
  ORDER_ERROR_TYPES,
  orderSearchAttributes,
  orderWorkflowId,
  paymentEventSignal,
  type GatewayName,
  type PaymentEvent,
} from '../../contracts/order.contract';
import {
  RECONCILIATION_ERROR_TYPES,
  RECONCILIATION_REFUND_WORKFLOW_TYPE,
  reconciliationRefundWorkflowId,
  unknownPaymentRefundId,
  type ReconciliationPolicy,
  type ReconciliationRefundInput,
} from '../../contracts/reconciliation.contract';
import { CLOSED_UNPAID_STATUSES } from '../../domain/order-status';
import { insertStatusHistory, lockOrder, updateOrderStatus } from '../../db/orders/orders.repo';
import { inTransaction, type Pool } from '../../db/pool';
import {
  classifySettlement,
  failRun,
  finishRun,
  flagOrderForAttention,
  insertRunIfAbsent,
  nextLookupBatch,
  nextRepairBatch,
  recordLookupFindings,
  setRunReport,
  updateItem,
  type Finding,
  type LookupCandidate,
  type RepairItem,
} from '../../db/reconciliation/reconciliation.repo';
import { findReport, ingestSettlementReport, type ReportLine } from '../../db/reconciliation/settlement-reports.repo';
import type { SettlementRow, SettlementSource } from '../../gateways/settlement';
import { toActivityFailure } from '../activity-errors';
import type { GatewayRegistry } from '../orders/order.activities';
import type { ReconciliationMetrics } from '../../config/metrics';
import type { ReconciliationActivities } from './reconciliation-activity.types';

export interface ReconciliationActivityDeps {
  pool: Pool;
  gateways: GatewayRegistry;
  /** The gateways that have a settlement API; the others are reconciled from uploaded reports only. */
  settlementSources: (gateway: GatewayName) => SettlementSource | undefined;
  /** Starts refund workflows and signals order workflows. */
  temporal: Client;
  /** The task queue refund workflows run on (the worker's own). */
  taskQueue: string;
  policy: (gateway: GatewayName) => ReconciliationPolicy;
  metrics: ReconciliationMetrics;
  logger: Logger;
  /** Status lookups in flight at once per batch. */
  lookupConcurrency?: number;
  /** Items of a repair batch repaired at once (each is a workflow start, a signal or a database write or two). */
  repairConcurrency?: number;
  /** Closed unpaid orders created this long before a window's end are still looked up (they could be paid). */
  unpaidLookbackMs?: number;
  /** A refund of ours this close to a window's end is checked by the next window, not flagged. */
  edgeToleranceMs?: number;
  /** A lookup that failed on this many activity attempts becomes a lookup_failed item instead of holding the run. */
  lookupAttempts?: number;
  /** How often a running activity heartbeats (well inside the workflow's heartbeat timeout). */
  heartbeatIntervalMs?: number;
}

export const DEFAULT_UNPAID_LOOKBACK_MS = 7 * 86_400_000;
export const DEFAULT_EDGE_TOLERANCE_MS = 15 * 60_000;

export function createReconciliationActivities(deps: ReconciliationActivityDeps): ReconciliationActivities {
  const { pool, gateways, temporal, logger, metrics } = deps;
  const concurrency = deps.lookupConcurrency ?? 8;
  const repairConcurrency = deps.repairConcurrency ?? 8;
  const lookupAttempts = deps.lookupAttempts ?? 5;
  const heartbeatIntervalMs = deps.heartbeatIntervalMs ?? 5_000;

  /**
   * Runs one activity, heartbeating while it works: a worker that dies mid-activity stops heartbeating, so the
   * workflow's short heartbeat timeout hands the activity to another worker instead of waiting out its full timeout.
   */
  async function run<T>(activity: string, context: string, body: () => Promise<T>): Promise<T> {
    const beat = activityContext();
    beat?.heartbeat();
    const timer = beat ? setInterval(() => beat.heartbeat(), heartbeatIntervalMs) : undefined;
    try {
      return await body();
    } catch (error) {
      const failure = toActivityFailure(error, { orderId: context });
      const retryable = !(failure instanceof ApplicationFailure && failure.nonRetryable);
      logger.warn({ activity, context, retryable, err: failure }, 'reconciliation activity failed');
      throw failure;
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  const policyArgs = (runId: string, gateway: GatewayName) => {
    const policy = deps.policy(gateway);
    return {
      runId,
      gateway,
      lateSuccess: policy.lateSuccess,
      unknownPayment: policy.unknownPayment,
      foreignPayment: policy.foreignPayment,
    };
  };

  /** What the gateway's own status says about one of our orders that needed a lookup. */
  async function lookUp(candidate: LookupCandidate, gateway: GatewayName): Promise<Finding | undefined> {
    const status = await gateways(gateway).fetchPaymentStatus({
      orderId: candidate.orderId,
      intentId: candidate.intentId,
      // eSewa's status check is keyed by the amount as well.
      amountMinor: candidate.amountMinor,
      currency: candidate.currency,
    });
    const ours = {
      ourStatus: candidate.status,
      ourAmountMinor: candidate.amountMinor,
      ourCurrency: candidate.currency,
    };
    const theirs = {
      gatewayStatus: status.state,
      ...(status.amountMinor === undefined ? {} : { gatewayAmountMinor: status.amountMinor }),
      ...(status.currency === undefined ? {} : { gatewayCurrency: status.currency }),
    };
    const captured = status.state === 'captured';
    const matches = status.amountMinor === candidate.amountMinor && status.currency === candidate.currency;
    const orderSubject = `order:${candidate.orderId}`;
    const base = { orderId: candidate.orderId, ...ours, ...theirs };
    const paymentReference = status.paymentReference ?? candidate.intentId;
    // The same subject as a settlement row of this payment, so either way it is one discrepancy.
    const paymentSubject = `payment:${paymentReference}`;
    switch (candidate.status) {
      case 'PAID':
      case 'PARTIALLY_REFUNDED':
        if (!captured) return { subject: orderSubject, kind: 'paid_not_settled', ...base };
        return {
          subject: paymentSubject,
          kind: matches ? 'matched' : 'amount_mismatch',
          paymentReference,
          ...base,
        };
      case 'PENDING':
      case 'AWAITING_PAYMENT':
        return captured
          ? {
              subject: paymentSubject,
              kind: 'unapplied_capture',
              paymentReference,
              ...base,
            }
          : undefined;
      case 'FAILED':
      case 'EXPIRED':
      case 'CANCELLED':
        return captured && candidate.capturedAmountMinor === 0
          ? {
              subject: paymentSubject,
              kind: 'late_success',
              paymentReference,
              ...base,
            }
          : undefined;
      default:
        return undefined;
    }
  }

  async function orderWorkflowIsOpen(orderId: string): Promise<boolean> {
    try {
      const description = await temporal.workflow.getHandle(orderWorkflowId(orderId)).describe();
      return description.status.name === 'RUNNING';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  }

  /** Tells the order's own workflow what the gateway captured; false when the workflow is not open. */
  async function signalCapture(item: RepairItem, gateway: GatewayName): Promise<boolean> {
    if (!item.orderId || !(await orderWorkflowIsOpen(item.orderId))) return false;
    const event: PaymentEvent = {
      // Deterministic: the workflow drops a repeated signal by event ID.
      eventId: `recon-${gateway}-${item.paymentReference ?? item.orderId}`,
      kind: 'captured',
      verified: true,
      ...(item.intentId ? { intentId: item.intentId } : {}),
      ...(item.paymentReference ? { paymentReference: item.paymentReference } : {}),
      ...(item.gatewayAmountMinor === null ? {} : { amountMinor: item.gatewayAmountMinor }),
      ...(item.gatewayCurrency === null ? {} : { currency: item.gatewayCurrency }),
      occurredAt: new Date().toISOString(),
    };
    try {
      await temporal.workflow.getHandle(orderWorkflowId(item.orderId)).signal(paymentEventSignal, event);
      return true;
    } catch (error) {
      // Closed between the check and the signal: the caller takes the closed-workflow path.
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  }

  async function startRefundWorkflow(item: RepairItem, gateway: GatewayName): Promise<string> {
    if (!item.paymentReference || item.gatewayAmountMinor === null || item.gatewayCurrency === null) {
      return 'no_payment_reference';
    }
    const order = item.orderId && item.intentId ? { orderId: item.orderId, intentId: item.intentId } : undefined;
    const input: ReconciliationRefundInput = {
      itemId: item.itemId,
      gateway,
      paymentReference: item.paymentReference,
      amountMinor: item.gatewayAmountMinor,
      currency: item.gatewayCurrency,
      ...(order ? { order } : {}),
      ...(order && item.kind === 'duplicate_capture' ? { kind: 'duplicate_capture' as const } : {}),
    };
    try {
      await temporal.workflow.start(RECONCILIATION_REFUND_WORKFLOW_TYPE, {
        taskQueue: deps.taskQueue,
        workflowId: reconciliationRefundWorkflowId(gateway, item.paymentReference),
        args: [input],
        // One refund per payment, ever: a second start (a retried batch, a rerun) finds the first one.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        // The order's attributes, so that the Web UI finds the order (by OrderId, OrderStatus) in the workflow that
        // now moves it, after its own workflow has closed.
        ...(order && item.orderAmountMinor !== null && item.orderCurrency !== null
          ? {
              typedSearchAttributes: [
                { key: orderSearchAttributes.orderId, value: order.orderId },
                { key: orderSearchAttributes.gateway, value: gateway },
                { key: orderSearchAttributes.amountMinor, value: item.orderAmountMinor },
                { key: orderSearchAttributes.currency, value: item.orderCurrency },
                ...(item.ourStatus ? [{ key: orderSearchAttributes.orderStatus, value: item.ourStatus }] : []),
              ],
            }
          : {}),
      });
      return 'refund_workflow_started';
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return 'refund_workflow_already_started';
      throw error;
    }
  }

  /** Accepts a late payment as paid: the closed-unpaid order becomes PAID with what was captured. */
  async function acceptLatePayment(item: RepairItem): Promise<boolean> {
    const orderId = item.orderId;
    if (!orderId || item.gatewayAmountMinor === null) return false;
    return inTransaction(pool, async (client) => {
      const current = (await lockOrder(client, orderId))?.status;
      if (current === undefined || !CLOSED_UNPAID_STATUSES.includes(current)) return false;
      const now = new Date();
      const updated = await updateOrderStatus(client, {
        orderId,
        from: CLOSED_UNPAID_STATUSES,
        to: 'PAID',
        changes: {
          capturedAmountMinor: item.gatewayAmountMinor ?? 0,
          ...(item.paymentReference ? { paymentReference: item.paymentReference } : {}),
          paidAt: now.toISOString(),
        },
      });
      if (updated) {
        await insertStatusHistory(client, {
          orderId,
          from: current,
          to: 'PAID',
          reason: 'reconciliation_accepted_late_payment',
          at: now,
        });
      }
      return updated;
    });
  }

  async function flag(item: RepairItem, gateway: GatewayName): Promise<void> {
    const flagged = item.orderId
      ? await flagOrderForAttention(pool, item.orderId, `reconciliation_${item.kind}`)
      : false;
    // The alert: an error-level log line operators page on, and the discrepancy metric counted by the caller.
    logger.error(
      { gateway, itemId: item.itemId, kind: item.kind, orderId: item.orderId, paymentReference: item.paymentReference },
      'reconciliation discrepancy needs review',
    );
    await updateItem(
      pool,
      item.itemId,
      { state: 'flagged', outcome: flagged || item.orderId ? 'order_flagged_for_review' : 'recorded_for_review' },
      ['pending'],
    );
  }

  async function repair(item: RepairItem, gateway: GatewayName): Promise<void> {
    switch (item.action) {
      case 'flag':
        return flag(item, gateway);
      case 'record':
        logger.error({ gateway, itemId: item.itemId, paymentReference: item.paymentReference }, 'unknown payment');
        await updateItem(pool, item.itemId, { state: 'flagged', outcome: 'recorded_unknown_payment' }, ['pending']);
        return;
      case 'signal_workflow':
        if (await signalCapture(item, gateway)) {
          await updateItem(pool, item.itemId, { state: 'done', outcome: 'signalled_order_workflow' }, ['pending']);
        } else {
          await flag(item, gateway);
        }
        return;
      case 'accept':
        if (item.orderId && (await orderWorkflowIsOpen(item.orderId))) {
          // The open workflow owns the order; a later run accepts it once the workflow has closed.
          await updateItem(pool, item.itemId, { state: 'pending', outcome: 'waiting_for_order_workflow' }, ['pending']);
          return;
        }
        await updateItem(
          pool,
          item.itemId,
          (await acceptLatePayment(item))
            ? { state: 'done', outcome: 'accepted_as_paid' }
            : { state: 'flagged', outcome: 'could_not_accept' },
          ['pending'],
        );
        return;
      case 'refund': {
        if (item.kind === 'duplicate_capture' && item.orderId && (await orderWorkflowIsOpen(item.orderId))) {
          // The open workflow owns the paid order and may refund the second capture itself; a later run refunds it
          // once the workflow has closed (one refund per payment reference either way).
          await updateItem(pool, item.itemId, { state: 'pending', outcome: 'waiting_for_order_workflow' }, ['pending']);
          return;
        }
        if (
          item.kind !== 'duplicate_capture' &&
          item.orderId &&
          item.ourStatus !== null &&
          (await signalCapture(item, gateway))
        ) {
          // The open workflow refunds a late capture itself, exactly once; the next run checks that it did.
          await updateItem(pool, item.itemId, { state: 'in_progress', outcome: 'signalled_order_workflow' }, [
            'pending',
          ]);
          return;
        }
        const outcome = await startRefundWorkflow(item, gateway);
        await updateItem(
          pool,
          item.itemId,
          outcome === 'no_payment_reference' ? { state: 'flagged', outcome } : { state: 'in_progress', outcome },
          ['pending'],
        );
        return;
      }
    }
  }

  return {
    async beginReconciliationRun(input) {
      return run('beginReconciliationRun', input.runId, () => insertRunIfAbsent(pool, input));
    },

    async collectSettlementData(input) {
      return run('collectSettlementData', input.runId, async () => {
        if (input.reportId !== undefined) {
          const report = await findReport(pool, input.reportId);
          if (!report || report.gateway !== input.gateway) {
            throw ApplicationFailure.create({
              type: RECONCILIATION_ERROR_TYPES.reportNotFound,
              message: `no ${input.gateway} settlement report ${input.reportId}`,
              nonRetryable: true,
            });
          }
          await setRunReport(pool, input.runId, report.reportId, report.rowsAccepted);
          return { reportId: report.reportId, rows: report.rowsAccepted };
        }
        const source = deps.settlementSources(input.gateway);
        if (!source) {
          throw ApplicationFailure.create({
            type: RECONCILIATION_ERROR_TYPES.settlementSourceMissing,
            message: `${input.gateway} has no settlement API: upload its report (POST /admin/reconciliation/reports)`,
            nonRetryable: true,
          });
        }
        const window = { start: new Date(input.windowStart), end: new Date(input.windowEnd) };
        const reportId = `api-${input.runId}`;
        const report = await ingestSettlementReport(
          pool,
          { reportId, gateway: input.gateway, source: 'api', windowStart: window.start, windowEnd: window.end },
          numbered(source.listSettlement(window)),
          { replace: true },
        );
        await setRunReport(pool, input.runId, reportId, report.rowsAccepted);
        logger.info({ runId: input.runId, gateway: input.gateway, rows: report.rowsTotal }, 'settlement data fetched');
        return { reportId, rows: report.rowsAccepted };
      });
    },

    async classifySettlement(input) {
      return run('classifySettlement', input.runId, () =>
        classifySettlement(pool, {
          ...policyArgs(input.runId, input.gateway),
          reportId: input.reportId,
          windowStart: input.windowStart,
          windowEnd: input.windowEnd,
          unpaidLookbackMs: deps.unpaidLookbackMs ?? DEFAULT_UNPAID_LOOKBACK_MS,
          edgeToleranceMs: deps.edgeToleranceMs ?? DEFAULT_EDGE_TOLERANCE_MS,
        }),
      );
    },

    async lookUpOrderStatuses(input) {
      return run('lookUpOrderStatuses', input.runId, async () => {
        const batch = await nextLookupBatch(pool, input.runId, input.after, input.batchSize);
        // A retried batch asks only what its earlier attempts could not: the others are recorded already.
        const pending = batch.filter((candidate) => !candidate.lookedUp);
        const attempt = activityContext()?.info.attempt ?? 1;
        const findings: Finding[] = [];
        const done: string[] = [];
        const failed: Array<{ candidate: LookupCandidate; reason: unknown }> = [];
        for (let i = 0; i < pending.length; i += concurrency) {
          const slice = pending.slice(i, i + concurrency);
          // One slow or failing lookup does not sink its neighbours: each has its own outcome.
          const results = await Promise.allSettled(slice.map((candidate) => lookUp(candidate, input.gateway)));
          results.forEach((result, index) => {
            const candidate = slice[index];
            if (!candidate) return;
            if (result.status === 'fulfilled') {
              done.push(candidate.orderId);
              if (result.value) findings.push(result.value);
            } else {
              failed.push({ candidate, reason: result.reason });
            }
          });
          activityContext()?.heartbeat();
        }
        const givingUp = failed.length > 0 && attempt >= lookupAttempts;
        if (givingUp) {
          for (const { candidate } of failed) {
            done.push(candidate.orderId);
            findings.push({
              subject: `lookup_failed:${candidate.orderId}`,
              kind: 'lookup_failed',
              orderId: candidate.orderId,
              ourStatus: candidate.status,
              ourAmountMinor: candidate.amountMinor,
              ourCurrency: candidate.currency,
              gatewayStatus: 'lookup_failed',
            });
          }
        }
        await recordLookupFindings(pool, policyArgs(input.runId, input.gateway), done, findings);
        if (failed.length > 0 && !givingUp) {
          const first = failed[0];
          logger.warn(
            { runId: input.runId, gateway: input.gateway, failed: failed.length, attempt, err: first?.reason },
            'status lookups failed; retrying only those',
          );
          throw ApplicationFailure.create({
            type: 'LookupsFailed',
            message: `${failed.length} of ${pending.length} status lookups failed`,
            nonRetryable: false,
          });
        }
        const last = batch.at(-1);
        return { processed: batch.length, ...(batch.length === input.batchSize && last ? { next: last.orderId } : {}) };
      });
    },

    async repairDiscrepancies(input) {
      return run('repairDiscrepancies', input.runId, async () => {
        const batch = await nextRepairBatch(pool, input.runId, Number(input.after), input.batchSize);
        // Items are independent (one subject each) and every repair is idempotent, so a few go at once: each one
        // waits mostly on Temporal or PostgreSQL round trips. All of a slice settle before a failure is thrown, so
        // a retried batch never races repairs still running from the attempt before.
        for (let i = 0; i < batch.length; i += repairConcurrency) {
          const results = await Promise.allSettled(
            batch.slice(i, i + repairConcurrency).map((item) => repair(item, input.gateway)),
          );
          const failed = results.find((result) => result.status === 'rejected');
          if (failed) throw failed.reason;
          activityContext()?.heartbeat();
        }
        const last = batch.at(-1);
        return {
          processed: batch.length,
          ...(batch.length === input.batchSize && last ? { next: String(last.itemId) } : {}),
        };
      });
    },

    async finishReconciliationRun(input) {
      return run('finishReconciliationRun', input.runId, async () => {
        const totals = await finishRun(pool, input.runId);
        if (totals.finishedNow) {
          for (const [kind, count] of Object.entries(totals.newByKind)) {
            if (count) metrics.discrepancies(input.gateway, kind, count);
          }
          metrics.runFinished(input.gateway, totals.durationMs / 1000);
        }
        const { windowStart, windowEnd, ...counts } = totals;
        logger.info({ runId: input.runId, gateway: input.gateway, ...counts }, 'reconciliation run finished');
        return {
          runId: input.runId,
          gateway: input.gateway,
          windowStart: windowStart?.toISOString() ?? '',
          windowEnd: windowEnd?.toISOString() ?? '',
          settlementRows: totals.settlementRows,
          matched: totals.matched,
          newByKind: totals.newByKind,
          alreadyReconciled: totals.alreadyReconciled,
          openDiscrepancies: totals.openDiscrepancies,
        };
      });
    },

    async failReconciliationRun(input) {
      return run('failReconciliationRun', input.runId, () => failRun(pool, input.runId));
    },

    async refundUnknownPayment(input: Omit<ReconciliationRefundInput, 'order' | 'itemId'>) {
      const refundId = unknownPaymentRefundId(input.gateway, input.paymentReference);
      return run('refundUnknownPayment', refundId, async () => {
        const result = await gateways(input.gateway).refund({
          orderId: 'unknown',
          intentId: input.paymentReference,
          paymentReference: input.paymentReference,
          refundId,
          amountMinor: input.amountMinor,
          currency: input.currency,
          reason: 'reconciliation_unknown_payment',
        });
        if (result.state === 'pending') {
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.refundPending,
            message: `refund ${refundId} is pending at the gateway`,
            nonRetryable: false,
          });
        }
        if (result.state === 'awaiting_manual') {
          // No refund API (eSewa): nothing was refunded, and only a person can do it; the case stays for them.
          throw ApplicationFailure.create({
            type: ORDER_ERROR_TYPES.gatewayRejected,
            message: `refund ${refundId} needs an operator: ${input.gateway} has no refund API`,
            nonRetryable: true,
            details: ['manual_refund_required'],
          });
        }
        logger.info(
          { refundId, gatewayRefundId: result.gatewayRefundId, state: result.state },
          'unknown payment refund',
        );
        return { gatewayRefundId: result.gatewayRefundId, state: result.state, refundId };
      });
    },

    async markManualRefundRequired(input) {
      return run('markManualRefundRequired', input.orderId, async () => {
        // The order first: once the item says manual_refund_required, the order is flagged too.
        await flagOrderForAttention(pool, input.orderId, MANUAL_REFUND_REQUIRED);
        await updateItem(
          pool,
          input.itemId,
          {
            state: 'in_progress',
            outcome: MANUAL_REFUND_REQUIRED,
            refundId: input.refundId,
            ...(input.gatewayRefundId ? { gatewayRefundId: input.gatewayRefundId } : {}),
          },
          ['pending', 'in_progress'],
        );
        logger.warn(
          { itemId: input.itemId, orderId: input.orderId, refundId: input.refundId },
          'late payment refund needs an operator: confirm it at POST /admin/refunds/:refundId/confirm',
        );
      });
    },

    async completeReconciliationItem(input) {
      return run('completeReconciliationItem', String(input.itemId), async () => {
        await updateItem(
          pool,
          input.itemId,
          {
            state: input.state,
            outcome: input.outcome,
            ...(input.refundId ? { refundId: input.refundId } : {}),
            ...(input.gatewayRefundId ? { gatewayRefundId: input.gatewayRefundId } : {}),
          },
          ['pending', 'in_progress'],
        );
      });
    },
  };
}

const MANUAL_REFUND_REQUIRED = 'manual_refund_required';

/** The running activity's context; undefined when called outside an activity (a unit test calling it directly). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

async function* numbered(rows: AsyncIterable<SettlementRow>): AsyncIterable<ReportLine[]> {
  let lineNo = 0;
  for await (const row of rows) {
    lineNo += 1;
    yield [{ lineNo, row }];
  }
}
