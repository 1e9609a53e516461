// What the admin API accepts and answers, as zod schemas: parsed at the edge by admin.routes.ts and rendered into
// the OpenAPI document by api/openapi/paths/admin.paths.ts.
import { z } from 'zod';
import { parseDurationMs } from '../../domain/duration';
import { orderIdSchema } from '../orders/checkout.schema';
import {
  gatewayNameSchema,
  minorUnits,
  orderResponseSchema,
  orderStatusSchema,
  timestamp,
} from '../http/responses.schema';

/** "30m", "1h", "2d": how operators write an age. At most 400 days, so the interval never overflows. */
const MAX_AGE_MS = 400 * 86_400_000;
const age = (description: string) =>
  z
    .string()
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined || ms <= 0 || ms > MAX_AGE_MS) {
        ctx.addIssue({ code: 'custom', message: 'must be a duration such as 30s, 30m, 1h or 2d (at most 400d)' });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description, example: '30m' });

/** Opaque page cursors: base64url JSON of the last row's key, checked like any other input. */
function cursor<S extends z.ZodType>(position: S) {
  return z
    .string()
    .max(512)
    .transform((text, ctx): z.infer<S> => {
      try {
        const decoded: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
        const parsed = position.safeParse(decoded);
        if (parsed.success) return parsed.data;
      } catch {
        // falls through to the issue below
      }
      ctx.addIssue({ code: 'custom', message: 'is not a cursor this API returned' });
      return z.NEVER;
    })
    .meta({ description: 'The `nextCursor` of the previous page' });
}

export function encodeCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

