// /orders: parse the request at the edge, call the use case, send what it returns. No decisions here.
import { Router } from 'express';
import { cancelOrder, DEFAULT_CANCEL_REASON, type CancelDeps } from './cancel-order.use-case';
import {
  cancelBodySchema,
  checkoutBodySchema,
  idempotencyKeySchema,
  orderIdSchema,
  parseOrThrow,
} from './checkout.schema';
import { checkoutOrder, type CheckoutDeps } from './checkout-order.use-case';
import { rejectOtherMethods } from './error-handler';
import { getOrder } from './get-order.use-case';
import { jsonBody } from './json-body';

export type OrdersRouteDeps = CheckoutDeps & CancelDeps;

export function ordersRoutes(deps: OrdersRouteDeps): Router {
  const router = Router();

  router
    .route('/orders')
    .post(...jsonBody({ bodyRequired: true }), async (req, res) => {
      const order = parseOrThrow(checkoutBodySchema, req.body);
      const offeredKey = req.get('idempotency-key');
      const idempotencyKey =
        offeredKey === undefined ? order.orderId : parseOrThrow(idempotencyKeySchema, offeredKey, 'Idempotency-Key');
      const logger = res.locals.logger.child({ orderId: order.orderId });
      const response = await checkoutOrder({ ...deps, logger }, { order, idempotencyKey });
      if (response.replayed) res.setHeader('Idempotent-Replayed', 'true');
      res.status(response.status).json(response.body);
    })
    .all(rejectOtherMethods(['POST']));

  router
    .route('/orders/:orderId')
    .get(async (req, res) => {
      const orderId = parseOrThrow(orderIdSchema, req.params.orderId, 'orderId');
      res.status(200).json(await getOrder(deps, orderId));
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/orders/:orderId/cancel')
    .post(...jsonBody({ bodyRequired: false }), async (req, res) => {
      const orderId = parseOrThrow(orderIdSchema, req.params.orderId, 'orderId');
      const body = parseOrThrow(cancelBodySchema, req.body);
      const logger = res.locals.logger.child({ orderId });
      const order = await cancelOrder({ ...deps, logger }, { orderId, reason: body?.reason ?? DEFAULT_CANCEL_REASON });
      res.status(200).json(order);
    })
    .all(rejectOtherMethods(['POST']));

  return router;
}
