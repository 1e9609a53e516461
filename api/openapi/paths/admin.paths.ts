import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import {
  adminActionListSchema,
  adminActionsQuerySchema,
  adminOrderListSchema,
  adminOrdersQuerySchema,
  confirmManualRefundRequestSchema,
  confirmManualRefundResponseSchema,
  failedWebhookListSchema,
  failedWebhooksQuerySchema,
  orderPathSchema,
  recheckResponseSchema,
  refundPathSchema,
  refundRequestSchema,
  refundResponseSchema,
  webhookEventPathSchema,
  webhookRetryResponseSchema,
} from '../../admin/admin.schema';
import { idempotencyKeySchema } from '../../http/idempotency';
import { adminErrors, error, json, replayedHeader, retryAfterHeader } from '../responses';

/** Every /admin operation: the bearer token, and the answers the door itself gives. */
const admin = { tags: ['admin'], security: [{ adminBearer: [] }] };

export const adminPaths: ZodOpenApiPathsObject = {
  '/admin/actions': {
    get: {
      ...admin,
      summary: 'The audit log of admin actions, newest first',
      requestParams: { query: adminActionsQuerySchema },
      responses: { ...adminErrors, '200': json('Admin actions', adminActionListSchema) },
    },
  },
  '/admin/orders': {
    get: {
      ...admin,
      summary: 'List orders by status, gateway, age and attention flag (oldest first, keyset pages)',
      description:
        'Which orders need me now: `needsAttention=true`, or `status=AWAITING_PAYMENT&olderThan=1h` for payments ' +
        'stuck past their expected window.',
      requestParams: { query: adminOrdersQuerySchema },
      responses: { ...adminErrors, '200': json('A page of orders', adminOrderListSchema) },
    },
  },
  '/admin/orders/{orderId}/refunds': {
    post: {
      ...admin,
      summary: 'Refund an order in full or in part (idempotent)',
      description:
        'The order’s workflow refunds at the gateway, once per Idempotency-Key; after its grace window a refund ' +
        'workflow (`order-refund-<orderId>-<key hash>`) does, for any PAID or PARTIALLY_REFUNDED order, checked ' +
        'against the refunds ledger. The same key and body replay the first answer with 200 ' +
        '(`Idempotent-Replayed: true`); the same key with another body is a 409.',
      requestParams: {
        path: orderPathSchema,
        header: z.object({ 'idempotency-key': idempotencyKeySchema.meta({ description: 'Required' }) }),
      },
      requestBody: { required: true, content: { 'application/json': { schema: refundRequestSchema } } },
      responses: {
        ...adminErrors,
        '200': {
          ...json('Refunded before under this key (Idempotent-Replayed: true)', refundResponseSchema),
          headers: replayedHeader,
        },
        '201': json('Refunded (or, for a gateway without a refund API, awaiting_manual)', refundResponseSchema),
        '404': error('`order_not_found`'),
        '409': error('`idempotency_conflict` or `invalid_transition` (not paid)'),
        '415': error('`unsupported_media_type`'),
        '422': error('`refund_exceeds_refundable`: details.refundableAmount is what is left'),
        '502': error('`refund_failed`: the gateway declined; the order is flagged NeedsAttention'),
        '503': {
          ...error('`refund_pending`: repeat the same request (same key) for the result; or a dependency is down'),
          headers: retryAfterHeader,
        },
      },
    },
  },
  '/admin/orders/{orderId}/recheck': {
    post: {
      ...admin,
      summary: 'Make the workflow look the payment up at the gateway now',
      description: 'Sent as an unverified hint: the workflow trusts only the gateway’s own answer to its lookup.',
      requestParams: { path: orderPathSchema },
      responses: {
        ...adminErrors,
        '202': json('The lookup is requested; read the order for its result', recheckResponseSchema),
        '404': error('`order_not_found`'),
        '409': error('`order_closed`: the workflow has completed (after its grace window)'),
      },
    },
  },
  '/admin/refunds/{refundId}/confirm': {
    post: {
      ...admin,
      summary: 'Confirm a manual refund (eSewa has no refund API): the operator refunded at the gateway',
      description:
        'The order’s workflow has been waiting for this: it records the reference and only then reports the money ' +
        'refunded. Confirming again answers 200 with `changed: false`.',
      requestParams: { path: refundPathSchema },
      requestBody: { required: true, content: { 'application/json': { schema: confirmManualRefundRequestSchema } } },
      responses: {
        ...adminErrors,
        '200': json('Confirmed (or confirmed before)', confirmManualRefundResponseSchema),
        '404': error('`refund_not_found`'),
        '409': error('`refund_not_awaiting_manual` or `order_closed`'),
        '415': error('`unsupported_media_type`'),
      },
    },
  },
  '/admin/webhooks/failed': {
    get: {
      ...admin,
      summary: 'The dead-letter queue: webhook events that failed, or are stuck undelivered',
      requestParams: { query: failedWebhooksQuerySchema },
      responses: { ...adminErrors, '200': json('A page of events, oldest first', failedWebhookListSchema) },
    },
  },
  '/admin/webhooks/{id}/retry': {
    post: {
      ...admin,
      summary: 'Deliver one stored webhook event to its order again, exactly once',
      requestParams: { path: webhookEventPathSchema },
      responses: {
        ...adminErrors,
        '200': json('Delivered, or no open workflow (left to reconciliation)', webhookRetryResponseSchema),
        '404': error('`webhook_event_not_found`'),
        '409': error('`webhook_already_processed`, `webhook_retry_in_progress` or `webhook_not_retryable`'),
      },
    },
  },
};
