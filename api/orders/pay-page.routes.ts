// GET /pay/:orderId: eSewa's payment starts with a form POST from the payer's browser, so this page serves a
// self-submitting form with the signed fields, built from the order row. Only an order awaiting payment gets one;
// anything else gets an honest page, so a closed order cannot be paid from an old link.
import { Router } from 'express';
import type { ApiConfig } from '../../config/env';
import type { Pool } from '../../db/pool';
import { findOrderSummary } from '../../db/orders/order-view.repo';
import { buildEsewaForm, type EsewaMerchant } from '../../gateways/esewa/esewa.protocol';
import { orderIdSchema } from './checkout.schema';
import { rejectOtherMethods } from '../http/error-handler';
import { orderClosed, orderNotFound } from '../http/errors';
import { escapeHtml, paragraph, sendErrorPage, sendHtmlPage } from '../http/html.view';
import { ESEWA_AUTO_SUBMIT_SCRIPT } from '../http/security-headers';

export interface PayPageDeps {
  config: Pick<ApiConfig, 'ESEWA_FORM_URL' | 'ESEWA_PRODUCT_CODE' | 'ESEWA_SECRET_KEY' | 'PUBLIC_BASE_URL'>;
  pool: Pool;
}

function esewaMerchantOf(config: PayPageDeps['config']): EsewaMerchant {
  return {
    formUrl: config.ESEWA_FORM_URL,
    productCode: config.ESEWA_PRODUCT_CODE,
    secretKey: config.ESEWA_SECRET_KEY,
    publicBaseUrl: config.PUBLIC_BASE_URL,
  };
}

export function payPageRoutes(deps: PayPageDeps): Router {
  const router = Router();
  const esewa = esewaMerchantOf(deps.config);
  router
    .route('/pay/:orderId')
    .get(async (req, res) => {
      const orderId = orderIdSchema.safeParse(req.params.orderId);
      const order = orderId.success ? await findOrderSummary(deps.pool, orderId.data) : undefined;
      if (!order || order.gateway !== 'esewa') {
        const page = paragraph('orderpay has no eSewa payment for this link.');
        sendErrorPage(req, res, orderNotFound(orderId.success ? orderId.data : ''), 'No such payment', page);
        return;
      }
      // Past its expiry the order is about to close: a payment now would only be refunded.
      if (order.status === 'AWAITING_PAYMENT' && Date.parse(order.expiresAt) <= Date.now()) {
        const page = paragraph(`Order ${order.orderId} has expired.`);
        sendErrorPage(req, res, orderClosed(order.orderId), 'This order cannot be paid', page);
        return;
      }
      if (order.status !== 'AWAITING_PAYMENT') {
        sendErrorPage(
          req,
          res,
          orderClosed(order.orderId),
          'This order cannot be paid',
          paragraph(`Order ${order.orderId} is ${order.status.toLowerCase().replace('_', ' ')}; nothing was charged.`),
        );
        return;
      }
      const fields = buildEsewaForm(esewa, { orderId: order.orderId, amountMinor: order.amountMinor });
      const inputs = Object.entries(fields)
        .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
        .join('');
      sendHtmlPage(
        res,
        200,
        'Redirecting to eSewa',
        `<form id="esewa" method="POST" action="${escapeHtml(esewa.formUrl)}">${inputs}` +
          `<p>Order ${escapeHtml(order.orderId)}: Rs ${escapeHtml(fields.total_amount)}</p>` +
          `<button type="submit">Pay with eSewa</button></form>` +
          `<script>${ESEWA_AUTO_SUBMIT_SCRIPT}</script>`,
      );
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));
  return router;
}
