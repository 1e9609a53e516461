// The PaymentGateway port over Khalti's ePayment (KPG-2) API: initiate, lookup and refund, with `Authorization: Key`.
// The base URL is configurable, so the same code talks to khalti.com, Khalti's own sandbox or orderpay's sandbox
// (sandbox/khalti-*.ts), which serves the same paths.
//
// What KPG-2 does not give us, and what that means here:
// - No idempotency key on initiate: a retried initiate whose first answer was lost makes a second pidx. The lost
//   one was never shown to anyone, so nobody can pay it, and it expires at Khalti on its own. The order uses the pidx
//   it recorded and never looks at another one.
// - No cancel: cancelIntent reports what a lookup says (see there).
// - No refund ID and no refunded amount in the lookup: refund() looks up first and decides from the amounts whether
//   this refund already happened (refundDecisionOf); only when the amounts cannot tell is it left to an operator.
import { z } from 'zod';
import type {
  CancelOutcome,
  CreatedIntent,
  CreateIntentRequest,
  PaymentGateway,
  PaymentLookupRequest,
  PaymentStatus,
  RefundRequest,
  RefundResult,
} from '../gateway';
import { httpUrlSchema, timeoutMsSchema } from '../gateway-options.schema';
import { GatewayRejectedError } from '../gateway-errors';
import { khaltiHttpError, khaltiNetworkError, khaltiShapeError, type KhaltiResponse } from './khalti.errors';
import {
  isKhaltiStatus,
  KHALTI_CURRENCY,
  KHALTI_MIN_AMOUNT_PAISA,
  khaltiInitiateResponseSchema,
  khaltiLookupResponseSchema,
  khaltiRefundResponseSchema,
  type KhaltiInitiateRequest,
  type KhaltiStatus,
  type KhaltiLookupResponse,
} from './khalti.schemas';

/** The path of orderpay's Khalti return URL; the API serves it (GET, unsigned, a hint only). */
export const KHALTI_CALLBACK_PATH = '/callbacks/khalti';

