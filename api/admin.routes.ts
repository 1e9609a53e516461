// /admin: the operators' API. Every route below sits behind the bearer token (requireAdminToken), and every
// action is written to admin_actions with the operator, the target and the outcome.
import type { Client } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import type { ApiConfig } from '../config/env';
import { listAdminActions } from '../db/admin-actions.repo';
import type { Pool } from '../db/pool';
import { requireAdminToken } from './admin-auth';
import { parseOrThrow } from './checkout.schema';
import { rejectOtherMethods } from './error-handler';
import { reconciliationRoutes } from './reconciliation.routes';

export interface AdminRouteDeps {
  config: Pick<ApiConfig, 'ADMIN_API_TOKEN' | 'TEMPORAL_TASK_QUEUE'>;
  pool: Pool;
  temporal: Client;
}

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

  router.use(reconciliationRoutes(deps));
  return router;
}
