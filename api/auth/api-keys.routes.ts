// /admin/api-keys: operators create, list and revoke merchant API keys. Mounted inside adminRoutes, so the admin
// door (requireAdminAccess) has already let the request in. Every change is written to admin_actions, never the key.
import { describeError } from '../../config/logger';
import { type Response, Router } from 'express';
import type { ApiConfig } from '../../config/env';
import { recordAdminAction } from '../../db/admin/admin-actions.repo';
import type { Pool } from '../../db/pool';
import { keyEnvironment } from './api-key';
import type { ApiKeyCache } from './api-key-cache';
import { apiKeyPathSchema, createApiKeyRequestSchema } from './api-keys.schema';
import { parseOrThrow } from '../http/parse';
import { rejectOtherMethods, toApiError } from '../http/error-handler';
import { jsonBody } from '../http/json-body';
import { createApiKey, listKeys, revokeKey } from './manage-api-keys.use-case';

export interface ApiKeysRouteDeps {
  config: Pick<ApiConfig, 'ORDERPAY_ENV'>;
  pool: Pool;
  apiKeyCache?: ApiKeyCache;
}

export function apiKeysRoutes(deps: ApiKeysRouteDeps): Router {
  const router = Router();

  router
    .route('/admin/api-keys')
    .get(async (_req, res) => {
      res.status(200).json({ apiKeys: await listKeys(deps.pool) });
    })
    .post(...jsonBody({ bodyRequired: true }), async (req, res) => {
      const body = parseOrThrow(createApiKeyRequestSchema, req.body);
      const created = await audit(
        deps.pool,
        res,
        { action: 'api_key.create', details: { name: body.name, scopes: body.scopes } },
        () => createApiKey(deps.pool, { ...body, environment: keyEnvironment(deps.config.ORDERPAY_ENV) }),
        (key) => ({ target: key.id, outcome: 'succeeded' }),
      );
      res.setHeader('Cache-Control', 'no-store');
      res.status(201).json(created);
    })
    .all(rejectOtherMethods(['GET', 'HEAD', 'POST']));

  router
    .route('/admin/api-keys/:id/revoke')
    .post(async (req, res) => {
      const { id } = parseOrThrow(apiKeyPathSchema, req.params);
      const revoked = await audit(
        deps.pool,
        res,
        { action: 'api_key.revoke', target: id },
        () => revokeKey(deps.pool, id),
        (result) => ({ target: id, outcome: result.changed ? 'succeeded' : 'already_revoked' }),
      );
      // This process refuses the key from its next request on; other API processes once their cache entry expires.
      deps.apiKeyCache?.forget(id);
      res.status(200).json({ apiKey: revoked.key });
    })
    .all(rejectOtherMethods(['POST']));

  return router;
}

/** Runs the change and records it, success or failure; a success that cannot be recorded is not answered. */
async function audit<T>(
  pool: Pool,
  res: Response,
  entry: { action: string; target?: string; details?: Record<string, unknown> },
  run: () => Promise<T>,
  describe: (result: T) => { target: string; outcome: string },
): Promise<T> {
  const record = (outcome: string, target: string | undefined) =>
    recordAdminAction(pool, {
      actor: res.locals.adminActor ?? 'unknown',
      action: entry.action,
      ...(target === undefined ? {} : { target }),
      requestId: res.locals.requestId,
      details: { ...entry.details, keyId: res.locals.principal?.keyId },
      outcome,
    });
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await record(toApiError(error)?.code ?? 'internal_error', entry.target).catch((recordError: unknown) =>
      res.locals.logger.error({ err: describeError(recordError), action: entry.action }, 'admin action not recorded'),
    );
    throw error;
  }
  const { target, outcome } = describe(result);
  await record(outcome, target);
  return result;
}
