// /admin/merchant-endpoints and /admin/merchant-events: operators manage where merchant events go and look at, or
// redeliver, what was sent. Mounted behind admin access by admin.routes.ts; every change is written to admin_actions.
// The OpenAPI entries live in openapi/paths/merchant-events.paths.ts.
import { type Response, Router } from 'express';
import type { ApiConfig } from '../../config/env';
import { recordAdminAction } from '../../db/admin/admin-actions.repo';
import {
  findEventWithAttempts,
  listEvents,
  resetForRedelivery,
} from '../../db/merchant-events/merchant-deliveries.repo';
import { findEndpoint, listEndpoints } from '../../db/merchant-events/merchant-endpoints.repo';
import type { Pool } from '../../db/pool';
import { ADMIN_TOKEN_PRINCIPAL } from '../auth/api-key-auth';
import { rejectOtherMethods } from '../http/error-handler';
import { ApiError } from '../http/errors';
import { jsonBody } from '../http/json-body';
import { parseOrThrow } from '../http/parse';
import {
  changeEndpoint,
  createEndpoint,
  endpointBody,
  endpointNotFound,
  rotateSecret,
} from './manage-endpoints.use-case';
import {
  createEndpointRequestSchema,
  endpointPathSchema,
  eventPathSchema,
  eventsQuerySchema,
  redeliverEventRequestSchema,
  redeliverFailedRequestSchema,
  rotateSecretRequestSchema,
  updateEndpointRequestSchema,
} from './merchant-events.schema';

export interface MerchantEventRouteDeps {
  config: Pick<ApiConfig, 'TEMPORAL_CODEC_KEYS'>;
  pool: Pool;
}

export function merchantEventsRoutes(deps: MerchantEventRouteDeps): Router {
  const router = Router();
  const endpointDeps = { pool: deps.pool, codecKeys: deps.config.TEMPORAL_CODEC_KEYS };
  const audit = (res: Response, action: string, target: string, details?: Record<string, unknown>) =>
    recordAdminAction(deps.pool, {
      actor: res.locals.adminActor ?? ADMIN_TOKEN_PRINCIPAL.name,
      action,
      target,
      requestId: res.locals.requestId,
      ...(details ? { details } : {}),
      outcome: 'succeeded',
    });

  router
    .route('/admin/merchant-endpoints')
    .get(async (_req, res) => {
      res.status(200).json({ endpoints: (await listEndpoints(deps.pool)).map(endpointBody) });
    })
    .post(...jsonBody({ bodyRequired: true }), async (req, res) => {
      const body = parseOrThrow(createEndpointRequestSchema, req.body);
      const created = await createEndpoint(endpointDeps, body);
      await audit(res, 'merchant_endpoint.create', body.endpointId, {
        eventTypes: body.eventTypes ?? null,
        includeCustomer: body.includeCustomer,
      });
      res.status(201).json(created);
    })
    .all(rejectOtherMethods(['GET', 'HEAD', 'POST']));

  router
    .route('/admin/merchant-endpoints/:endpointId')
    .get(async (req, res) => {
      const { endpointId } = parseOrThrow(endpointPathSchema, req.params);
      const endpoint = await findEndpoint(deps.pool, endpointId);
      if (!endpoint) throw endpointNotFound(endpointId);
      res.status(200).json(endpointBody(endpoint));
    })
    .patch(...jsonBody({ bodyRequired: true }), async (req, res) => {
      const { endpointId } = parseOrThrow(endpointPathSchema, req.params);
      const changes = parseOrThrow(updateEndpointRequestSchema, req.body);
      const endpoint = await changeEndpoint(endpointDeps, endpointId, changes);
      await audit(res, 'merchant_endpoint.update', endpointId, { ...changes });
      res.status(200).json(endpoint);
    })
    .all(rejectOtherMethods(['GET', 'HEAD', 'PATCH']));

  router
    .route('/admin/merchant-endpoints/:endpointId/rotate-secret')
    .post(...jsonBody({ bodyRequired: false }), async (req, res) => {
      const { endpointId } = parseOrThrow(endpointPathSchema, req.params);
      const { keepPreviousFor } = parseOrThrow(rotateSecretRequestSchema, req.body ?? {});
      const rotated = await rotateSecret(endpointDeps, endpointId, keepPreviousFor);
      await audit(res, 'merchant_endpoint.rotate_secret', endpointId, { keepPreviousForMs: keepPreviousFor });
      res.status(200).json(rotated);
    })
    .all(rejectOtherMethods(['POST']));

  router
    .route('/admin/merchant-events')
    .get(async (req, res) => {
      const query = parseOrThrow(eventsQuerySchema, req.query);
      const events = await listEvents(deps.pool, {
        ...query,
        since: query.since === undefined ? undefined : new Date(query.since),
        until: query.until === undefined ? undefined : new Date(query.until),
      });
      res.status(200).json({ events });
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  // Before /:eventId, which would otherwise take "redeliver" for an event ID (and refuse it).
  router
    .route('/admin/merchant-events/redeliver')
    .post(...jsonBody({ bodyRequired: true }), async (req, res) => {
      const body = parseOrThrow(redeliverFailedRequestSchema, req.body);
      const reset = await resetForRedelivery(deps.pool, {
        since: new Date(body.from),
        until: new Date(body.to),
        ...(body.endpointId ? { endpointId: body.endpointId } : {}),
      });
      await audit(res, 'merchant_events.redeliver_failed', body.endpointId ?? '*', { ...body, reset });
      res.status(202).json({ reset });
    })
    .all(rejectOtherMethods(['POST']));

  router
    .route('/admin/merchant-events/:eventId')
    .get(async (req, res) => {
      const { eventId } = parseOrThrow(eventPathSchema, req.params);
      const event = await findEventWithAttempts(deps.pool, eventId);
      if (!event) throw new ApiError(404, 'event_not_found', `no merchant event ${eventId}`);
      res.status(200).json(event);
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/admin/merchant-events/:eventId/redeliver')
    .post(...jsonBody({ bodyRequired: false }), async (req, res) => {
      const { eventId } = parseOrThrow(eventPathSchema, req.params);
      const body = parseOrThrow(redeliverEventRequestSchema, req.body ?? {});
      if (!(await findEventWithAttempts(deps.pool, eventId))) {
        throw new ApiError(404, 'event_not_found', `no merchant event ${eventId}`);
      }
      const reset = await resetForRedelivery(deps.pool, { eventId, ...body });
      await audit(res, 'merchant_event.redeliver', eventId, { ...body, reset });
      res.status(202).json({ reset });
    })
    .all(rejectOtherMethods(['POST']));

  return router;
}
