// /orders: parse the request at the edge, call the use case, send what it returns. No decisions here.
// Merchant routes need an API key with the route's scope (requireScope, before the body is read); the payer's
// GET /orders/:orderId/status needs only the order's client secret.
import { type NextFunction, type Request, type Response, Router } from 'express';
import { cancelOrder, DEFAULT_CANCEL_REASON, type CancelDeps } from './cancel-order.use-case';
import {
  cancelBodySchema,
  checkoutBodySchema,
  fulfilmentAnswerSchema,
  orderIdSchema,
  type CheckoutBody,
} from './checkout.schema';
import { answerFulfilment } from './answer-fulfilment.use-case';
import { answerIdempotently, idempotencyKeyOf, type IdempotentAnswer } from '../http/idempotency';
import { findCheckoutRecords } from '../../db/orders/idempotency.repo';
import { gatewayRejected } from '../http/errors';
import { parseOrThrow } from '../http/parse';
import type { CheckoutResponseBody } from '../http/responses.schema';
import type { ApiMetrics } from '../../config/metrics';
import { checkoutOrder, checkoutRequestHash, type CheckoutDeps } from './checkout-order.use-case';
import { errorBody, rejectOtherMethods } from '../http/error-handler';
import { getOrder } from './get-order.use-case';
import { jsonBody } from '../http/json-body';
import { createApiKeyAuthenticator, requireScope } from '../auth/api-key-auth';
import type { ApiKeyCache } from '../auth/api-key-cache';
import { clientSecrets } from '../auth/client-secret';
import { getOrderStatus } from './get-order-status.use-case';
import { orderStatusQuerySchema } from './order-status.schema';

export type OrdersRouteDeps = CheckoutDeps & CancelDeps & { metrics: ApiMetrics; apiKeyCache?: ApiKeyCache };

export function ordersRoutes(deps: OrdersRouteDeps): Router {
  const router = Router();
  const authenticate = createApiKeyAuthenticator(deps);
  const secrets = clientSecrets(deps.config);

  router
    .route('/orders')
    .post(
      countCheckout(deps.metrics),
      requireScope(authenticate, ['orders:write']),
      ...jsonBody({ bodyRequired: true }),
      async (req, res) => {
        const order = parseOrThrow(checkoutBodySchema, req.body);
        const idempotencyKey = idempotencyKeyOf(req, { naturalKey: order.orderId });
        const logger = res.locals.logger.child({ orderId: order.orderId });
        const answer = await answerCheckout({ ...deps, logger }, { order, idempotencyKey });
        if (answer.replayed) res.setHeader('Idempotent-Replayed', 'true');
        // Derived, never stored: a replayed checkout answers with the same secret (client-secret.ts).
        const { body } = answer;
        const answered = (answer.status === 200 || answer.status === 201) && isObject(body);
        res.status(answer.status).json(answered ? { ...body, clientSecret: secrets.issue(order.orderId) } : body);
      },
    )
    .all(rejectOtherMethods(['POST']));

  router
    .route('/orders/:orderId')
    .get(requireScope(authenticate, ['orders:read']), async (req, res) => {
      const orderId = parseOrThrow(orderIdSchema, req.params.orderId, 'orderId');
      res.status(200).json(await getOrder(deps, orderId));
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/orders/:orderId/cancel')
    .post(requireScope(authenticate, ['orders:write']), ...jsonBody({ bodyRequired: false }), async (req, res) => {
      const orderId = parseOrThrow(orderIdSchema, req.params.orderId, 'orderId');
      const body = parseOrThrow(cancelBodySchema, req.body);
      const logger = res.locals.logger.child({ orderId });
      const order = await cancelOrder({ ...deps, logger }, { orderId, reason: body?.reason ?? DEFAULT_CANCEL_REASON });
      res.status(200).json(order);
    })
    .all(rejectOtherMethods(['POST']));

  router
    .route('/orders/:orderId/fulfilment')
    .post(requireScope(authenticate, ['orders:write']), ...jsonBody({ bodyRequired: true }), async (req, res) => {
      const orderId = parseOrThrow(orderIdSchema, req.params.orderId, 'orderId');
      const answer = parseOrThrow(fulfilmentAnswerSchema, req.body);
      const logger = res.locals.logger.child({ orderId });
      res.status(200).json(await answerFulfilment({ ...deps, logger }, { orderId, answer }));
    })
    .all(rejectOtherMethods(['POST']));

  router
    .route('/orders/:orderId/status')
    .get(async (req, res) => {
      const orderId = parseOrThrow(orderIdSchema, req.params.orderId, 'orderId');
      const query = parseOrThrow(orderStatusQuerySchema, req.query);
      res.setHeader('Cache-Control', 'no-store');
      res
        .status(200)
        .json(
          await getOrderStatus(
            { pool: deps.pool, clientSecrets: secrets },
            { orderId, clientSecret: query.client_secret },
          ),
        );
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  return router;
}

/** Counts every checkout once its answer is sent, whichever way it ended (including refused bodies). */
function countCheckout(metrics: ApiMetrics) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    res.on('finish', () => metrics.checkoutFinished(checkoutOutcome(res)));
    next();
  };
}

function checkoutOutcome(res: Response): string {
  if (res.statusCode === 201) return 'created';
  if (res.statusCode === 200) return 'replayed';
  // The gateway refusing the intent is an answer the use case builds, not a thrown error.
  if (res.statusCode === 502) return 'gateway_rejected';
  return res.locals.errorCode ?? `http_${res.statusCode}`;
}

export const CHECKOUT_SCOPE = 'POST /orders';

/** A checkout in HTTP terms, once per Idempotency-Key (by default the order ID). */
export async function answerCheckout(
  deps: CheckoutDeps,
  { order, idempotencyKey }: { order: CheckoutBody; idempotencyKey: string },
): Promise<IdempotentAnswer> {
  const request = {
    scope: CHECKOUT_SCOPE,
    key: idempotencyKey,
    requestHash: checkoutRequestHash(order),
    orderId: order.orderId,
  };
  // The stored answer and the order's row in one round trip: the checkout needs the row whenever there is no answer.
  const records = await findCheckoutRecords(deps.pool, {
    scope: request.scope,
    idempotencyKey: request.key,
    orderId: order.orderId,
  });
  return answerIdempotently(
    deps,
    request,
    async () => {
      const outcome = await checkoutOrder(deps, order, records.order);
      // An order recorded before this request is answered from its records: nothing new to store under the key.
      const fresh = { replayed: !outcome.createdByThisRequest, remember: outcome.createdByThisRequest };
      if (outcome.kind === 'gateway_rejected') {
        const { orderId, status, failureReason } = outcome;
        const rejected = gatewayRejected({ orderId, status, failureReason });
        return { ...fresh, status: rejected.status, body: errorBody(rejected) };
      }
      return {
        ...fresh,
        status: outcome.createdByThisRequest ? 201 : 200,
        body: outcome.order satisfies CheckoutResponseBody,
      };
    },
    records,
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