export interface KhaltiGatewayOptions {
  /** The ePayment API base, ending in /api/v2/ (https://khalti.com/api/v2/, https://dev.khalti.com/api/v2/). */
  baseUrl: string;
  secretKey: string;
  /** Per-HTTP-call timeout; Temporal retries the activity, so keep it well under the activity timeout. */
  timeoutMs: number;
  /** orderpay's public address: return_url is `<publicBaseUrl>/callbacks/khalti`, website_url is this. */
  publicBaseUrl: string;
  /** Injectable for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

const optionsSchema = z.object({
  baseUrl: httpUrlSchema,
  secretKey: z.string().min(1),
  timeoutMs: timeoutMsSchema,
  publicBaseUrl: httpUrlSchema,
});

/** Khalti shows purchase_order_name to the payer; long descriptions are cut rather than refused. */
const MAX_ORDER_NAME_LENGTH = 100;

type LookupOutcome = { kind: 'found'; lookup: KhaltiLookupResponse } | { kind: 'not_found' };

export function createKhaltiGateway(options: KhaltiGatewayOptions): PaymentGateway {
  const { baseUrl, secretKey, timeoutMs, publicBaseUrl } = optionsSchema.parse(options);
  const fetchImpl = options.fetch ?? fetch;
  const apiBase = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  const refundBase = refundBaseOf(apiBase);
  const site = publicBaseUrl.replace(/\/+$/, '');

  async function post(url: URL, body: unknown, operation: string): Promise<KhaltiResponse> {
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method: 'POST',
        headers: {
          Authorization: `Key ${secretKey}`,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      throw khaltiNetworkError(error, operation);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw khaltiNetworkError(error, operation);
    }
    let parsed: unknown;
    try {
      parsed = text.length === 0 ? undefined : JSON.parse(text);
    } catch {
      // Proxies answer outages with HTML; the status decides what that means.
      parsed = undefined;
    }
    return { status: response.status, body: parsed, retryAfter: response.headers.get('retry-after') ?? undefined };
  }

  async function lookup(pidx: string, operation: string): Promise<LookupOutcome> {
    const response = await post(new URL('epayment/lookup/', apiBase), { pidx }, operation);
    // Expired and User canceled come back as HTTP 400 carrying the ordinary lookup body: a status, not an error.
    if (response.status === 200 || response.status === 400) {
      const parsed = khaltiLookupResponseSchema.safeParse(response.body);
      if (parsed.success) {
        if (parsed.data.pidx !== pidx) {
          throw khaltiShapeError(operation, `asked for pidx ${pidx}, got ${parsed.data.pidx}`);
        }
        return { kind: 'found', lookup: parsed.data };
      }
      if (response.status === 200) throw khaltiShapeError(operation, describeIssues(parsed.error));
    }
    if (response.status === 404) return { kind: 'not_found' };
    throw khaltiHttpError(response, operation);
  }

  async function createIntent(request: CreateIntentRequest): Promise<CreatedIntent> {
    assertPayable(request);
    const body: KhaltiInitiateRequest = {
      return_url: `${site}${KHALTI_CALLBACK_PATH}`,
      website_url: site,
      amount: request.amountMinor,
      purchase_order_id: request.orderId,
      purchase_order_name: (request.description ?? `Order ${request.orderId}`).slice(0, MAX_ORDER_NAME_LENGTH),
      ...customerInfoOf(request),
    };
    const response = await post(new URL('epayment/initiate/', apiBase), body, 'createIntent');
    if (response.status !== 200) throw khaltiHttpError(response, 'createIntent');
    const parsed = khaltiInitiateResponseSchema.safeParse(response.body);
    if (!parsed.success) throw khaltiShapeError('createIntent', describeIssues(parsed.error));
    return {
      intentId: parsed.data.pidx,
      paymentUrl: parsed.data.payment_url,
      expiresAt: new Date(parsed.data.expires_at),
    };
  }

  async function fetchPaymentStatus(request: PaymentLookupRequest): Promise<PaymentStatus> {
    const outcome = await lookup(request.intentId, 'fetchPaymentStatus');
    if (outcome.kind === 'not_found') return { state: 'not_found', gatewayStatus: 'not_found' };
    return paymentStatusOf(outcome.lookup);
  }

  /**
   * KPG-2 has no cancel call. What a lookup says is the honest answer:
   * - paid (Completed, or refunded since): already_captured, so the workflow keeps or refunds the money;
   * - Pending: Khalti itself does not know yet; refused, so the workflow flags the order for a person;
   * - anything else: cancelled. An Initiated pidx stays payable at Khalti until its expires_at; the workflow's
   *   expiry never exceeds it (CreatedIntent.expiresAt), and a payment in between reaches the still-open workflow
   *   through the return URL's hint, or reconciliation, and is refunded as a late capture.
   */
  async function cancelIntent(request: PaymentLookupRequest): Promise<CancelOutcome> {
    const outcome = await lookup(request.intentId, 'cancelIntent');
    if (outcome.kind === 'not_found') return { outcome: 'cancelled' };
    const status = paymentStatusOf(outcome.lookup);
    if (status.state === 'captured') {
      return {
        outcome: 'already_captured',
        amountMinor: outcome.lookup.total_amount,
        currency: KHALTI_CURRENCY,
        ...(status.paymentReference === undefined ? {} : { paymentReference: status.paymentReference }),
      };
    }
    if (outcome.lookup.status === 'Pending') {
      throw new GatewayRejectedError(
        `khalti cancelIntent: pidx ${request.intentId} is Pending at Khalti and cannot be closed`,
        'payment_pending',
      );
    }
    return { outcome: 'cancelled' };
  }

  /**
   * Refunds through `POST /api/merchant-transaction/<transaction_id>/refund/`: no body for the whole payment,
   * `{"amount"}` in paisa for part of it. Khalti answers `{"detail": "Transaction refund successful."}`: no refund
   * ID, and no idempotency key to send. So a lookup comes first, and whether this refund already happened is decided
   * from the amounts (refundDecisionOf): what Khalti says is refunded against what orderpay refunded on the payment
   * before this refund. The refund's gateway reference is the payment's transaction_id, the reference Khalti's
   * statements show for its refunds.
   *
   * A lost answer (no response, a 5xx) is retried like any transient fault: the retry's lookup tells whether the
   * refund went through, except when the amounts cannot (refund_outcome_unknown, for an operator).
   */
  async function refund(request: RefundRequest): Promise<RefundResult> {
    if (!Number.isSafeInteger(request.amountMinor) || request.amountMinor <= 0) {
      throw new GatewayRejectedError(
        `amountMinor must be a positive integer of paisa, got ${request.amountMinor}`,
        'invalid_amount',
      );
    }
    const before = await lookup(request.intentId, 'refund');
    if (before.kind === 'not_found') {
      throw new GatewayRejectedError(`khalti refund: no payment ${request.intentId}`, 'no_captured_payment', 404);
    }
    const payment = before.lookup;
    const refundable = ['Completed', 'Partially Refunded', 'Refunded'].includes(payment.status);
    if (!refundable || !payment.transaction_id) {
      throw new GatewayRejectedError(
        `khalti refund: pidx ${request.intentId} has no captured payment (status ${payment.status})`,
        'no_captured_payment',
      );
    }
    const gatewayRefundId = payment.transaction_id;
    const refundedBeforeMinor = request.refundedBeforeMinor ?? 0;
    if (refundedBeforeMinor + request.amountMinor > payment.total_amount) {
      throw new GatewayRejectedError(
        `khalti refund: ${request.amountMinor} paisa after ${refundedBeforeMinor} refunded exceeds the payment of ${payment.total_amount}`,
        'amount_too_large',
      );
    }
    const decision = refundDecisionOf({
      status: payment.status as KhaltiStatus,
      totalAmountMinor: payment.total_amount,
      refundedBeforeMinor,
      amountMinor: request.amountMinor,
      // Absent (a caller that does not track attempts): assume the gateway may have it, the side that never pays twice.
      previouslyAttempted: request.previouslyAttempted ?? true,
    });
    if (decision === 'already_refunded') return { gatewayRefundId, state: 'succeeded' };
    if (decision !== 'refund') {
      throw new GatewayRejectedError(
        decision === 'outcome_unknown'
          ? `khalti refund ${request.refundId}: Khalti says ${payment.status}, which fits both ${refundedBeforeMinor} and ${refundedBeforeMinor + request.amountMinor} paisa refunded; check Khalti's merchant portal`
          : `khalti refund ${request.refundId}: Khalti says ${payment.status} while orderpay refunded ${refundedBeforeMinor} of ${payment.total_amount} paisa before this refund; check Khalti's merchant portal`,
        decision === 'outcome_unknown' ? 'refund_outcome_unknown' : 'refund_ledger_mismatch',
      );
    }
    const whole = payment.status === 'Completed' && request.amountMinor === payment.total_amount;
    const url = new URL(`${encodeURIComponent(payment.transaction_id)}/refund/`, refundBase);
    const response = await post(url, whole ? undefined : { amount: request.amountMinor }, 'refund');
    if (response.status >= 200 && response.status < 300) {
      const parsed = khaltiRefundResponseSchema.safeParse(response.body ?? {});
      if (!parsed.success) throw khaltiShapeError('refund', describeIssues(parsed.error));
      return { gatewayRefundId, state: 'succeeded' };
    }
    throw khaltiHttpError(response, 'refund');
  }

  return { name: 'khalti', createIntent, fetchPaymentStatus, cancelIntent, refund };
}

/**
 * - Completed: paid, for total_amount (the workflow compares it with the order).
 * - Refunded / Partially Refunded: paid, then (some of it) returned. The lookup does not say how much of a partial
 *   refund went back, so refundedAmountMinor is only set when all of it did.
 * - Pending: Khalti's guidance is to hold and contact them: pending, with needsAttention.
 * - Initiated: the payer has not paid yet.
 * - Expired / User canceled: closed unpaid; failure.code is the status word.
 * - Any other word: not final, and a person should look.
 */
export function paymentStatusOf(lookup: KhaltiLookupResponse): PaymentStatus {
  const gatewayStatus = lookup.status;
  const paid = {
    amountMinor: lookup.total_amount,
    currency: KHALTI_CURRENCY,
    ...(lookup.transaction_id ? { paymentReference: lookup.transaction_id } : {}),
  };
  if (!isKhaltiStatus(gatewayStatus)) return { state: 'pending', gatewayStatus, needsAttention: true };
  switch (gatewayStatus) {
    case 'Completed':
      return { state: 'captured', ...paid, gatewayStatus };
    case 'Refunded':
      return { state: 'captured', ...paid, refundedAmountMinor: lookup.total_amount, gatewayStatus };
    case 'Partially Refunded':
      return { state: 'captured', ...paid, gatewayStatus };
    case 'Pending':
      return { state: 'pending', gatewayStatus, needsAttention: true };
    case 'Initiated':
      return { state: 'pending', gatewayStatus };
    case 'Expired':
    case 'User canceled':
      // The status word is all Khalti says about why; it tells the payer's timeline a cancel from an expiry.
      return { state: 'cancelled', gatewayStatus, failure: { code: gatewayStatus } };
  }
}

export type KhaltiRefundDecision = 'refund' | 'already_refunded' | 'outcome_unknown' | 'ledger_mismatch';

/**
 * Whether a refund still has to be sent, from the amounts. Khalti's lookup says how much of the payment is refunded
 * only through its status: Completed is none, Refunded is all of it, Partially Refunded is something in between.
 * Before this refund, orderpay refunded `refundedBeforeMinor`; if this refund happened, Khalti holds that plus
 * `amountMinor`. An attempt that never reached Khalti (previouslyAttempted false) can only find `refundedBeforeMinor`.
 * - already_refunded: only "this refund happened" fits what Khalti says;
 * - refund: only "it did not" fits;
 * - outcome_unknown: both fit (a second partial refund whose earlier attempt got no answer, leaving the payment
 *   Partially Refunded either way);
 * - ledger_mismatch: neither fits: money moved at Khalti that orderpay did not send (or the reverse).
 */
export function refundDecisionOf(refund: {
  status: KhaltiStatus;
  totalAmountMinor: number;
  refundedBeforeMinor: number;
  amountMinor: number;
  previouslyAttempted: boolean;
}): KhaltiRefundDecision {
  const { totalAmountMinor: total, refundedBeforeMinor: before, previouslyAttempted } = refund;
  const after = before + refund.amountMinor;
  const fits = (refunded: (amount: number) => boolean) => ({
    notYet: refunded(before),
    done: previouslyAttempted && refunded(after),
  });
  const { notYet, done } =
    refund.status === 'Completed'
      ? fits((amount) => amount === 0)
      : refund.status === 'Refunded'
        ? fits((amount) => amount === total)
        : fits((amount) => amount > 0 && amount < total);
  if (notYet && done) return 'outcome_unknown';
  if (done) return 'already_refunded';
  if (notYet) return 'refund';
  return 'ledger_mismatch';
}

/** `https://khalti.com/api/v2/` → `https://khalti.com/api/merchant-transaction/`: refunds live outside /api/v2/. */
export function refundBaseOf(apiBase: URL): URL {
  const root = apiBase.pathname.replace(/api\/v2\/?$/, '');
  return new URL(`${root.endsWith('/') ? root : `${root}/`}api/merchant-transaction/`, apiBase.origin);
}

function assertPayable(request: CreateIntentRequest): void {
  if (request.currency.toUpperCase() !== KHALTI_CURRENCY) {
    throw new GatewayRejectedError(
      `khalti createIntent: Khalti takes NPR only, got ${request.currency}`,
      'unsupported_currency',
    );
  }
  if (!Number.isSafeInteger(request.amountMinor) || request.amountMinor < KHALTI_MIN_AMOUNT_PAISA) {
    throw new GatewayRejectedError(
      `khalti createIntent: amount must be an integer of at least ${KHALTI_MIN_AMOUNT_PAISA} paisa, got ${request.amountMinor}`,
      'amount_below_minimum',
    );
  }
}

function customerInfoOf(request: CreateIntentRequest): Pick<KhaltiInitiateRequest, 'customer_info'> {
  const { name, email, phone } = request.customer ?? {};
  if (name === undefined && email === undefined && phone === undefined) return {};
  return {
    customer_info: {
      ...(name === undefined ? {} : { name }),
      ...(email === undefined ? {} : { email }),
      ...(phone === undefined ? {} : { phone }),
    },
  };
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ');
}
