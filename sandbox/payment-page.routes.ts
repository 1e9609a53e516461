// The hosted checkout page a session's url points at, and the three things a payer can do on it.
// Form posts answer 303 so the browser follows with a GET, as after a real hosted checkout.
import express, { type Response } from 'express';
import { z } from 'zod';
import type { PageActionOutcome, SandboxStore } from './sandbox.store';
import { DECLINE_REASONS, DEFAULT_DECLINE_REASON, isDeclineReason, type CheckoutSessionObject } from './stripe.objects';
import { renderClosedPage, renderNotFoundPage, renderPaymentPage } from './payment-page.view';
import { hostedPageHeaders } from './page-headers';

const declineFormSchema = z.looseObject({
  reason: z.string().refine(isDeclineReason).optional(),
});

export function createPaymentPageRouter(store: SandboxStore): express.Router {
  const router = express.Router();

  router.use(hostedPageHeaders);

  router.get('/:sessionId', (req, res) => {
    const view = store.hostedView(req.params.sessionId);
    if (!view) return sendHtml(res, 404, renderNotFoundPage(req.params.sessionId));
    if (view.session.status !== 'open') return sendHtml(res, 409, renderClosedPage(view));
    return sendHtml(res, 200, renderPaymentPage(view));
  });

  router.post('/:sessionId/pay', (req, res) => {
    answer(res, req.params.sessionId, store.pay(req.params.sessionId), (session) => successUrl(session));
  });
  // A delayed method (bank debit): the payer is sent back as after a payment, though nothing is paid yet.
  router.post('/:sessionId/pay-later', (req, res) => {
    answer(res, req.params.sessionId, store.payWithDelayedMethod(req.params.sessionId), (session) =>
      successUrl(session),
    );
  });
  // The form names the decline reason (`reason=insufficient_funds`); a post without one is a generic decline.
  router.post('/:sessionId/decline', express.urlencoded({ extended: false, limit: '1kb' }), (req, res) => {
    const parsed = declineFormSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      res
        .status(400)
        .type('text/plain')
        .send(`unknown decline reason; one of: ${Object.keys(DECLINE_REASONS).join(', ')}`);
      return;
    }
    const outcome = store.decline(req.params.sessionId, parsed.data.reason ?? DEFAULT_DECLINE_REASON);
    answer(res, req.params.sessionId, outcome, (session) => pageUrl(session));
  });
  router.post('/:sessionId/abandon', (req, res) => {
    answer(
      res,
      req.params.sessionId,
      store.abandon(req.params.sessionId),
      (session) => session.cancel_url ?? pageUrl(session),
    );
  });

  function answer(
    res: Response,
    sessionId: string,
    outcome: PageActionOutcome | undefined,
    redirectTo: (session: CheckoutSessionObject) => string,
  ): void {
    if (!outcome) return sendHtml(res, 404, renderNotFoundPage(sessionId));
    if (outcome.kind === 'method_not_allowed') {
      res.status(400).type('text/plain').send('this session offers no delayed payment method');
      return;
    }
    if (outcome.kind === 'closed') {
      const view = store.hostedView(sessionId);
      return sendHtml(res, 409, renderClosedPage(view ?? { session: outcome.session, productName: '' }));
    }
    res.redirect(303, redirectTo(outcome.session));
  }

  return router;
}

/** Stripe fills in the session ID where the success URL asks for it. */
function successUrl(session: CheckoutSessionObject): string {
  return session.success_url.replaceAll('{CHECKOUT_SESSION_ID}', session.id);
}

function pageUrl(session: CheckoutSessionObject): string {
  return `/pay/${encodeURIComponent(session.id)}`;
}

function sendHtml(res: Response, status: number, html: string): void {
  res.status(status).type('html').send(html);
}
