// Khalti's ePayment API as the sandbox serves it, at Khalti's own paths under /api:
//   POST /api/v2/epayment/initiate/                          start a payment, get pidx and payment_url
//   POST /api/v2/epayment/lookup/                            the payment's status (400 for Expired and User canceled)
//   POST /api/merchant-transaction/<transaction_id>/refund/  full (no body) or partial ({"amount"}) refund
// Every call needs `Authorization: Key <secret>`. Answers and error bodies follow Khalti's (Django REST) shapes.
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../config/logger';
import { KHALTI_MIN_AMOUNT_PAISA } from './khalti.protocol';
import type { KhaltiPaymentRecord, KhaltiStore } from './khalti.store';
import { drawInjectedApiError, type SandboxFaults } from './sandbox.faults';

export interface KhaltiApiCounters {
  requests: number;
  injectedErrors: number;
}

export interface KhaltiApiOptions {
  store: KhaltiStore;
  secretKey: string;
  /** Base of the hosted page URLs handed out as payment_url. */
  publicUrl: string;
  faults: () => SandboxFaults;
  random: () => number;
  counters: KhaltiApiCounters;
  logger: Logger;
}

/** Khalti's pages and timestamps are in Nepal time (UTC+05:45), e.g. 2023-05-25T16:26:16.471+05:45. */
const NEPAL_OFFSET_MS = (5 * 60 + 45) * 60_000;

/** Khalti accepts the amount as a number or a numeric string. */
const paisaField = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^\d{1,15}$/)
      .transform(Number),
  ])
  // Safe integers only: 1e20 paisa is not an amount, and a float would make the refund arithmetic lie.
  .pipe(z.int({ error: 'A valid integer is required.' }));
const requiredString = z.string({ error: 'This field is required.' }).min(1, 'This field may not be blank.');
const urlField = requiredString.pipe(z.url({ protocol: /^https?$/, error: 'Enter a valid URL.' }));

const initiateBodySchema = z.object({
  return_url: urlField,
  website_url: urlField,
  amount: z
    .unknown()
    .refine((value) => value !== undefined, 'This field is required.')
    .pipe(
      paisaField.refine(
        (value) => value >= KHALTI_MIN_AMOUNT_PAISA,
        'Amount should be greater than Rs. 10, that is 1000 paisa.',
      ),
    ),
  purchase_order_id: requiredString.max(255),
  purchase_order_name: requiredString.max(255),
  customer_info: z.record(z.string(), z.string()).optional(),
});

const lookupBodySchema = z.object({ pidx: requiredString.max(100) });
const refundBodySchema = z.object({
  amount: paisaField.refine((value) => value > 0, 'Ensure this value is greater than 0.').optional(),
  mobile: z.string().optional(),
});