const limit = (fallback: number, max: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(max)
    .default(fallback)
    .meta({ description: `Page size, 1 to ${max}` });

const booleanText = z
  .enum(['true', 'false'])
  .transform((text) => text === 'true')
  .meta({ description: '`true` or `false`' });

export const orderPathSchema = z.strictObject({ orderId: orderIdSchema });
export const webhookEventPathSchema = z.strictObject({
  id: z.coerce
    .number()
    .int()
    .positive()
    .max(Number.MAX_SAFE_INTEGER)
    .meta({ description: 'The stored event (the `id` in the dead-letter list)' }),
});

const orderListPositionSchema = z.strictObject({
  createdAt: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
  orderId: orderIdSchema,
});

export const adminOrdersQuerySchema = z.strictObject({
  status: orderStatusSchema.optional(),
  gateway: gatewayNameSchema.optional(),
  olderThan: age('Only orders created longer ago than this').optional(),
  needsAttention: booleanText.optional(),
  limit: limit(50, 200),
  cursor: cursor(orderListPositionSchema).optional(),
});

export const failedWebhooksQuerySchema = z.strictObject({
  stuckAfter: age('A `received` event older than this counts as stuck (default 5m)').default(5 * 60_000),
  gateway: gatewayNameSchema.optional(),
  limit: limit(50, 200),
  cursor: cursor(z.strictObject({ afterId: z.number().int().nonnegative() })).optional(),
});

export const refundRequestSchema = z
  .strictObject({
    amount: z
      .number()
      .int('must be an integer count of minor units')
      .positive('must be greater than zero')
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .meta({ description: 'Minor units to refund; omit to refund everything not yet refunded' }),
    reason: z.string().trim().min(1).max(200).meta({ description: 'Why, for the audit log and the gateway' }),
  })
  .meta({ id: 'AdminRefundRequest' });
export type RefundRequestBody = z.infer<typeof refundRequestSchema>;

export const refundResponseSchema = z
  .object({
    refund: z.object({
      refundId: z.string(),
      requestId: z.string().meta({ description: 'The Idempotency-Key the refund was requested with' }),
      amount: minorUnits,
      reason: z.string(),
      state: z.enum(['pending', 'awaiting_manual', 'succeeded', 'failed']).meta({
        description: 'awaiting_manual: the gateway has no refund API (eSewa); confirm it at /admin/refunds/…/confirm',
      }),
    }),
    order: orderResponseSchema,
  })
  .meta({ id: 'AdminRefundResponse' });
export type RefundResponseBody = z.infer<typeof refundResponseSchema>;

export const recheckResponseSchema = z
  .object({
    orderId: z.string(),
    requested: z.literal(true),
    eventId: z
      .string()
      .meta({ description: 'The hint signalled to the workflow; its lookup result lands in the order' }),
  })
  .meta({ id: 'AdminRecheckResponse' });

const adminOrderListItemSchema = z
  .object({
    orderId: z.string(),
    status: orderStatusSchema,
    gateway: gatewayNameSchema,
    amount: minorUnits,
    currency: z.string(),
    capturedAmount: minorUnits,
    refundedAmount: minorUnits,
    needsAttention: z.boolean(),
    failureReason: z.string().nullable(),
    expiresAt: timestamp,
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'AdminOrderListItem' });

export const adminOrderListSchema = z
  .object({
    orders: z.array(adminOrderListItemSchema),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last' }),
  })
  .meta({ id: 'AdminOrderList' });
export type AdminOrderListBody = z.infer<typeof adminOrderListSchema>;

const webhookEventSummarySchema = z
  .object({
    id: z.number().int(),
    gateway: gatewayNameSchema,
    eventId: z.string(),
    eventType: z.string(),
    orderId: z.string().nullable(),
    outcome: z.enum(['received', 'delivered', 'order_not_found', 'ignored', 'failed']),
    error: z.string().nullable(),
    deliveryAttempts: z.number().int(),
    receivedAt: timestamp,
    processedAt: timestamp.nullable(),
  })
  .meta({ id: 'WebhookEventSummary', description: 'A stored webhook event, without its payload or headers' });

export const failedWebhookListSchema = z
  .object({
    events: z.array(webhookEventSummarySchema),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'FailedWebhookList' });
export type FailedWebhookListBody = z.infer<typeof failedWebhookListSchema>;

export const webhookRetryResponseSchema = z
  .object({
    result: z.enum(['delivered', 'order_not_found', 'ignored']).meta({
      description:
        'delivered: the workflow has the event; order_not_found: no open workflow, left to reconciliation; ignored: it changes nothing (a decline, cancel or pending report for an order that no longer awaits payment, or a capture the workflow already had from another event of the same payment)',
    }),
    event: webhookEventSummarySchema,
  })
  .meta({ id: 'WebhookRetryResponse' });
export type WebhookRetryResponseBody = z.infer<typeof webhookRetryResponseSchema>;

export const adminActionListSchema = z
  .object({
    actions: z.array(
      z.object({
        id: z.number().int(),
        actor: z.string(),
        action: z.string().meta({ description: 'A stable verb such as `order.refund`' }),
        target: z.string().optional(),
        requestId: z.string(),
        idempotencyKey: z.string().optional(),
        details: z.record(z.string(), z.unknown()),
        outcome: z.string().meta({ description: '`succeeded`, `replayed`, or the error code the request ended with' }),
        createdAt: timestamp,
      }),
    ),
  })
  .meta({ id: 'AdminActionList' });

export const adminActionsQuerySchema = z.strictObject({
  target: z.string().min(1).max(200).optional().meta({ description: 'An order ID, webhook event ID or run ID' }),
  limit: limit(100, 500),
});

export const refundPathSchema = z.strictObject({
  refundId: z
    .string()
    .regex(
      /^refund-[A-Za-z0-9._-]{1,64}-(?:[0-9]{1,6}|recon|k[0-9a-f]{24})$/,
      'must be a refund ID such as refund-<orderId>-1 (or refund-<orderId>-recon, refund-<orderId>-k<24 hex digits>)',
    )
    .meta({
      description:
        'The refund (`refund-<orderId>-<n>`), as the order view lists it, or `refund-<orderId>-recon`: the refund ' +
        'of a late payment reconciliation found after the order closed, or `refund-<orderId>-k<hex>`: a refund asked ' +
        'for after the order workflow closed',
    }),
});

export const confirmManualRefundRequestSchema = z
  .strictObject({
    reference: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .meta({ description: 'The refund’s reference at the gateway (e.g. from the eSewa merchant portal)' }),
    note: z.string().trim().max(1000).optional().meta({ description: 'Anything the next operator should know' }),
  })
  .meta({ id: 'ConfirmManualRefundRequest' });

export const confirmManualRefundResponseSchema = z
  .object({
    refund: z.object({
      refundId: z.string(),
      orderId: z.string(),
      state: z.enum(['requested', 'pending', 'awaiting_manual', 'succeeded', 'failed']),
      amount: minorUnits,
      currency: z.string(),
      manualReference: z.string().nullable(),
      confirmedBy: z.string().nullable(),
      changed: z.boolean().meta({ description: 'false when it had been confirmed before: nothing changed' }),
    }),
  })
  .meta({ id: 'ConfirmManualRefundResponse' });
export type ConfirmManualRefundResponseBody = z.infer<typeof confirmManualRefundResponseSchema>;
