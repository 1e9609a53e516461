// The reconciliation admin API's request and response shapes: parsed with these, documented from these.
import { z } from 'zod';
import { DISCREPANCY_KINDS, RECONCILIATION_ACTIONS } from '../../contracts/reconciliation.contract';
import { gatewayParamSchema as gateway } from '../orders/checkout.schema';

/** A backfill is split into windows of one day each, each its own run (and workflow ID). */
export const BACKFILL_WINDOW_MS = 24 * 60 * 60 * 1000;
const MAX_BACKFILL_WINDOWS = 92;

const isoTime = z.iso.datetime({ offset: true }).transform((text) => new Date(text));
/** zod runs object refinements even when a field failed; a failed field is already reported. */
const span = (from: unknown, to: unknown) =>
  from instanceof Date && to instanceof Date ? to.getTime() - from.getTime() : Number.NaN;

export const startRunsSchema = z.union([
  z.strictObject({ gateway, reportId: z.string().min(1).max(200) }),
  z
    .strictObject({ gateway, from: isoTime, to: isoTime })
    .refine((body) => !(span(body.from, body.to) <= 0), { message: 'must be after from', path: ['to'] })
    .refine((body) => !(span(body.from, body.to) > MAX_BACKFILL_WINDOWS * BACKFILL_WINDOW_MS), {
      message: `a backfill covers at most ${MAX_BACKFILL_WINDOWS} days`,
      path: ['to'],
    }),
]);

export const reportQuerySchema = z
  .strictObject({ gateway, windowStart: isoTime, windowEnd: isoTime })
  .refine((q) => !(span(q.windowStart, q.windowEnd) <= 0), {
    message: 'must be after windowStart',
    path: ['windowEnd'],
  });

export const listRunsQuerySchema = z.strictObject({
  gateway: gateway.optional(),
  workflowId: z.string().min(1).max(300).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const idParam = z.string().min(1).max(200);
export const itemLimitSchema = z.strictObject({ limit: z.coerce.number().int().min(1).max(5_000).default(500) });

const time = z.string().meta({ description: 'ISO 8601 time' });
const count = z.number().int().nonnegative();

export const startedRunsSchema = z.object({
  runs: z.array(
    z.object({
      workflowId: z.string(),
      runId: z.string().nullable().meta({ description: 'The run ID for GET /admin/reconciliation/runs/{runId}' }),
      windowStart: time,
      windowEnd: time,
      status: z.enum(['started', 'already_running']),
    }),
  ),
});

const runFields = {
  runId: z.string(),
  workflowId: z.string(),
  gateway: z.string(),
  reportId: z.string().nullable(),
  windowStart: time,
  windowEnd: time,
  status: z.enum(['running', 'completed', 'failed']),
  settlementRows: count,
  matched: count,
  newByKind: z.record(z.enum(DISCREPANCY_KINDS), count),
  alreadyReconciled: count,
  openDiscrepancies: count,
  startedAt: time,
  finishedAt: time.nullable(),
  durationMs: count.nullable(),
};
export const runListSchema = z.object({ runs: z.array(z.object(runFields)) });

const side = z.object({
  status: z.string().nullable(),
  amountMinor: count.nullable(),
  currency: z.string().nullable(),
});
export const runDetailSchema = z.object({
  ...runFields,
  items: z.array(
    z.object({
      itemId: count,
      kind: z.enum(DISCREPANCY_KINDS),
      subject: z.string(),
      seen: z.enum(['new', 'already_reconciled']),
      orderId: z.string().nullable(),
      paymentReference: z.string().nullable(),
      ours: side,
      gateway: side,
      action: z.enum(RECONCILIATION_ACTIONS),
      state: z.enum(['pending', 'in_progress', 'done', 'flagged', 'failed']),
      outcome: z.string().nullable(),
      refundId: z.string().nullable(),
      gatewayRefundId: z.string().nullable(),
    }),
  ),
});

const reportFields = {
  reportId: z.string(),
  gateway: z.string(),
  source: z.enum(['upload', 'api']),
  windowStart: time,
  windowEnd: time,
  rowsTotal: count,
  rowsAccepted: count,
  rowsRejected: count,
  createdAt: time,
  errors: z.array(
    z.object({ lineNo: count, code: z.enum(['malformed', 'duplicate', 'out_of_window']), message: z.string() }),
  ),
};
export const reportSchema = z.object(reportFields);