export function createKhaltiApiRouter(options: KhaltiApiOptions): express.Router {
  const { store, secretKey, faults, random, counters, logger } = options;
  const publicUrl = options.publicUrl.replace(/\/+$/, '');
  const router = express.Router();
  router.use(express.json({ limit: '20kb' }));

  router.use(async (req, res, next) => {
    counters.requests += 1;
    if (await drawInjectedApiError(faults(), random)) {
      counters.injectedErrors += 1;
      serverError(res);
      return;
    }
    const authorization = req.get('authorization');
    if (authorization === undefined) {
      res.status(401).json({ detail: 'Authentication credentials were not provided.', status_code: 401 });
      return;
    }
    if (authorization !== `Key ${secretKey}`) {
      res.status(401).json({ detail: 'Invalid token.', status_code: 401 });
      return;
    }
    next();
  });

  /** The change is made, then the answer is lost on its way back, as when a response times out. */
  function answerOrLose(res: Response, status: number, body: unknown): void {
    if (random() < faults().apiErrorAfterCommitRate) {
      counters.injectedErrors += 1;
      serverError(res);
      return;
    }
    res.status(status).json(body);
  }

  router.post('/v2/epayment/initiate/', (req, res) => {
    const parsed = initiateBodySchema.safeParse(req.body ?? {});
    if (!parsed.success) return validationError(res, parsed.error);
    const body = parsed.data;
    const payment = store.initiate({
      amount: body.amount,
      purchaseOrderId: body.purchase_order_id,
      purchaseOrderName: body.purchase_order_name,
      returnUrl: body.return_url,
      websiteUrl: body.website_url,
      customerInfo: body.customer_info ?? {},
    });
    logger.debug({ pidx: payment.pidx, orderId: payment.purchaseOrderId }, 'khalti payment initiated');
    answerOrLose(res, 200, {
      pidx: payment.pidx,
      payment_url: `${publicUrl}/khalti-pay/?pidx=${payment.pidx}`,
      expires_at: nepalTime(payment.expiresAt),
      expires_in: Math.max(0, Math.round((payment.expiresAt - payment.createdAt) / 1000)),
    });
  });

  router.post('/v2/epayment/lookup/', (req, res) => {
    const parsed = lookupBodySchema.safeParse(req.body ?? {});
    if (!parsed.success) return validationError(res, parsed.error);
    const payment = store.lookup(parsed.data.pidx);
    if (!payment) {
      res.status(404).json({ detail: 'Not found.', error_key: 'validation_error' });
      return;
    }
    // Khalti answers Expired and User canceled with HTTP 400 and the ordinary lookup body.
    const status = payment.status === 'Expired' || payment.status === 'User canceled' ? 400 : 200;
    res.status(status).json(lookupBody(payment));
  });

  router.post('/merchant-transaction/:transactionId/refund/', (req: Request<{ transactionId: string }>, res) => {
    const parsed = refundBodySchema.safeParse(req.body ?? {});
    if (!parsed.success) return validationError(res, parsed.error);
    const outcome = store.refund(req.params.transactionId, parsed.data.amount);
    switch (outcome.kind) {
      case 'not_found':
        res.status(404).json({ detail: 'Not found.', error_key: 'validation_error' });
        return;
      case 'already_refunded':
        res.status(400).json({ detail: 'Transaction already refunded.', error_key: 'validation_error' });
        return;
      case 'not_refundable':
        res.status(400).json({
          detail: `Transaction with status ${outcome.payment.status} cannot be refunded.`,
          error_key: 'validation_error',
        });
        return;
      case 'amount_too_large':
        res.status(400).json({
          amount: [`Refund amount cannot exceed the refundable amount of ${outcome.remaining} paisa.`],
          error_key: 'validation_error',
        });
        return;
      case 'refunded':
        logger.debug({ pidx: outcome.payment.pidx, amount: outcome.amount }, 'khalti refund');
        answerOrLose(res, 200, { detail: 'Transaction refund successful.' });
        return;
    }
  });

  router.use((_req, res) => {
    res.status(404).json({ detail: 'Not found.' });
  });
  router.use((error: unknown, _req: Request, res: Response, next: express.NextFunction) => {
    if (error instanceof SyntaxError) {
      res.status(400).json({ detail: 'JSON parse error.', error_key: 'validation_error' });
      return;
    }
    next(error);
  });
  return router;
}

function lookupBody(payment: KhaltiPaymentRecord) {
  return {
    pidx: payment.pidx,
    total_amount: payment.amount,
    status: payment.status,
    transaction_id: payment.transactionId,
    fee: 0,
    refunded: payment.refundedAmount > 0,
  };
}

function nepalTime(epochMs: number): string {
  return new Date(epochMs + NEPAL_OFFSET_MS).toISOString().replace('Z', '+05:45');
}

function validationError(res: Response, error: z.ZodError): void {
  const fields: Record<string, string[]> = {};
  for (const issue of error.issues) {
    const field = issue.path.length > 0 ? issue.path.map(String).join('.') : 'non_field_errors';
    (fields[field] ??= []).push(issue.message);
  }
  res.status(400).json({ ...fields, error_key: 'validation_error' });
}

function serverError(res: Response): void {
  res.status(500).json({ detail: 'A server error occurred.', error_key: 'server_error' });
}
