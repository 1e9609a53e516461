// The payer's browser coming back from eSewa. The success redirect carries Base64 JSON in `data`, signed with
// the merchant secret: a valid signature makes it a verified capture. The failure redirect is unsigned and only
// a hint: the workflow asks the status API. A wrong or missing signature is refused, so it changes nothing.
import { ORDER_ID_PATTERN } from '../../contracts/order.contract';
import { rupeesToPaisa } from '../../domain/money';
import type { CallbackHandler, IncomingCallback, ParsedCallback } from '../gateway';
import { WebhookPayloadError, WebhookSignatureError } from '../gateway-errors';
import {
  ESEWA_CALLBACK_REQUIRED_SIGNED_FIELDS,
  ESEWA_CURRENCY,
  decodeEsewaCallbackData,
  esewaCallbackDataSchema,
} from './esewa.protocol';
import { splitFieldNames, verifyEsewaSignature } from './esewa.signature';
import { orderIdOfEsewaTransactionUuid } from './esewa.transaction-id';

export interface EsewaCallbackOptions {
  productCode: string;
  secretKey: string;
  now?: () => Date;
}

/** A Base64 JSON of a few hundred bytes; the cap only stops abuse. */
const MAX_DATA_LENGTH = 8_192;

export function createEsewaCallbackHandler(options: EsewaCallbackOptions): CallbackHandler {
  const now = options.now ?? (() => new Date());

  function orderIdOf(transactionUuid: string | undefined): string {
    const orderId = transactionUuid === undefined ? undefined : orderIdOfEsewaTransactionUuid(transactionUuid);
    if (!orderId || !ORDER_ID_PATTERN.test(orderId))
      throw new WebhookPayloadError('the callback names no order of ours');
    return orderId;
  }

  function success(query: Readonly<Record<string, string>>): ParsedCallback {
    // A "+" of the Base64 arrives as a space when the redirect did not URL-encode it; a space is never Base64.
    const data = query.data?.replaceAll(' ', '+');
    if (!data || data.length > MAX_DATA_LENGTH) throw new WebhookSignatureError('the success callback carries no data');
    const decoded = decodeEsewaCallbackData(data);
    const parsed = esewaCallbackDataSchema.safeParse(decoded);
    if (!parsed.success || !decoded) throw new WebhookSignatureError('the success callback data is not signed JSON');
    const { signed_field_names: signedFieldNames, signature } = parsed.data;
    const signedNames = new Set(splitFieldNames(signedFieldNames));
    // Only signed values are used, so an unsigned status or amount can never move an order.
    if (!ESEWA_CALLBACK_REQUIRED_SIGNED_FIELDS.every((name) => signedNames.has(name))) {
      throw new WebhookSignatureError('the success callback does not sign the fields orderpay acts on');
    }
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(decoded)) if (typeof value === 'string') fields[name] = value;
    if (!verifyEsewaSignature(fields, signedFieldNames, signature, options.secretKey)) {
      throw new WebhookSignatureError('the success callback signature is not valid');
    }
    const {
      transaction_code: code,
      status,
      total_amount: total,
      transaction_uuid: uuid,
      product_code: product,
    } = parsed.data;
    if (product !== options.productCode) throw new WebhookPayloadError('the callback is for another merchant');
    const orderId = orderIdOf(uuid);
    const amountMinor = total === undefined ? undefined : rupeesToPaisa(total);
    if (amountMinor === undefined) throw new WebhookPayloadError('the callback amount is not an amount of rupees');
    const occurredAt = now().toISOString();
    if (status === 'COMPLETE') {
      return {
        eventId: `success-${uuid ?? ''}-${code ?? ''}`,
        eventType: 'success:COMPLETE',
        orderId,
        paymentEvent: {
          eventId: `esewa-success-${uuid ?? ''}-${code ?? ''}`,
          kind: 'captured',
          verified: true,
          intentId: uuid,
          ...(code ? { paymentReference: code } : {}),
          amountMinor,
          currency: ESEWA_CURRENCY,
          occurredAt,
        },
        payerOutcome: 'paid',
      };
    }
    // Signed, but not a completed payment (PENDING, AMBIGUOUS…): let the status API decide.
    return hint(
      orderId,
      uuid ?? '',
      `success:${status ?? 'unknown'}`,
      `${uuid ?? ''}-${code ?? ''}-${status ?? ''}`,
      'processing',
    );
  }

  function hint(
    orderId: string,
    intentId: string,
    eventType: string,
    key: string,
    payerOutcome: ParsedCallback['payerOutcome'],
  ): ParsedCallback {
    return {
      eventId: `${eventType}-${key}`,
      eventType,
      orderId,
      paymentEvent: {
        eventId: `esewa-${eventType}-${key}`,
        kind: payerOutcome === 'failed' ? 'failed' : 'pending',
        verified: false,
        intentId,
        occurredAt: now().toISOString(),
      },
      payerOutcome,
    };
  }

  return {
    gateway: 'esewa',
    parse({ path, query }: IncomingCallback): ParsedCallback {
      const [route, transactionUuid, ...rest] = path;
      if (route === 'success' && transactionUuid === undefined) return success(query);
      if (route === 'failure' && transactionUuid !== undefined && rest.length === 0) {
        // Unsigned: whatever it carries, it only makes the workflow ask eSewa.
        return hint(orderIdOf(transactionUuid), transactionUuid, 'failure', transactionUuid, 'failed');
      }
      throw new WebhookPayloadError('no such eSewa callback');
    },
  };
}
