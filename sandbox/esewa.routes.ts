// The sandbox's eSewa ePay v2 mode, at eSewa's own paths: the form POST (/api/epay/main/v2/form), a hosted page
// where the payer pays, fails or abandons, the success and failure redirects in eSewa's format (Base64 JSON `data`
// signed with the merchant secret) and the status API (/api/epay/transaction/status/). The fault knobs apply:
// callbacks dropped, delivered twice or delayed; status API outage bodies, 5xx and latency.
import express, { type Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../config/logger';
import { paisaToRupees, rupeesToPaisa } from '../domain/money';
import {
  ESEWA_FORM_MANDATORY_SIGNED_FIELDS,
  ESEWA_STATUSES,
  ESEWA_SUCCESS_SIGNED_FIELD_NAMES,
  encodeEsewaSuccessData,
  esewaSignature,
  esewaSignatureMatches,
  esewaSignedFieldNames,
} from './esewa.protocol';
import type { EsewaStore, EsewaTransaction } from './esewa.store';
import { escapeHtml, formatMinorAmount, sandboxPage, type SandboxBanner } from './payment-page.view';
import { delay, drawInjectedApiError, type SandboxFaults } from './sandbox.faults';

export interface EsewaSandboxDeps {
  store: EsewaStore;
  productCode: string;
  secretKey: string;
  publicUrl: string;
  faults: () => SandboxFaults;
  random: () => number;
  logger: Logger;
  counters: { apiRequests: number; injectedApiErrors: number };
}

/** eSewa's answer while its status service is down, with HTTP 200. */
const ESEWA_OUTAGE_BODY = { code: 0, error_message: 'Service is currently unavailable' };

const formSchema = z.object({
  amount: z.string(),
  tax_amount: z.string(),
  total_amount: z.string(),
  transaction_uuid: z.string().regex(/^[A-Za-z0-9-]{1,100}$/, 'letters, digits and hyphens only'),
  product_code: z.string().min(1),
  product_service_charge: z.string(),
  product_delivery_charge: z.string(),
  success_url: z.url({ protocol: /^https?$/ }),
  failure_url: z.url({ protocol: /^https?$/ }),
  signed_field_names: z.string().min(1),
  signature: z.string().min(1),
});

const statusQuerySchema = z.object({
  product_code: z.string().min(1),
  total_amount: z.string().min(1),
  transaction_uuid: z.string().min(1),
});

export function createEsewaSandboxRouter(deps: EsewaSandboxDeps): express.Router {
  const { store, faults, random, logger } = deps;
  const router = express.Router();
  const pageHeaders = (res: Response) => res.set({ 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });

  router.post('/api/epay/main/v2/form', express.urlencoded({ extended: false, limit: '20kb' }), (req, res) => {
    pageHeaders(res);
    const parsed = formSchema.safeParse(req.body);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ');
      return page(res, 400, 'eSewa: invalid payment request', `These fields are missing or invalid: ${fields}.`);
    }
    const form = parsed.data;
    const problem = checkForm(form, deps);
    if (problem) return page(res, 400, 'eSewa: invalid payment request', problem);
    const totalPaisa = rupeesToPaisa(form.total_amount) ?? 0;
    const { created, transaction } = store.submit({
      transactionUuid: form.transaction_uuid,
      productCode: form.product_code,
      amount: form.amount,
      totalAmount: form.total_amount,
      totalPaisa,
      successUrl: form.success_url,
      failureUrl: form.failure_url,
    });
    if (!created && (transaction.totalPaisa !== totalPaisa || transaction.status !== 'PENDING')) {
      return page(res, 409, 'eSewa: duplicate transaction', 'This transaction_uuid was already used.');
    }
    res.redirect(303, `${deps.publicUrl}/esewa/pay/${transaction.transactionUuid}`);
  });

  router.get('/esewa/pay/:uuid', (req, res) => {
    pageHeaders(res);
    const transaction = store.get(req.params.uuid);
    if (!transaction) return page(res, 404, 'eSewa: no such payment', 'This payment does not exist.');
    if (transaction.status !== 'PENDING') {
      return page(res, 409, 'eSewa: payment closed', `This payment is ${transaction.status}.`);
    }
    const action = (name: string, label: string) =>
      `<form method="POST" action="${escapeHtml(`/esewa/pay/${transaction.transactionUuid}/${name}`)}">` +
      `<button type="submit">${escapeHtml(label)}</button></form>`;
    res
      .status(200)
      .type('html')
      .send(
        layout(
          'eSewa sandbox',
          `<p>Pay <strong>${escapeHtml(formatMinorAmount(transaction.totalPaisa, 'NPR'))}</strong> to ` +
            `${escapeHtml(transaction.productCode)} (transaction ${escapeHtml(transaction.transactionUuid)}).</p>` +
            action('pay', 'Pay') +
            action('fail', 'Fail') +
            action('abandon', 'Abandon'),
        ),
      );
  });

  router.post('/esewa/pay/:uuid/pay', async (req, res) => {
    pageHeaders(res);
    const transaction = store.pay(req.params.uuid);
    if (!transaction) return page(res, 409, 'eSewa: payment closed', 'This payment cannot be paid.');
    await sendPayerBack(res, successRedirect(transaction, deps), 'Payment complete');
  });

  router.post('/esewa/pay/:uuid/fail', async (req, res) => {
    pageHeaders(res);
    const transaction = store.fail(req.params.uuid);
    if (!transaction) return page(res, 409, 'eSewa: payment closed', 'This payment cannot be changed.');
    await sendPayerBack(res, transaction.failureUrl, 'Payment failed');
  });

  router.post('/esewa/pay/:uuid/abandon', (req, res) => {
    pageHeaders(res);
    if (!store.get(req.params.uuid)) return page(res, 404, 'eSewa: no such payment', 'This payment does not exist.');
    // The tab is closed: nothing changes and nobody is told, as in real life.
    page(res, 200, 'You left eSewa', 'Nothing was paid.');
  });

  router.get('/api/epay/transaction/status/', async (req, res) => {
    deps.counters.apiRequests += 1;
    const current = faults();
    if (await drawInjectedApiError(current, random)) {
      deps.counters.injectedApiErrors += 1;
      res.status(500).type('text').send('Internal Server Error');
      return;
    }
    if (random() < current.statusOutageRate) {
      deps.counters.injectedApiErrors += 1;
      res.status(200).json(ESEWA_OUTAGE_BODY);
      return;
    }
    const query = statusQuerySchema.safeParse(req.query);
    if (!query.success) {
      res.status(400).json({ code: 0, error_message: 'Invalid request parameters' });
      return;
    }
    const { product_code: productCode, total_amount: total, transaction_uuid: uuid } = query.data;
    const transaction = store.get(uuid);
    const askedPaisa = rupeesToPaisa(total);
    const matches =
      transaction !== undefined && transaction.productCode === productCode && transaction.totalPaisa === askedPaisa;
    const status = matches ? transaction.status : 'NOT_FOUND';
    // eSewa writes total_amount as a JSON number with a decimal (100.0); the token is written as text, no float.
    const body = JSON.stringify({
      product_code: productCode,
      transaction_uuid: uuid,
      total_amount: '__TOTAL__',
      status,
      ref_id: matches ? transaction.transactionCode : null,
    }).replace('"__TOTAL__"', askedPaisa === undefined ? 'null' : esewaAmountText(askedPaisa));
    res.status(200).type('json').send(body);
  });

  /** Test and demo control: force a status, as eSewa's side would (AMBIGUOUS, FULL_REFUND…). */
  router.get('/_sandbox/esewa/transactions', (_req, res) => {
    res.json({ data: store.list() });
  });
  router.post('/_sandbox/esewa/transactions/:uuid', express.json({ limit: '1kb' }), (req, res) => {
    const parsed = z.object({ status: z.enum(ESEWA_STATUSES) }).safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid_status', allowed: ESEWA_STATUSES });
      return;
    }
    const transaction = store.setStatus(req.params.uuid, parsed.data.status);
    if (!transaction) {
      res.status(404).json({ error: 'not_found' });
      return;
    }
    res.json(transaction);
  });

  /**
   * The redirect back to the merchant, through the callback fault knobs: dropped (the payer closed the tab: the
   * page stays here), delayed, or delivered twice (a second, server-side GET of the same URL, as a reload would).
   */
  async function sendPayerBack(res: Response, location: string, title: string): Promise<void> {
    const current = faults();
    if (random() < current.webhookDropRate) {
      logger.info({ fault: 'callback_dropped' }, 'esewa callback not delivered');
      return page(res, 200, title, 'You may close this window.');
    }
    if (current.webhookDelayMs > 0) await delay(current.webhookDelayMs);
    if (random() < current.webhookDuplicateRate) {
      fetch(location, { redirect: 'manual' }).then(
        (response) => logger.info({ status: response.status }, 'esewa callback delivered twice'),
        (error: unknown) => logger.warn({ err: error }, 'esewa duplicate callback failed'),
      );
    }
    res.redirect(303, location);
  }

  return router;
}

