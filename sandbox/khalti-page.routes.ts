// Khalti's hosted payment page (payment_url is `<publicUrl>/khalti-pay/?pidx=<pidx>`) and what a payer can do on it.
// Paying, leaving the payment pending and cancelling send the browser back to the merchant's return_url with
// Khalti's callback query; abandoning closes the tab and sends nothing. The return is a browser redirect, so the
// fault knobs act on it as a browser would: never coming back (tab closed), coming back late, or twice (a refresh).
import express, { type Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../config/logger';
import { delay, type SandboxFaults } from './sandbox.faults';
import { hostedPageHeaders } from './page-headers';
import type { KhaltiPageOutcome, KhaltiPaymentRecord, KhaltiStore } from './khalti.store';
import {
  renderKhaltiClosedPage,
  renderKhaltiNoReturnPage,
  renderKhaltiNotFoundPage,
  renderKhaltiPaymentPage,
} from './khalti-page.view';

export interface KhaltiReturnStats {
  /** Browsers sent back to return_url. */
  returned: number;
  /** Returns that never happened because of webhookDropRate (the payer closed the tab). */
  dropped: number;
  /** Returns delivered a second time because of webhookDuplicateRate (as after a refresh). */
  duplicated: number;
  /** Second deliveries the merchant answered below 400. */
  duplicatesAnswered: number;
}

export interface KhaltiPageOptions {
  store: KhaltiStore;
  faults: () => SandboxFaults;
  random: () => number;
  logger: Logger;
  stats: KhaltiReturnStats;
}

export interface KhaltiPageRouter {
  router: express.Router;
  /** Aborts second deliveries still under way; none start afterwards. */
  close(): void;
}

const pidxQuerySchema = z.object({ pidx: z.string().min(1).max(100) });
const REPEAT_TIMEOUT_MS = 10_000;

export function createKhaltiPageRouter(options: KhaltiPageOptions): KhaltiPageRouter {
  const { store, faults, random, logger, stats } = options;
  const router = express.Router();
  const inFlight = new Set<AbortController>();
  let closed = false;

  router.use(hostedPageHeaders);

  router.get('/', (req, res) => {
    const parsed = pidxQuerySchema.safeParse(req.query);
    if (!parsed.success) return sendHtml(res, 404, renderKhaltiNotFoundPage(''));
    const payment = store.find(parsed.data.pidx);
    if (!payment) return sendHtml(res, 404, renderKhaltiNotFoundPage(parsed.data.pidx));
    if (payment.status !== 'Initiated' && payment.status !== 'Pending') {
      return sendHtml(res, 409, renderKhaltiClosedPage(payment));
    }
    return sendHtml(res, 200, renderKhaltiPaymentPage(payment));
  });

  router.post('/:pidx/pay', (req, res) => returnToMerchant(res, req.params.pidx, store.pay(req.params.pidx)));
  router.post('/:pidx/pending', (req, res) =>
    returnToMerchant(res, req.params.pidx, store.leavePending(req.params.pidx)),
  );
  router.post('/:pidx/cancel', (req, res) => returnToMerchant(res, req.params.pidx, store.cancel(req.params.pidx)));
  router.post('/:pidx/abandon', (req, res) => {
    const outcome = store.abandon(req.params.pidx);
    if (!outcome) return sendHtml(res, 404, renderKhaltiNotFoundPage(req.params.pidx));
    return sendHtml(res, 200, renderKhaltiNoReturnPage(outcome.payment, 'You left without paying.'));
  });

  async function returnToMerchant(res: Response, pidx: string, outcome: KhaltiPageOutcome | undefined) {
    if (!outcome) return sendHtml(res, 404, renderKhaltiNotFoundPage(pidx));
    if (outcome.kind === 'closed') return sendHtml(res, 409, renderKhaltiClosedPage(outcome.payment));
    const current = faults();
    const location = khaltiReturnUrl(outcome.payment);
    if (random() < current.webhookDropRate) {
      stats.dropped += 1;
      logger.debug({ pidx, status: outcome.payment.status }, 'khalti return dropped by fault injection');
      return sendHtml(res, 200, renderKhaltiNoReturnPage(outcome.payment, 'Done. You can close this window.'));
    }
    const repeat = random() < current.webhookDuplicateRate;
    if (current.webhookDelayMs > 0) await delay(current.webhookDelayMs);
    stats.returned += 1;
    res.redirect(303, location);
    if (repeat) {
      stats.duplicated += 1;
      void deliverAgain(location);
    }
  }

  /** The browser's second visit (a refresh): the same URL, fetched by the sandbox itself. */
  async function deliverAgain(location: string): Promise<void> {
    if (closed) return;
    const controller = new AbortController();
    inFlight.add(controller);
    const timeout = setTimeout(() => controller.abort(), REPEAT_TIMEOUT_MS);
    try {
      const response = await fetch(location, { redirect: 'manual', signal: controller.signal });
      await response.arrayBuffer();
      if (response.status < 400) stats.duplicatesAnswered += 1;
    } catch (error) {
      logger.debug({ err: error }, 'khalti repeated return failed');
    } finally {
      clearTimeout(timeout);
      inFlight.delete(controller);
    }
  }

  return {
    router,
    close() {
      closed = true;
      for (const controller of inFlight) controller.abort();
      inFlight.clear();
    },
  };
}

/**
 * The merchant's return_url with Khalti's callback query, in Khalti's order. Cancelled and pending payments have
 * no transaction yet, so its fields are present and empty, as Khalti sends them.
 */
function khaltiReturnUrl(payment: KhaltiPaymentRecord): string {
  const url = new URL(payment.returnUrl);
  const transaction = payment.status === 'Completed' ? (payment.transactionId ?? '') : '';
  const fields: [string, string][] = [
    ['pidx', payment.pidx],
    ['transaction_id', transaction],
    ['tidx', transaction],
    ['txnId', transaction],
    ['amount', String(payment.amount)],
    ['total_amount', String(payment.amount)],
    ['mobile', payment.status === 'Completed' ? (payment.mobile ?? '') : ''],
    ['status', payment.status],
    ['purchase_order_id', payment.purchaseOrderId],
    ['purchase_order_name', payment.purchaseOrderName],
  ];
  for (const [name, value] of fields) url.searchParams.append(name, value);
  return url.toString();
}

function sendHtml(res: Response, status: number, html: string): void {
  res.status(status).type('html').send(html);
}
