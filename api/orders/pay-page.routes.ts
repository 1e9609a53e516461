// The order's pay link, for every gateway. GET /pay/:orderId shows the order, how its last attempt ended, and the way
// on: the open attempt (eSewa: a self-submitting signed form for the attempt's transaction; Stripe and Khalti: a link
// to the gateway's page), or a "Try again" form when the order awaits payment with no attempt open. POST
// /pay/:orderId/attempts asks the order's workflow for an attempt and sends the payer there. Only an order awaiting
// payment can be paid; anything else gets an honest page, so a closed order cannot be paid from an old link. A payer
// link never refunds or cancels, and shows nothing about the order but its ID and amount.
import { Router, type Request, type Response } from 'express';
import type { ApiConfig } from '../../config/env';
import type { GatewayName } from '../../contracts/order.contract';
import { findPayPageOrder, type PayPageAttempt, type PayPageOrder } from '../../db/orders/pay-page.repo';
import type { Pool } from '../../db/pool';
import { paisaToRupees } from '../../domain/money';
import { buildEsewaForm, type EsewaMerchant } from '../../gateways/esewa/esewa.protocol';
import { orderIdSchema } from './checkout.schema';
import { startAttemptFormSchema } from './pay-page.schema';
import { startPaymentAttempt, type StartPaymentAttemptDeps } from './start-payment-attempt.use-case';
import { rejectOtherMethods } from '../http/error-handler';
import {
  gatewayNotAllowed,
  invalidTransition,
  orderClosed,
  orderNotFound,
  temporalUnavailable,
  validationFailed,
} from '../http/errors';
import { formBody } from '../http/form-body';
import { escapeHtml, isWebUrl, paragraph, sendErrorPage, sendHtmlPage } from '../http/html.view';
import { fieldProblems } from '../http/parse';
import { withStorableText } from '../../gateways/storable-text.schema';
import { ESEWA_AUTO_SUBMIT_SCRIPT } from '../http/security-headers';

export interface PayPageDeps extends Omit<StartPaymentAttemptDeps, 'config' | 'logger'> {
  config: Pick<
    ApiConfig,
    'ESEWA_FORM_URL' | 'ESEWA_PRODUCT_CODE' | 'ESEWA_SECRET_KEY' | 'PUBLIC_BASE_URL' | 'CHECKOUT_TIMEOUT'
  >;
  pool: Pool;
}

const GATEWAY_LABELS: Readonly<Record<GatewayName, string>> = { stripe: 'Card', esewa: 'eSewa', khalti: 'Khalti' };

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
      const order = await payableOrderOrRefusal(req, res, deps);
      if (!order) return;
      const open = [...order.attempts].reverse().find((attempt) => attempt.status === 'open');
      if (open?.gateway === 'esewa') {
        sendEsewaForm(res, esewa, order, open);
        return;
      }
      const summary = orderSummary(order) + outcomeOfLastEndedAttempt(order.attempts);
      if (open && isWebUrl(open.paymentUrl)) {
        const link = `<p><a href="${escapeHtml(open.paymentUrl)}">Continue to payment</a></p>`;
        sendHtmlPage(res, 200, `Pay with ${GATEWAY_LABELS[open.gateway]}`, summary + link);
        return;
      }
      sendHtmlPage(res, 200, 'Pay for your order', summary + tryAgainForm(order));
    })
    .all(rejectOtherMethods(['GET', 'HEAD']));

  router
    .route('/pay/:orderId/attempts')
    .post(...formBody(), async (req, res) => {
      const orderId = orderIdSchema.safeParse(req.params.orderId);
      if (!orderId.success) {
        sendErrorPage(
          req,
          res,
          orderNotFound(''),
          'No such payment',
          paragraph('orderpay has no payment for this link.'),
        );
        return;
      }
      // Every string must be storable text (no NUL, no lone surrogate), whatever the schema says.
      const form = withStorableText(startAttemptFormSchema).safeParse(req.body ?? {});
      if (!form.success) {
        const refusal = validationFailed(fieldProblems(form.error));
        sendErrorPage(req, res, refusal, 'This payment cannot start', paragraph('Please choose a payment method.'));
        return;
      }
      const logger = res.locals.logger.child({ orderId: orderId.data });
      const outcome = await startPaymentAttempt({ ...deps, logger }, { orderId: orderId.data, ...form.data });
      switch (outcome.kind) {
        case 'pay_at':
          res.setHeader('Cache-Control', 'no-store');
          res.redirect(303, outcome.paymentUrl);
          return;
        case 'not_payable':
          sendErrorPage(
            req,
            res,
            outcome.status === null ? orderClosed(outcome.orderId) : invalidTransition(outcome.orderId, outcome.status),
            'This order cannot be paid',
            paragraph(`Order ${outcome.orderId} cannot be paid any more${statusWords(outcome.status)}.`),
          );
          return;
        case 'gateway_not_allowed':
          sendErrorPage(
            req,
            res,
            gatewayNotAllowed(outcome.orderId),
            'This payment method is not offered',
            paragraph(`Order ${outcome.orderId} cannot be paid with this payment method; please choose another.`) +
              backToPayLink(outcome.orderId),
          );
          return;
        case 'not_found':
          sendErrorPage(
            req,
            res,
            orderNotFound(outcome.orderId),
            'No such payment',
            paragraph('orderpay has no payment for this link.'),
          );
          return;
        case 'unavailable':
          sendErrorPage(
            req,
            res,
            temporalUnavailable(),
            'Please try again',
            paragraph(
              'Your payment could not be started just now. Nothing was charged; please try again in a moment.',
            ) + backToPayLink(outcome.orderId),
          );
          return;
      }
    })
    .all(rejectOtherMethods(['POST']));
  return router;
}