function checkForm(form: z.infer<typeof formSchema>, deps: EsewaSandboxDeps): string | undefined {
  if (form.product_code !== deps.productCode) return `Unknown product_code ${form.product_code}.`;
  const signed = new Set(esewaSignedFieldNames(form.signed_field_names));
  if (!ESEWA_FORM_MANDATORY_SIGNED_FIELDS.every((name) => signed.has(name))) {
    return `signed_field_names must include ${ESEWA_FORM_MANDATORY_SIGNED_FIELDS.join(',')}.`;
  }
  if (!esewaSignatureMatches(form, form.signed_field_names, form.signature, deps.secretKey)) {
    return 'The signature is not valid.';
  }
  const parts = [form.amount, form.tax_amount, form.product_service_charge, form.product_delivery_charge].map(
    rupeesToPaisa,
  );
  const total = rupeesToPaisa(form.total_amount);
  if (total === undefined || total <= 0 || parts.some((part) => part === undefined)) {
    return 'Amounts must be rupee amounts.';
  }
  const sum = parts.reduce<number>((acc, part) => acc + (part ?? 0), 0);
  if (sum !== total)
    return 'total_amount must equal amount + tax_amount + product_service_charge + product_delivery_charge.';
  return undefined;
}

function successRedirect(transaction: EsewaTransaction, deps: EsewaSandboxDeps): string {
  const fields: Record<string, string> = {
    transaction_code: transaction.transactionCode ?? '',
    status: transaction.status,
    total_amount: esewaAmountText(transaction.totalPaisa),
    transaction_uuid: transaction.transactionUuid,
    product_code: transaction.productCode,
    signed_field_names: ESEWA_SUCCESS_SIGNED_FIELD_NAMES,
  };
  const data = encodeEsewaSuccessData({
    ...fields,
    signature: esewaSignature(fields, ESEWA_SUCCESS_SIGNED_FIELD_NAMES, deps.secretKey),
  });
  const url = new URL(transaction.successUrl);
  url.searchParams.set('data', data);
  return url.toString();
}

/** eSewa writes amounts with at least one decimal ("1000.0"), unlike the form orderpay sends ("1000"). */
function esewaAmountText(paisa: number): string {
  const rupees = paisaToRupees(paisa);
  return rupees.includes('.') ? rupees : `${rupees}.0`;
}

function page(res: Response, status: number, title: string, message: string): void {
  res
    .status(status)
    .type('html')
    .send(layout(title, `<p>${escapeHtml(message)}</p>`));
}

const ESEWA_BANNER: SandboxBanner = {
  text: 'orderpay sandbox: eSewa ePay v2. No real money moves here.',
  background: '#e6f6e6',
  border: '#41a124',
};

function layout(title: string, body: string): string {
  return sandboxPage(title, `<h1>${escapeHtml(title)}</h1>${body}`, ESEWA_BANNER);
}
