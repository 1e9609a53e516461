// eSewa ePay v2 as eSewa publishes it (https://developer.esewa.com.np/pages/Epay), written here from that page and
// not taken from the adapter (gateways/esewa): the sandbox is the other side of the wire, so a signing or encoding
// mistake shared by both would let every test pass. test/sandbox/sandbox-signing.unit.test.ts holds this file to the
// page's own examples.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** eSewa's UAT merchant, as the page publishes it; the sandbox's eSewa mode knows this merchant by default. */
export const ESEWA_UAT_PRODUCT_CODE = 'EPAYTEST';
export const ESEWA_UAT_SECRET_KEY = '8gBm/:&EnhH.1/q';

/** "Parameters (total_amount,transaction_uuid,product_code) should be mandatory" in every form signature. */
export const ESEWA_FORM_MANDATORY_SIGNED_FIELDS = ['total_amount', 'transaction_uuid', 'product_code'] as const;

/** What eSewa signs in the success redirect, in its order (the page's "After Successful Payment" example). */
export const ESEWA_SUCCESS_SIGNED_FIELD_NAMES =
  'transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names';

/** The status check API's response types. */
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

export function esewaSignedFieldNames(signedFieldNames: string): string[] {
  return signedFieldNames
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/**
 * HMAC-SHA256 (RFC 2104) keyed with the merchant secret, Base64, over `name=value` for each signed field in
 * signed_field_names order, joined by commas: `total_amount=110,transaction_uuid=241028,product_code=EPAYTEST`.
 * Values are signed as written ("1000.0" is not "1000").
 */
export function esewaSignature(
  fields: Readonly<Record<string, string>>,
  signedFieldNames: string,
  secretKey: string,
): string {
  const message = signedMessage(fields, signedFieldNames);
  if (message === undefined) throw new RangeError(`a field named in ${signedFieldNames} is missing`);
  return hmacBase64(message, secretKey);
}

/** True when every signed field is there and the signature is exactly the Base64 text the scheme gives. */
export function esewaSignatureMatches(
  fields: Readonly<Record<string, string>>,
  signedFieldNames: string,
  signature: string,
  secretKey: string,
): boolean {
  const message = signedMessage(fields, signedFieldNames);
  if (message === undefined) return false;
  const offered = Buffer.from(signature, 'utf8');
  const expected = Buffer.from(hmacBase64(message, secretKey), 'utf8');
  return offered.length === expected.length && timingSafeEqual(offered, expected);
}

function signedMessage(fields: Readonly<Record<string, string>>, signedFieldNames: string): string | undefined {
  const pairs: string[] = [];
  for (const name of esewaSignedFieldNames(signedFieldNames)) {
    const value = fields[name];
    if (value === undefined) return undefined;
    pairs.push(`${name}=${value}`);
  }
  return pairs.join(',');
}

function hmacBase64(message: string, secretKey: string): string {
  return createHmac('sha256', secretKey).update(message, 'utf8').digest('base64');
}

/**
 * The success redirect's `data`: the response fields as JSON (the signature last), Base64. eSewa writes
 * total_amount as text with a decimal ("1000.0"), and that text is what it signs.
 */
export function encodeEsewaSuccessData(fields: Readonly<Record<string, string>>): string {
  return Buffer.from(JSON.stringify(fields), 'utf8').toString('base64');
}
