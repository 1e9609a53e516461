// GET /callbacks/:gateway/…: where wallets send the payer's browser back (eSewa's success_url and failure_url,
// Khalti's return_url). Thin: collect the request, call the use case, redirect or render.
import { Router } from 'express';
import { gatewayParamSchema } from '../orders/checkout.schema';
import { rejectOtherMethods } from '../http/error-handler';
import { callbackRefused, unknownGateway } from '../http/errors';
import { paragraph, sendErrorPage, sendHtmlPage } from '../http/html.view';
import { receiveCallback, type CallbackDeps } from './receive-callback.use-case';
import { storableHeaders } from './receive-webhook.use-case';

/** A callback URL's query is a few hundred bytes; longer ones are not from a wallet. */
const MAX_QUERY_LENGTH = 16_384;

export function callbacksRoutes(deps: CallbackDeps): Router {
  const router = Router();
  // Wallets return to /callbacks/<gateway> (Khalti), /callbacks/<gateway>/<route> (eSewa success) or
  // /callbacks/<gateway>/<route>/<ref> (eSewa failure); the gateway's handler decides what each path means.
  for (const path of ['/callbacks/:gateway', '/callbacks/:gateway/:route', '/callbacks/:gateway/:route/:ref']) {
    router
      .route(path)
      .get(async (req, res) => {
        const gateway = gatewayParamSchema.safeParse(req.params.gateway);
        const queryStart = req.originalUrl.indexOf('?');
        const rawQuery = queryStart === -1 ? '' : req.originalUrl.slice(queryStart + 1);
        if (!gateway.success) {
          const page = paragraph('orderpay does not know this payment service.');
          sendErrorPage(req, res, unknownGateway(), 'Unknown payment service', page);
          return;
        }
        if (rawQuery.length > MAX_QUERY_LENGTH) {
          sendErrorPage(req, res, callbackRefused(), 'Payment result not accepted', paragraph('The link is too long.'));
          return;
        }
        const { route, ref } = req.params as { route?: string; ref?: string };
        const answer = await receiveCallback(
          { ...deps, logger: res.locals.logger },
          {
            gateway: gateway.data,
            path: [route, ref].filter((segment): segment is string => segment !== undefined),
            query: firstValues(new URLSearchParams(rawQuery)),
            rawQuery,
            headers: storableHeaders(req.headers, []),
          },
        );
        if (answer.kind === 'redirect') {
          res.setHeader('Cache-Control', 'no-store');
          res.redirect(303, answer.location);
          return;
        }
        if (answer.kind === 'refused') {
          sendErrorPage(req, res, answer.error, answer.title, paragraph(answer.message));
          return;
        }
        // A form, not a link to the pay page: the workflow may not have read the failure yet, and the pay page would
        // still offer the failed attempt. Asking for an attempt waits for that lookup, then opens a new one.
        const payLink =
          answer.payLinkOrderId === undefined
            ? ''
            : `<form method="POST" action="/pay/${encodeURIComponent(answer.payLinkOrderId)}/attempts">` +
              `<button type="submit">Try again</button></form>`;
        sendHtmlPage(res, answer.status, answer.title, paragraph(answer.message) + payLink);
      })
      .all(rejectOtherMethods(['GET', 'HEAD']));
  }
  return router;
}

function firstValues(params: URLSearchParams): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [name, value] of params) if (!(name in query)) query[name] = value;
  return query;
}
