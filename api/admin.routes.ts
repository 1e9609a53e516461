// /admin: the operators' API. Every route below sits behind the bearer token (requireAdminToken), and every
// action is written to admin_actions with the operator, the target and the outcome.
import type { Client } from '@temporalio/client';
import express, { Router } from 'express';
import { z } from 'zod';
import type { ApiConfig } from '../config/env';
import { listAdminActions } from '../db/admin-actions.repo';
import type { Pool } from '../db/pool';
import type { Logger } from '../config/logger';
import { confirmManualRefund } from './confirm-manual-refund.use-case';
import { ANONYMOUS_ADMIN_ACTOR, requireAdminToken } from './admin-auth';
import { parseOrThrow } from './checkout.schema';
import { rejectOtherMethods } from './error-handler';

export interface AdminRouteDeps {
  config: Pick<ApiConfig, 'ADMIN_API_TOKEN' | 'CHECKOUT_TIMEOUT'>;
  pool: Pool;
  temporal: Client;
  logger: Logger;
}

const refundIdSchema = z.string().regex(/^refund-[A-Za-z0-9._-]{1,64}-[0-9]{1,6}$/, 'must be a refund ID');
const confirmRefundBodySchema = z.strictObject({
  /** The refund's reference at the gateway (eSewa merchant portal), as the operator made it. */
  reference: z.string().trim().min(1).max(200),
  note: z.string().trim().max(1000).optional(),
});

const adminActionsQuerySchema = z.object({
  target: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export function adminRoutes(deps: AdminRouteDeps): Router {
  const router = Router();
  router.use('/admin', requireAdminToken(deps.config.ADMIN_API_TOKEN));

  router
    .route('/admin/actions')
    .get(async (req, res) => {
      const query = parseOrThrow(adminActionsQuerySchema, req.query);
      res.status(200).json({ actions: await listAdminActions(deps.pool, query) });
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/admin/refunds/:refundId/confirm')
    .post(express.json({ limit: '16kb', type: () => true }), async (req, res) => {
      const refundId = parseOrThrow(refundIdSchema, req.params.refundId, 'refundId');
      const body = parseOrThrow(confirmRefundBodySchema, req.body ?? {});
      const refund = await confirmManualRefund(
        { ...deps, logger: res.locals.logger },
        {
          refundId,
          reference: body.reference,
          note: body.note,
          actor: res.locals.adminActor ?? ANONYMOUS_ADMIN_ACTOR,
          requestId: res.locals.requestId,
        },
      );
      res.status(200).json({ refund });
    })
    .all(rejectOtherMethods(['POST']));

  return router;
}
