// The PaymentGateway port over eSewa ePay v2. Payment starts in the payer's browser (a signed form POST served by
// GET /pay/:orderId), so creating the intent makes no call; everything orderpay learns afterwards comes from the
// status API. ePay v2 has no refund API: a refund is a manual task an operator confirms.
import { z } from 'zod';
import { paisaToRupees, rupeesToPaisa } from '../../domain/money';
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
import { GatewayRejectedError, GatewayUnavailableError, retryAfterMs } from '../gateway-errors';
import {
  ESEWA_CURRENCY,
  esewaErrorResponseSchema,
  esewaStatusResponseSchema,
  type EsewaStatusResponse,
} from './esewa.protocol';
import { esewaTransactionUuid } from './esewa.transaction-id';

export interface EsewaGatewayOptions {
  statusUrl: string;
  productCode: string;
  /** The API's public base: the payment URL is `<publicBaseUrl>/pay/<orderId>`. */
  publicBaseUrl: string;
  /** Per-HTTP-call timeout; Temporal retries the activity. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

const optionsSchema = z.object({
  statusUrl: httpUrlSchema,
  productCode: z.string().min(1),
  publicBaseUrl: httpUrlSchema,
  timeoutMs: timeoutMsSchema,
});

/** The manual task's reference until an operator confirms it. */
export const ESEWA_MANUAL_REFUND_PREFIX = 'manual-';

export function createEsewaGateway(options: EsewaGatewayOptions): PaymentGateway {
  const { statusUrl, productCode, publicBaseUrl, timeoutMs } = optionsSchema.parse(options);
  const fetchImpl = options.fetch ?? fetch;

  async function lookUp(request: PaymentLookupRequest, operation: string): Promise<EsewaStatusResponse> {
    const amountMinor = requireNpr(request, operation);
    const url = new URL(statusUrl);
    url.searchParams.set('product_code', productCode);
    url.searchParams.set('total_amount', paisaToRupees(amountMinor));
    url.searchParams.set('transaction_uuid', request.intentId);
    let response: Response;
    try {
      response = await fetchImpl(url, {
        signal: AbortSignal.timeout(timeoutMs),
        headers: { accept: 'application/json' },
      });
    } catch (error) {
      throw new GatewayUnavailableError(`esewa ${operation}: ${(error as Error).name}`);
    }
    const text = await response.text().catch(() => '');
    const body = parseJson(text);
    const status = esewaStatusResponseSchema.safeParse(body);
    if (status.success && response.ok) return status.data;
    if (esewaErrorResponseSchema.safeParse(body).success) {
      // {"code":0,"error_message":"Service is currently unavailable"}: an outage, whatever the HTTP status says.
      throw new GatewayUnavailableError(
        `esewa ${operation}: error body (HTTP ${response.status})`,
        undefined,
        response.status,
      );
    }
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw new GatewayUnavailableError(
        `esewa ${operation}: HTTP ${response.status}`,
        retryAfterMs(response.headers.get('retry-after') ?? undefined),
        response.status,
      );
    }
    if (!response.ok) {
      throw new GatewayRejectedError(
        `esewa ${operation}: HTTP ${response.status}`,
        'esewa_http_error',
        response.status,
      );
    }
    // A 200 we cannot read is more likely a proxy's page than eSewa's answer: retry rather than decide on it.
    throw new GatewayUnavailableError(`esewa ${operation}: unreadable status answer`, undefined, response.status);
  }

  function statusOf(answer: EsewaStatusResponse, request: PaymentLookupRequest): PaymentStatus {
    const gatewayStatus = answer.status;
    switch (answer.status) {
      case 'COMPLETE':
        return { state: 'captured', ...capturedAmount(answer, request), gatewayStatus };
      case 'FULL_REFUND':
      case 'PARTIAL_REFUND':
        // Money was taken and (some of it) given back at eSewa, which orderpay never does by itself.
        return {
          state: 'captured',
          ...capturedAmount(answer, request),
          gatewayStatus,
          needsAttention: true,
        };
      case 'AMBIGUOUS':
        // eSewa cannot tell yet: keep polling, and an operator should know.
        return { state: 'pending', gatewayStatus, needsAttention: true };
      case 'PENDING':
        return { state: 'pending', gatewayStatus };
      case 'NOT_FOUND':
        // The payer has not submitted the form (yet): nothing to pay against, not a lost intent.
        return { state: 'pending', gatewayStatus };
      case 'CANCELED':
        // The payer cancelled or the payment failed on eSewa's page; eSewa says no more than that.
        return { state: 'cancelled', gatewayStatus, failure: { code: gatewayStatus } };
    }
  }

  return {
    name: 'esewa',

    async createIntent(request: CreateIntentRequest): Promise<CreatedIntent> {
      requireNpr(request, 'createIntent');
      return {
        // Each attempt is its own transaction at eSewa; the pay page builds the form from the attempt's intentId.
        intentId: esewaTransactionUuid(request.orderId, request.attemptNumber ?? 1),
        paymentUrl: `${publicBaseUrl.replace(/\/+$/, '')}/pay/${encodeURIComponent(request.orderId)}`,
      };
    },

    async fetchPaymentStatus(request) {
      return statusOf(await lookUp(request, 'fetchPaymentStatus'), request);
    },

    async cancelIntent(request): Promise<CancelOutcome> {
      // eSewa cannot cancel a transaction. orderpay stops serving the form once the order is closed; whatever the
      // payer completed before that is found here (and a later capture is refunded by the workflow).
      const status = statusOf(await lookUp(request, 'cancelIntent'), request);
      if (status.state === 'captured' && status.amountMinor !== undefined) {
        return {
          outcome: 'already_captured',
          amountMinor: status.amountMinor,
          currency: ESEWA_CURRENCY,
          ...(status.paymentReference ? { paymentReference: status.paymentReference } : {}),
        };
      }
      return { outcome: 'cancelled' };
    },

    async refund(request: RefundRequest): Promise<RefundResult> {
      if (request.currency !== ESEWA_CURRENCY) {
        throw new GatewayRejectedError(
          `esewa refund: currency ${request.currency} is not NPR`,
          'currency_not_supported',
        );
      }
      // ePay v2 has no public refund API: an operator refunds in the merchant portal and confirms it in orderpay.
      return { gatewayRefundId: `${ESEWA_MANUAL_REFUND_PREFIX}${request.refundId}`, state: 'awaiting_manual' };
    },
  };
}

function requireNpr(request: { currency?: string; amountMinor?: number }, operation: string): number {
  if (request.currency !== undefined && request.currency !== ESEWA_CURRENCY) {
    throw new GatewayRejectedError(
      `esewa ${operation}: currency ${request.currency} is not NPR`,
      'currency_not_supported',
    );
  }
  if (request.amountMinor === undefined || !Number.isSafeInteger(request.amountMinor) || request.amountMinor <= 0) {
    throw new GatewayRejectedError(`esewa ${operation}: the order amount is required`, 'amount_required');
  }
  return request.amountMinor;
}

/** COMPLETE is for the total_amount asked about; eSewa echoes it, and an unreadable echo falls back to the ask. */
function capturedAmount(answer: EsewaStatusResponse, request: PaymentLookupRequest) {
  const echoed = answer.total_amount === undefined ? undefined : rupeesToPaisa(answer.total_amount);
  return {
    amountMinor: echoed ?? request.amountMinor ?? 0,
    currency: ESEWA_CURRENCY,
    ...(answer.ref_id ? { paymentReference: answer.ref_id } : {}),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
