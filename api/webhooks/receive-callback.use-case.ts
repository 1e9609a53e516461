// GET /callbacks/:gateway/… as a story: the payer's browser comes back from a wallet. The gateway's handler reads
// (and, where the wallet signs, verifies) the callback; the report is stored and signalled through the same store and
// claimed delivery as a webhook (recordAndDeliverPaymentEvent); then the payer goes back to the merchant's returnUrl
// with the outcome. Unlike a webhook the signal is sent before the answer: the merchant's return page reads the
// order's status at once, and one payer's redirect is no burst to absorb. A callback that fails verification changes
// nothing and gets an honest error page.
import type { Client } from '@temporalio/client';
import { describeError, type Logger } from '../../config/logger';
import type { ApiMetrics } from '../../config/metrics';
import type { GatewayName } from '../../contracts/order.contract';
import { findOrderPaymentIntents, findOrderReturn } from '../../db/orders/order-view.repo';
import type { Pool } from '../../db/pool';
import type { CallbackHandler, IncomingCallback, ParsedCallback } from '../../gateways/gateway';
import { WebhookPayloadError, WebhookSignatureError } from '../../gateways/gateway-errors';
import { findUnstorableText, STORABLE_TEXT_MESSAGE } from '../../gateways/storable-text.schema';
import { ApiError, callbackRefused, databaseUnavailable } from '../http/errors';
import { recordAndDeliverPaymentEvent } from './receive-webhook.use-case';

export interface CallbackDeps {
  pool: Pool;
  temporal: Client;
  logger: Logger;
  metrics: Pick<ApiMetrics, 'webhookDuplicate'>;
  callbackHandlers: Partial<Record<GatewayName, CallbackHandler>>;
}

export interface ReceivedCallback extends IncomingCallback {
  gateway: GatewayName;
  /** The query string as received, for the audit log. */
  rawQuery: string;
  /** Already reduced by storableHeaders. */
  headers: Record<string, string | string[]>;
}

/** What the browser gets: back to the merchant, or a page of ours. */
export type CallbackAnswer =
  | { kind: 'redirect'; location: string }
  /** `payLinkOrderId`: the payment did not go through, and the order's pay link may offer another attempt. */
  | { kind: 'page'; status: number; title: string; message: string; payLinkOrderId?: string }
  | { kind: 'refused'; error: ApiError; title: string; message: string };

export async function receiveCallback(deps: CallbackDeps, callback: ReceivedCallback): Promise<CallbackAnswer> {
  const handler = deps.callbackHandlers[callback.gateway];
  if (!handler) return page(404, 'Unknown payment service', 'orderpay does not know this payment service.');

  // Nothing unstorable (NUL, a lone surrogate) goes further: it could be neither stored nor compared.
  const unstorable = findUnstorableText({ path: callback.path, query: callback.query });
  if (unstorable) return refused(deps, callback, `${unstorable.join('.')}: ${STORABLE_TEXT_MESSAGE}`);

  let parsed: ParsedCallback;
  try {
    parsed = handler.parse(callback);
  } catch (error) {
    if (error instanceof WebhookSignatureError || error instanceof WebhookPayloadError) {
      return refused(deps, callback, error.message);
    }
    throw error;
  }
  // Anyone can type a callback URL. It counts only for an intent (Khalti's pidx, eSewa's transaction_uuid) of one of
  // the order's payment attempts at this callback's gateway; anything else is refused before it is stored, so it
  // can neither signal a workflow nor take the event ID of the genuine callback. An earlier attempt's intent counts:
  // a capture on it must reach the workflow, which refunds it when another attempt paid.
  const intents = await findOrderPaymentIntents(deps.pool, parsed.orderId, callback.gateway).catch((error: unknown) => {
    throw Object.assign(databaseUnavailable(), { cause: error });
  });
  const intentId = parsed.paymentEvent?.intentId;
  if (!intents || !intentId || !intents.intentIds.includes(intentId)) {
    return refused(deps, callback, 'the callback does not match a payment attempt of the order at this gateway');
  }

  let payerOutcome = parsed.payerOutcome;
  try {
    await recordAndDeliverPaymentEvent(deps, {
      gateway: callback.gateway,
      eventId: parsed.eventId,
      eventType: parsed.eventType,
      orderId: parsed.orderId,
      rawBody: callback.rawQuery,
      headers: callback.headers,
      paymentEvent: parsed.paymentEvent,
    });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.code === 'database_unavailable') {
      // Not stored: reloading the page repeats the callback, and the status poll settles the order anyway.
      return page(
        503,
        'Please try again',
        'Your payment result could not be recorded just now. Reload this page in a moment.',
      );
    }
    // Stored but not delivered: the webhook sweeper (or the status poll) settles the order; promise no more.
    deps.logger.warn({ orderId: parsed.orderId, err: describeError(error) }, 'callback stored but not delivered');
    payerOutcome = 'processing';
  }
  return backToMerchant(deps, parsed.orderId, callback.gateway, payerOutcome);
}

async function backToMerchant(
  deps: CallbackDeps,
  orderId: string,
  gateway: GatewayName,
  outcome: ParsedCallback['payerOutcome'],
): Promise<CallbackAnswer> {
  const order = await findOrderReturn(deps.pool, orderId).catch((error: unknown) => {
    deps.logger.warn({ orderId, err: describeError(error) }, 'return URL not read');
    return undefined;
  });
  if (order?.returnUrl) {
    const location = new URL(order.returnUrl);
    location.searchParams.set('orderId', orderId);
    location.searchParams.set('gateway', gateway);
    location.searchParams.set('outcome', outcome);
    return { kind: 'redirect', location: location.toString() };
  }
  const messages: Record<ParsedCallback['payerOutcome'], [string, string]> = {
    paid: ['Payment received', `Your payment for order ${orderId} was received.`],
    processing: [
      'Payment being confirmed',
      `Your payment for order ${orderId} is being confirmed with the payment service.`,
    ],
    failed: [
      'Payment not completed',
      `The payment for order ${orderId} did not go through; nothing was charged by orderpay.`,
    ],
  };
  const [title, message] = messages[outcome];
  // A failed or cancelled wallet payment leaves the order payable: the pay link shows what happened and can start
  // another attempt (or says honestly that the order is closed).
  return { kind: 'page', status: 200, title, message, ...(outcome === 'failed' ? { payLinkOrderId: orderId } : {}) };
}

/** A refused callback changes nothing; the payer gets a page, an API client the one error shape. */
function refused(deps: CallbackDeps, callback: ReceivedCallback, reason: string): CallbackAnswer {
  deps.logger.warn({ gateway: callback.gateway, reason }, 'callback refused');
  return {
    kind: 'refused',
    error: callbackRefused(),
    title: 'Payment result not accepted',
    message:
      'This payment result could not be verified, so nothing about your order was changed. If you paid, the ' +
      'payment is confirmed with the payment service directly; please contact the merchant if in doubt.',
  };
}

function page(status: number, title: string, message: string): CallbackAnswer {
  return { kind: 'page', status, title, message };
}
