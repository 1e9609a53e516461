// eSewa ePay v2 on the wire: the payment form, the success redirect's `data` and the status API's answers.
import { z } from 'zod';
import { paisaToRupees } from '../../domain/money';
import { signEsewaFields } from './esewa.signature';
import { esewaTransactionUuid, orderIdOfEsewaTransactionUuid } from './esewa.transaction-id';

/** eSewa's UAT (test) environment and its public test merchant; production deployments set their own. */
export const ESEWA_UAT_FORM_URL = 'https://rc-epay.esewa.com.np/api/epay/main/v2/form';
export const ESEWA_UAT_STATUS_URL = 'https://rc.esewa.com.np/api/epay/transaction/status/';
export const ESEWA_UAT_PRODUCT_CODE = 'EPAYTEST';
export const ESEWA_UAT_SECRET_KEY = '8gBm/:&EnhH.1/q';

/** eSewa wallets hold rupees; orders for eSewa are in NPR. */
export const ESEWA_CURRENCY = 'NPR';
/** What orderpay signs in the form; eSewa requires these three, in this order. */
export const ESEWA_FORM_SIGNED_FIELDS = 'total_amount,transaction_uuid,product_code';
/** The success redirect must sign at least these, or orderpay would act on values nobody vouched for. */
export const ESEWA_CALLBACK_REQUIRED_SIGNED_FIELDS = [
  'transaction_code',
  'status',
  'total_amount',
  'transaction_uuid',
  'product_code',
] as const;

export interface EsewaMerchant {
  formUrl: string;
  productCode: string;
  secretKey: string;
  /** The API's public base: the success and failure URLs point back at it. */
  publicBaseUrl: string;
}

export interface EsewaFormFields {
  amount: string;
  tax_amount: string;
  total_amount: string;
  transaction_uuid: string;
  product_code: string;
  product_service_charge: string;
  product_delivery_charge: string;
  success_url: string;
  failure_url: string;
  signed_field_names: string;
  signature: string;
}

function esewaSuccessUrl(publicBaseUrl: string): string {
  return `${trimSlash(publicBaseUrl)}/callbacks/esewa/success`;
}

/** The failure redirect carries nothing signed, so the transaction rides in the path (eSewa appends `?data=`). */
function esewaFailureUrl(publicBaseUrl: string, transactionUuid: string): string {
  return `${trimSlash(publicBaseUrl)}/callbacks/esewa/failure/${transactionUuid}`;
}

/**
 * The signed form that starts an eSewa payment. orderpay charges no tax or service/delivery charge, so those
 * are 0 and total_amount equals amount (the sum of the four parts, as eSewa requires).
 * `transactionUuid` is the open attempt's intentId; absent, the order's first attempt (orders before attempts).
 */
export function buildEsewaForm(
  merchant: EsewaMerchant,
  order: { orderId: string; amountMinor: number; transactionUuid?: string },
): EsewaFormFields {
  const transactionUuid = order.transactionUuid ?? esewaTransactionUuid(order.orderId);
  if (orderIdOfEsewaTransactionUuid(transactionUuid) !== order.orderId) {
    throw new Error(`buildEsewaForm: transaction ${transactionUuid} is not one of order ${order.orderId}`);
  }
  const amount = paisaToRupees(order.amountMinor);
  const unsigned = {
    amount,
    tax_amount: '0',
    total_amount: amount,
    transaction_uuid: transactionUuid,
    product_code: merchant.productCode,
    product_service_charge: '0',
    product_delivery_charge: '0',
    success_url: esewaSuccessUrl(merchant.publicBaseUrl),
    failure_url: esewaFailureUrl(merchant.publicBaseUrl, transactionUuid),
    signed_field_names: ESEWA_FORM_SIGNED_FIELDS,
  };
  return { ...unsigned, signature: signEsewaFields(unsigned, ESEWA_FORM_SIGNED_FIELDS, merchant.secretKey) };
}

export const ESEWA_STATUSES = [
  'PENDING',
  'COMPLETE',
  'FULL_REFUND',
  'PARTIAL_REFUND',
  'AMBIGUOUS',
  'NOT_FOUND',
  'CANCELED',
] as const;
export type EsewaStatus = (typeof ESEWA_STATUSES)[number];

/** An amount as eSewa writes it: a string ("100.0") or a JSON number (100.0), read through its decimal text. */
const wireAmount = z.union([
  z.string(),
  z
    .number()
    .nonnegative()
    .transform((n) => String(n)),
]);

export const esewaStatusResponseSchema = z.looseObject({
  product_code: z.string().optional(),
  transaction_uuid: z.string().optional(),
  total_amount: wireAmount.optional(),
  status: z.enum(ESEWA_STATUSES),
  ref_id: z.string().nullish(),
});
export type EsewaStatusResponse = z.infer<typeof esewaStatusResponseSchema>;

/** What eSewa answers during an outage, with HTTP 200 or an error status: retried, never read as a status. */
export const esewaErrorResponseSchema = z.looseObject({
  code: z.number().optional(),
  error_message: z.string(),
});

/** The decoded `data` of the success redirect: every field a string, signed or not. */
export const esewaCallbackDataSchema = z.looseObject({
  transaction_code: z.string().optional(),
  status: z.string().optional(),
  total_amount: z.string().optional(),
  transaction_uuid: z.string().optional(),
  product_code: z.string().optional(),
  signed_field_names: z.string().min(1),
  signature: z.string().min(1),
});

/**
 * Decodes the Base64 JSON `data`. Bare JSON numbers are kept as their source text (eSewa has sent total_amount
 * both as "100.0" and as 100.0), because the signature covers the text, and JSON.parse would turn 100.0 into 100.
 */
export function decodeEsewaCallbackData(data: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = Buffer.from(data, 'base64').toString('utf8');
  } catch {
    return undefined;
  }
  const numbersAsText = text.replace(/:\s*(-?\d+(?:\.\d+)?)\s*(?=[,}])/g, ':"$1"');
  try {
    const parsed: unknown = JSON.parse(numbersAsText);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Encodes the success redirect's `data` as eSewa does (the sandbox uses it). */
export function encodeEsewaCallbackData(fields: Readonly<Record<string, string>>): string {
  return Buffer.from(JSON.stringify(fields), 'utf8').toString('base64');
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
