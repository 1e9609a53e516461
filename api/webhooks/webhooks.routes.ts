// /webhooks/:gateway: the body stays raw bytes, because the signature is over exactly what was sent.
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { ApiMetrics } from '../../config/metrics';
import type { GatewayName } from '../../contracts/order.contract';
import { gatewayParamSchema } from '../orders/checkout.schema';
import { rejectOtherMethods } from '../http/error-handler';
import { ApiError, unknownGateway } from '../http/errors';
import type { PublicRateLimits } from '../http/rate-limits';
import { receiveWebhook, type WebhookDeps } from './receive-webhook.use-case';

/** Payment events are a few kilobytes; the limit only stops abuse. */
const WEBHOOK_BODY_LIMIT = '256kb';

export type WebhooksRouteDeps = WebhookDeps & { metrics: ApiMetrics } & Pick<PublicRateLimits, 'webhookFailure'>;

export function webhooksRoutes(deps: WebhooksRouteDeps): Router {
  const router = Router();
  // Any content type: the verifier, not the header, decides what the bytes are.
  const raw = express.raw({ limit: WEBHOOK_BODY_LIMIT, type: () => true });

  router
    .route('/webhooks/:gateway')
    .post(timeWebhook(deps), requireKnownGateway(deps), raw, async (req, res) => {
      const gateway = gatewayParamSchema.parse(req.params.gateway);
      const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // The request's logger, so every line about this delivery carries its request ID.
      const receipt = await receiveWebhook(
        { ...deps, logger: res.locals.logger },
        { gateway, rawBody, headers: req.headers },
      ).catch(async (error: unknown) => {
        // Only now, with the signature known to be bad, is the sender's failure count touched.
        if (error instanceof ApiError && error.code === 'invalid_signature')
          throw (await deps.webhookFailure(req)) ?? error;
        throw error;
      });
      res.status(200).json(receipt);
    })
    .all(rejectOtherMethods(['POST']));

  return router;
}

/** Latency and status code of every webhook answer, by gateway (`unknown` for names that are not ours). */
function timeWebhook({ metrics, webhookVerifiers }: WebhookDeps & { metrics: ApiMetrics }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const startedAt = process.hrtime.bigint();
    const gateway = knownGateway(req, webhookVerifiers) ?? 'unknown';
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      metrics.webhookAnswered(gateway, res.statusCode, seconds);
    });
    next();
  };
}

/** Checked before the body is read, so an unknown gateway costs nothing. */
function requireKnownGateway({ webhookVerifiers }: WebhookDeps) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    next(knownGateway(req, webhookVerifiers) ? undefined : unknownGateway());
  };
}

/** The path's gateway if it is one we verify webhooks for. */
function knownGateway(req: Request, webhookVerifiers: WebhookDeps['webhookVerifiers']): GatewayName | undefined {
  const gateway = gatewayParamSchema.safeParse(req.params.gateway);
  return gateway.success && webhookVerifiers[gateway.data] ? gateway.data : undefined;
}
