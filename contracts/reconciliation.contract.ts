// The contract of reconciliation, shared by the API, the worker and the workflows: workflow types and IDs, inputs
// and results, discrepancy kinds, actions and search attributes. Workflow-safe: names, types and IDs only.
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineUpdate } from '@temporalio/workflow';
import type { ConfirmManualRefundRequest, GatewayName } from './order.contract';

export const RECONCILIATION_WORKFLOW_TYPE = 'reconciliationWorkflow';
export const SCHEDULED_RECONCILIATION_WORKFLOW_TYPE = 'scheduledReconciliationWorkflow';
export const RECONCILIATION_REFUND_WORKFLOW_TYPE = 'reconciliationRefundWorkflow';

/**
 * One gateway and window is one workflow ID, whoever starts it (the schedule, a backfill, an operator), so the same
 * window never runs twice at once. Reruns after it finished are allowed and find everything already reconciled.
 */
export function reconciliationRunWorkflowId(gateway: string, windowStart: string, windowEnd: string): string {
  return `recon-${gateway}-${windowStart}-${windowEnd}`;
}

/** One schedule per gateway; the workflows it starts get the scheduled time appended by Temporal. */
export function reconciliationScheduleId(gateway: string): string {
  return `recon-schedule-${gateway}`;
}

/** One refund workflow per gateway payment, ever: a payment found again, by any run, is not refunded again. */
export function reconciliationRefundWorkflowId(gateway: string, paymentReference: string): string {
  return `recon-refund-${gateway}-${paymentReference}`;
}

/** The gateway idempotency key (and refunds row key) of the refund of a late payment for one of our orders. */
export function reconciliationRefundId(orderId: string): string {
  return `refund-${orderId}-recon`;
}

/**
 * The gateway idempotency key (and refunds row key) of the refund of a second capture for an order that is already
 * paid: one per payment reference, so each duplicate is refunded once however often it is found.
 */
export function duplicateCaptureRefundId(orderId: string, paymentReference: string): string {
  return `refund-${orderId}-dup-${paymentReference}`;
}

/** The gateway idempotency key of the refund of a payment that belongs to no order of ours. */
export function unknownPaymentRefundId(gateway: string, paymentReference: string): string {
  return `recon-refund-${gateway}-${paymentReference}`;
}

export const DISCREPANCY_KINDS = [
  /** We have the order FAILED, EXPIRED or CANCELLED, but the gateway captured the payment. */
  'late_success',
  /** We have it PAID, but the gateway says it failed or has no record of it. */
  'paid_not_settled',
  /** Both say paid, with different amounts or currencies. */
  'amount_mismatch',
  /** A captured gateway payment that carries an order ID (orderpay made it) but no order of ours has it. */
  'unknown_payment',
  /** A captured gateway payment orderpay did not create (no order ID of ours, no payment reference we know). */
  'foreign_payment',
  /** Another captured payment (a different payment reference) for an order that is already paid. */
  'duplicate_capture',
  /** The gateway's status could not be read for one of our orders, attempt after attempt: a person checks it. */
  'lookup_failed',
  /** A refund at the gateway that orderpay did not make. */
  'refund_missing_here',
  /** A refund orderpay recorded as succeeded that the gateway does not show. */
  'refund_missing_there',
  /** The order still waits for payment but the gateway captured it: its own workflow is told. */
  'unapplied_capture',
] as const;
export type DiscrepancyKind = (typeof DISCREPANCY_KINDS)[number];

/** What reconciliation does about a discrepancy. */
export const RECONCILIATION_ACTIONS = ['refund', 'accept', 'flag', 'record', 'signal_workflow'] as const;
export type ReconciliationAction = (typeof RECONCILIATION_ACTIONS)[number];

export const LATE_SUCCESS_ACTIONS = ['refund', 'accept'] as const;
export type LateSuccessAction = (typeof LATE_SUCCESS_ACTIONS)[number];
export const UNKNOWN_PAYMENT_ACTIONS = ['refund', 'record'] as const;
export type UnknownPaymentAction = (typeof UNKNOWN_PAYMENT_ACTIONS)[number];
/** A payment orderpay did not create is somebody else's on the same account: flagged unless configured otherwise. */
export const FOREIGN_PAYMENT_ACTIONS = ['flag', 'refund'] as const;
export type ForeignPaymentAction = (typeof FOREIGN_PAYMENT_ACTIONS)[number];

