// /admin: the operators' API. Every route below sits behind an admin API key (requireAdminAccess), and every
// action that changes something is written to admin_actions with the operator, the target and the outcome, before
// the answer is sent. Routes parse, call a use case and answer; the OpenAPI entries live in openapi/paths/admin.paths.ts.
import type { Client } from '@temporalio/client';
import { type Response, Router } from 'express';
import { z } from 'zod';
import type { ApiConfig } from '../../config/env';
import { describeError, type Logger } from '../../config/logger';
import { listAdminActions, recordAdminAction, type AdminActionRecord } from '../../db/admin/admin-actions.repo';
import { listOrders } from '../../db/orders/order-view.repo';
import type { Pool } from '../../db/pool';
import { listUndeliveredWebhookEvents } from '../../db/webhooks/webhook-events.repo';
import { requireAdminAccess } from '../auth/admin-auth';
import { createApiKeyAuthenticator } from '../auth/api-key-auth';
import type { ApiKeyCache } from '../auth/api-key-cache';
import { apiKeysRoutes } from '../auth/api-keys.routes';
import {
  adminActionsQuerySchema,
  adminOrdersQuerySchema,
  confirmManualRefundRequestSchema,
  encodeCursor,
  failedWebhooksQuerySchema,
  orderPathSchema,
  refundPathSchema,
  refundRequestSchema,
  webhookEventPathSchema,
  type AdminOrderListBody,
  type ConfirmManualRefundResponseBody,
  type FailedWebhookListBody,
  type RefundResponseBody,
} from './admin.schema';
import { answerIdempotently, idempotencyKeyOf, type FreshAnswer } from '../http/idempotency';
import { parseOrThrow } from '../http/parse';
import { errorBody, rejectOtherMethods, toApiError } from '../http/error-handler';
import { refundFailed } from '../http/errors';
import { jsonBody } from '../http/json-body';
import { confirmManualRefund } from './confirm-manual-refund.use-case';
import { merchantEventsRoutes } from '../merchant-events/merchant-events.routes';
import { reconciliationRoutes } from '../reconciliation/reconciliation.routes';
import { recheckOrder } from './recheck-order.use-case';
import { ADMIN_REFUND_SCOPE, refundOrder, refundRequestHash, type RefundOutcome } from './refund-order.use-case';
import { retryWebhookEvent } from './retry-webhook.use-case';

export interface AdminRouteDeps {
  config: ApiConfig;
  pool: Pool;
  temporal: Client;
  logger: Logger;
  /** The merchant routes' key cache: a key revoked here is forgotten there at once. */
  apiKeyCache?: ApiKeyCache;
}

