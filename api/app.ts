// The express app, from injected dependencies only: main.ts wires real ones, tests wire their own.
import type { Client } from '@temporalio/client';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { ApiConfig } from '../config/env';
import type { Logger } from '../config/logger';
import type { ApiMetrics } from '../config/metrics';
import type { GatewayName } from '../contracts/order.contract';
import type { Pool } from '../db/pool';
import type { CallbackHandler, WebhookVerifier } from '../gateways/gateway';
import { adminRoutes } from './admin/admin.routes';
import { ApiKeyCache } from './auth/api-key-cache';
import { callbacksRoutes } from './webhooks/callbacks.routes';
import { codecRoutes } from './admin/codec.routes';
import { docsRoutes } from './openapi/docs.routes';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { healthRoutes } from './health/health.routes';
import { ordersRoutes } from './orders/orders.routes';
import { payPageRoutes } from './orders/pay-page.routes';
import { publicRateLimits, type PublicRateLimits } from './http/rate-limits';
import { requestContext } from './http/request-context';
import { securityHeaders } from './http/security-headers';
import { webhooksRoutes } from './webhooks/webhooks.routes';
import { createWebhookDeliveryQueue, type WebhookDeliveryQueue } from './webhooks/webhook-delivery-queue';

export interface ApiDeps {
  config: ApiConfig;
  pool: Pool;
  temporal: Client;
  webhookVerifiers: Partial<Record<GatewayName, WebhookVerifier>>;
  /** Wallets that send the payer's browser back (GET /callbacks/<gateway>/…); a wallet plugs its handler in here. */
  callbackHandlers?: Partial<Record<GatewayName, CallbackHandler>>;
  logger: Logger;
  metrics: ApiMetrics;
  /**
   * Where stored webhooks go for delivery after their answer: startApiServer passes the queue its sweeper also feeds,
   * and drains it on stop. An app made without one (route listings in tests) has a queue of its own.
   */
  webhookDeliveries?: WebhookDeliveryQueue;
  /** Merchant keys checked lately (API_KEY_CACHE_TTL); one per app, so the admin API's revocations reach it. */
  apiKeyCache?: ApiKeyCache;
}

/** The webhook delivery queue of an API process, sized by its configuration. */
export function webhookDeliveryQueueFor(deps: ApiDeps): WebhookDeliveryQueue {
  return createWebhookDeliveryQueue(deps, {
    concurrency: deps.config.WEBHOOK_DELIVERY_CONCURRENCY,
    busyConcurrency: deps.config.WEBHOOK_DELIVERY_BUSY_CONCURRENCY,
    busyAbovePerSecond: deps.config.WEBHOOK_INTAKE_BUSY_PER_SECOND,
    limit: deps.config.WEBHOOK_DELIVERY_QUEUE_LIMIT,
  });
}

export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Weak ETags would make clients cache order states that change underneath them.
  app.set('etag', false);

  app.use(requestContext(deps.logger));
  app.use(securityHeaders(deps.config));
  app.use(countResponses(deps.metrics));
  const limits = publicRateLimits(deps);
  limitPublicRoutes(app, limits);
  app.use(healthRoutes(deps));
  const apiKeyCache = deps.apiKeyCache ?? new ApiKeyCache(deps.config.API_KEY_CACHE_TTL);
  app.use(ordersRoutes({ ...deps, apiKeyCache }));
  app.use(
    webhooksRoutes({
      ...deps,
      webhookDeliveries: deps.webhookDeliveries ?? webhookDeliveryQueueFor(deps),
      webhookFailure: limits.webhookFailure,
    }),
  );
  app.use(callbacksRoutes({ ...deps, callbackHandlers: deps.callbackHandlers ?? {} }));
  app.use(payPageRoutes(deps));
  app.use(adminRoutes({ ...deps, apiKeyCache }));
  app.use(docsRoutes(deps));
  app.use(codecRoutes(deps));
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

/**
 * The payer-facing public routes, per client IP and per order. Webhooks are limited only by their failures, from
 * their route once the signature has failed (webhooks.routes.ts), so a gateway's burst of signed events is never
 * throttled and never waits for a counter.
 */
function limitPublicRoutes(app: Express, limits: PublicRateLimits): void {
  app.use('/callbacks', limits.perIp);
  app.use('/pay/:orderId', limits.perIp, limits.perOrder());
  // Each new attempt can create an intent at a gateway: far fewer per order than page views (card testing).
  app.post('/pay/:orderId/attempts', limits.newAttemptsPerOrder);
  app.use('/orders/:orderId/status', limits.perIp, limits.perOrder());
}

/** Counts every response once it is sent, labelled by the route pattern that matched (never the raw path). */
function countResponses(metrics: ApiMetrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.on('finish', () => {
      const route: unknown = (req.route as { path?: unknown } | undefined)?.path;
      metrics.responseSent(typeof route === 'string' ? route : 'unmatched', req.method, res.statusCode);
    });
    next();
  };
}