/** The configurable actions, per gateway (flags are not configurable: a PAID order is never flipped silently). */
export interface ReconciliationPolicy {
  lateSuccess: LateSuccessAction;
  unknownPayment: UnknownPaymentAction;
  foreignPayment: ForeignPaymentAction;
}

/**
 * How long the run's activities may take and how soon a silent one (its worker died) is retried elsewhere. Set by
 * the worker's configuration on scheduled runs; a run started without them gets the defaults.
 */
export interface ReconciliationTimeouts {
  /** Collecting and classifying a whole window. */
  bulkMs: number;
  /** One batch of lookups or repairs. */
  batchMs: number;
  /** Every reconciliation activity heartbeats well within this; a worker that stops is noticed after it. */
  heartbeatMs: number;
}

export const DEFAULT_RECONCILIATION_TIMEOUTS: ReconciliationTimeouts = {
  bulkMs: 30 * 60_000,
  batchMs: 5 * 60_000,
  heartbeatMs: 30_000,
};

export interface ReconciliationInput {
  gateway: GatewayName;
  /** ISO times; the window is [windowStart, windowEnd). */
  windowStart: string;
  windowEnd: string;
  /** An uploaded settlement report to reconcile against; without it the gateway's API is read. */
  reportId?: string;
  /** Set by continue-as-new: the run being continued (its rows and items). */
  runId?: string;
  /** Activity timeouts; the defaults (DEFAULT_RECONCILIATION_TIMEOUTS) where absent. */
  timeouts?: ReconciliationTimeouts;
  /** Set by continue-as-new: the phase and keyset cursor to go on from. */
  resume?: { stage: 'lookups' | 'repairs'; cursor: string };
}

export interface ScheduledReconciliationInput {
  gateway: GatewayName;
  /** The window ends at the scheduled time and reaches back this far, plus the overlap. */
  windowMs: number;
  overlapMs: number;
  timeouts?: ReconciliationTimeouts;
}

export interface ReconciliationSummary {
  runId: string;
  gateway: GatewayName;
  windowStart: string;
  windowEnd: string;
  settlementRows: number;
  matched: number;
  /** New discrepancies per kind found by this run. */
  newByKind: Partial<Record<DiscrepancyKind, number>>;
  /** Discrepancies this run saw that an earlier run had already recorded (and repaired, where it could). */
  alreadyReconciled: number;
  openDiscrepancies: number;
}

export type ScheduledReconciliationResult =
  { outcome: 'completed'; summary: ReconciliationSummary } | { outcome: 'already_running'; workflowId: string };

export interface ReconciliationRefundInput {
  itemId: number;
  gateway: GatewayName;
  paymentReference: string;
  amountMinor: number;
  currency: string;
  /** Present for a late payment (or a duplicate capture) of one of our orders; absent for an unknown payment. */
  order?: { orderId: string; intentId: string };
  /**
   * Why the payment is refunded; absent means a late payment (late_success). A duplicate capture is refunded under
   * duplicateCaptureRefundId and leaves the order as it is: its own payment stands.
   */
  kind?: 'late_success' | 'duplicate_capture';
}

/**
 * An operator's confirmation of a manual refund (a wallet without refund API, eSewa) that a reconciliation refund
 * workflow waits for: the same update name and request as the order workflow's confirmManualRefundUpdate, so
 * POST /admin/refunds/:refundId/confirm (and the Temporal CLI) confirm both the same way.
 */
export const confirmReconciliationManualRefundUpdate = defineUpdate<
  { refundId: string; confirmed: true },
  [ConfirmManualRefundRequest]
>('confirmManualRefundUpdate');

export const RECONCILIATION_ERROR_TYPES = {
  /** Non-retryable: the gateway has no settlement API and the run names no uploaded report. */
  settlementSourceMissing: 'SettlementSourceMissing',
  /** Non-retryable: the named report does not exist or belongs to another gateway. */
  reportNotFound: 'ReportNotFound',
} as const;

/** Temporal's own attribute on scheduled workflows: the schedule's nominal time (also for backfills). */
export const scheduledStartTimeAttribute = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

export const reconciliationSearchAttributes = {
  gateway: defineSearchAttributeKey('ReconGateway', 'KEYWORD'),
  openDiscrepancies: defineSearchAttributeKey('ReconOpenDiscrepancies', 'INT'),
} as const;