/** The order when it can be paid now; otherwise the honest page (or error) is sent and undefined returned. */
async function payableOrderOrRefusal(
  req: Request,
  res: Response,
  deps: PayPageDeps,
): Promise<PayPageOrder | undefined> {
  const orderId = orderIdSchema.safeParse(req.params.orderId);
  const order = orderId.success ? await findPayPageOrder(deps.pool, orderId.data) : undefined;
  if (!order) {
    const page = paragraph('orderpay has no payment for this link.');
    sendErrorPage(req, res, orderNotFound(orderId.success ? orderId.data : ''), 'No such payment', page);
    return undefined;
  }
  // Past its expiry the order is about to close: a payment now would only be refunded.
  if (order.status === 'AWAITING_PAYMENT' && Date.parse(order.expiresAt) <= Date.now()) {
    const page = paragraph(`Order ${order.orderId} has expired.`);
    sendErrorPage(req, res, orderClosed(order.orderId), 'This order cannot be paid', page);
    return undefined;
  }
  if (order.status !== 'AWAITING_PAYMENT') {
    sendErrorPage(
      req,
      res,
      orderClosed(order.orderId),
      'This order cannot be paid',
      paragraph(`Order ${order.orderId} is ${order.status.toLowerCase().replace('_', ' ')}; nothing was charged.`),
    );
    return undefined;
  }
  return order;
}

/** eSewa's payment starts with a form POST from the payer's browser: the open attempt's transaction, signed. */
function sendEsewaForm(res: Response, esewa: EsewaMerchant, order: PayPageOrder, open: PayPageAttempt): void {
  // Not a literal: the attempt's transaction UUID (attempt 2 has its own), not one derived from the order ID.
  const transaction = { orderId: order.orderId, amountMinor: order.amountMinor, transactionUuid: open.intentId };
  const fields = buildEsewaForm(esewa, transaction);
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
}

function orderSummary(order: PayPageOrder): string {
  return paragraph(`Order ${order.orderId}: ${majorUnits(order.amountMinor, order.currency)} ${order.currency}`);
}

/**
 * The amount as the payer reads it. Currencies with cents (two minor digits, most of them) and whole-unit ones
 * (JPY) are exact with the money helper; the rare three-digit ones are named in minor units rather than guessed.
 */
export function majorUnits(amountMinor: number, currency: string): string {
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  if (digits === 0) return String(amountMinor);
  if (digits === 2) return paisaToRupees(amountMinor);
  return `${amountMinor} minor units of`;
}

/** How the latest attempt that ended, ended, in plain words; nothing when no attempt has ended. */
export function outcomeOfLastEndedAttempt(attempts: readonly PayPageAttempt[]): string {
  const last = [...attempts].reverse().find((attempt) => attempt.status !== 'open' && attempt.status !== 'superseded');
  if (!last) return '';
  switch (last.status) {
    case 'declined': {
      const what = last.gateway === 'stripe' ? 'Your card was declined' : 'Your payment was declined';
      // Only a gateway's code word is shown (insufficient_funds → "insufficient funds"); nothing free-form.
      const code = last.declineCode !== null && /^[a-z0-9_]{1,64}$/.test(last.declineCode) ? last.declineCode : null;
      return paragraph(code ? `${what} (${code.replaceAll('_', ' ')}).` : `${what}.`);
    }
    case 'cancelled':
      return paragraph('Your last payment was cancelled; nothing was charged.');
    case 'expired':
      return paragraph('Your last payment expired before it was completed; nothing was charged.');
    case 'open':
    case 'superseded':
    case 'paid':
      return '';
  }
}

/** Starts a new attempt; a choice of gateway only when the order offers more than one. */
function tryAgainForm(order: PayPageOrder): string {
  const last = order.attempts.at(-1)?.gateway ?? order.gateway;
  const choice =
    order.allowedGateways.length > 1
      ? `<p><label for="gateway">Pay with</label> <select id="gateway" name="gateway">` +
        order.allowedGateways
          .map(
            (gateway) =>
              `<option value="${escapeHtml(gateway)}"${gateway === last ? ' selected' : ''}>` +
              `${escapeHtml(GATEWAY_LABELS[gateway])}</option>`,
          )
          .join('') +
        `</select></p>`
      : '';
  return (
    `<form method="POST" action="/pay/${encodeURIComponent(order.orderId)}/attempts">${choice}` +
    `<button type="submit">Try again</button></form>`
  );
}

function backToPayLink(orderId: string): string {
  return `<p><a href="/pay/${encodeURIComponent(orderId)}">Back to the payment page</a></p>`;
}

function statusWords(status: string | null): string {
  return status === null ? '' : ` (it is ${status.toLowerCase().replace('_', ' ')})`;
}