export function adminRoutes(deps: AdminRouteDeps): Router {
  const router = Router();
  // No cache at this door: an admin key revoked anywhere (another process, the CLI) is refused on its next request.
  router.use('/admin', requireAdminAccess(createApiKeyAuthenticator({ ...deps, apiKeyCache: undefined })));

  router
    .route('/admin/actions')
    .get(async (req, res) => {
      const query = parseOrThrow(adminActionsQuerySchema, req.query);
      res.status(200).json({ actions: await listAdminActions(deps.pool, query) });
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/admin/orders')
    .get(async (req, res) => {
      const query = parseOrThrow(adminOrdersQuerySchema, req.query);
      const page = await listOrders(deps.pool, {
        status: query.status,
        gateway: query.gateway,
        olderThanMs: query.olderThan,
        needsAttention: query.needsAttention,
        after: query.cursor,
        limit: query.limit,
      });
      const body: AdminOrderListBody = {
        orders: page.orders.map(({ amountMinor, capturedAmountMinor, refundedAmountMinor, ...order }) => ({
          ...order,
          amount: amountMinor,
          capturedAmount: capturedAmountMinor,
          refundedAmount: refundedAmountMinor,
        })),
        nextCursor: page.last && page.orders.length === query.limit ? encodeCursor(page.last) : null,
      };
      res.status(200).json(body);
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/admin/orders/:orderId/refunds')
    .post(...jsonBody({ bodyRequired: true }), async (req, res) => {
      const { orderId } = parseOrThrow(orderPathSchema, req.params);
      const idempotencyKey = idempotencyKeyOf(req, { requiredBecause: 'it makes a repeated refund safe' });
      const body = parseOrThrow(refundRequestSchema, req.body);
      const logger = res.locals.logger.child({ orderId });
      const command = { orderId, idempotencyKey, body };
      const answer = await audited(
        deps,
        res,
        {
          action: 'order.refund',
          target: orderId,
          idempotencyKey,
          details: { amount: body.amount, reason: body.reason },
        },
        () =>
          answerIdempotently(
            { ...deps, logger },
            { scope: ADMIN_REFUND_SCOPE, key: idempotencyKey, requestHash: refundRequestHash(command), orderId },
            async () => refundAnswer(await refundOrder({ ...deps, logger }, command), idempotencyKey),
          ),
        (result) => ({
          outcome: result.replayed ? 'replayed' : result.status === 201 ? 'succeeded' : 'refund_failed',
          details: { refundId: refundIdOf(result.body) },
        }),
      );
      if (answer.replayed) res.setHeader('Idempotent-Replayed', 'true');
      res.status(answer.status).json(answer.body);
    })
    .all(rejectOtherMethods(['POST']));

  router
    .route('/admin/orders/:orderId/recheck')
    .post(async (req, res) => {
      const { orderId } = parseOrThrow(orderPathSchema, req.params);
      const answer = await audited(deps, res, { action: 'order.recheck', target: orderId }, () =>
        recheckOrder(deps, orderId),
      );
      res.status(202).json(answer);
    })
    .all(rejectOtherMethods(['POST']));

  router
    .route('/admin/refunds/:refundId/confirm')
    .post(...jsonBody({ bodyRequired: true }), async (req, res) => {
      const { refundId } = parseOrThrow(refundPathSchema, req.params);
      const body = parseOrThrow(confirmManualRefundRequestSchema, req.body);
      const confirmed = await audited(
        deps,
        res,
        { action: 'refund.confirm_manual', target: refundId, details: { reference: body.reference } },
        () =>
          confirmManualRefund(
            { ...deps, logger: res.locals.logger },
            { refundId, reference: body.reference, note: body.note, actor: res.locals.adminActor ?? 'unknown' },
          ),
        (refund) => ({
          outcome: refund.changed ? 'succeeded' : 'already_confirmed',
          details: { orderId: refund.orderId },
        }),
      );
      const answer: ConfirmManualRefundResponseBody = { refund: confirmed };
      res.status(200).json(answer);
    })
    .all(rejectOtherMethods(['POST']));

  router
    .route('/admin/webhooks/failed')
    .get(async (req, res) => {
      const query = parseOrThrow(failedWebhooksQuerySchema, req.query);
      const events = await listUndeliveredWebhookEvents(deps.pool, {
        stuckAfterMs: query.stuckAfter,
        gateway: query.gateway,
        afterId: query.cursor?.afterId,
        limit: query.limit,
      });
      const last = events.at(-1);
      const body: FailedWebhookListBody = {
        events,
        nextCursor: last && events.length === query.limit ? encodeCursor({ afterId: last.id }) : null,
      };
      res.status(200).json(body);
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/admin/webhooks/:id/retry')
    .post(async (req, res) => {
      const { id } = parseOrThrow(webhookEventPathSchema, req.params);
      const answer = await audited(deps, res, { action: 'webhook.retry', target: String(id) }, () =>
        retryWebhookEvent({ ...deps, logger: res.locals.logger }, id),
      );
      res.status(200).json(answer);
    })
    .all(rejectOtherMethods(['POST']));

  router.use(reconciliationRoutes(deps));
  router.use(apiKeysRoutes(deps));
  router.use(merchantEventsRoutes(deps));
  return router;
}

/** A refund the gateway declined is an answer to store (502 refund_failed); any other refund was made (201). */
function refundAnswer({ refund, order }: RefundOutcome, idempotencyKey: string): FreshAnswer {
  const fresh = { replayed: false, remember: true };
  if (refund.state === 'failed') {
    const failed = refundFailed(order.orderId, refund.refundId);
    return { ...fresh, status: failed.status, body: errorBody(failed) };
  }
  const body: RefundResponseBody = {
    refund: {
      refundId: refund.refundId,
      requestId: idempotencyKey,
      amount: refund.amountMinor,
      reason: refund.reason,
      state: refund.state,
    },
    order,
  };
  return { ...fresh, status: 201, body };
}

/** The refund a (possibly stored) answer names, for the audit log. */
function refundIdOf(body: unknown): string {
  const parsed = refundIdSchema.safeParse(body);
  if (!parsed.success) return '';
  return 'refund' in parsed.data ? parsed.data.refund.refundId : (parsed.data.error.details?.refundId ?? '');
}

const refundIdSchema = z.union([
  z.object({ refund: z.object({ refundId: z.string() }) }),
  z.object({ error: z.object({ details: z.object({ refundId: z.string().optional() }).optional() }) }),
]);

type AuditEntry = Pick<AdminActionRecord, 'action' | 'target' | 'idempotencyKey' | 'details'>;

/**
 * Runs one admin action and records it, whatever happens: the outcome is `succeeded` (or what `describe` says)
 * or the error code the request ends with. A success that cannot be recorded is not answered as a success: the
 * operator repeats it (idempotently) until it is on record.
 */
async function audited<T>(
  { pool }: { pool: Pool },
  res: Response,
  entry: AuditEntry,
  run: () => Promise<T>,
  describe: (result: T) => { outcome: string; details?: Record<string, unknown> } = () => ({ outcome: 'succeeded' }),
): Promise<T> {
  const record = (outcome: string, details?: Record<string, unknown>) =>
    recordAdminAction(pool, {
      ...entry,
      details: { ...entry.details, ...details },
      actor: res.locals.adminActor ?? 'unknown',
      requestId: res.locals.requestId,
      outcome,
    });
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await record(toApiError(error)?.code ?? 'internal_error').catch((recordError: unknown) =>
      res.locals.logger.error({ err: describeError(recordError), action: entry.action }, 'admin action not recorded'),
    );
    throw error;
  }
  const { outcome, details } = describe(result);
  await record(outcome, details);
  return result;
}
