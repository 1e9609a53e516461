// eSewa ePay v2 signatures: HMAC-SHA256, Base64, over `name=value` pairs in signed_field_names order, joined by
// commas. Verification uses the values exactly as received ("1000.0" is signed as 1000.0, not as 1000).
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The message eSewa signs: `total_amount=110,transaction_uuid=241028,product_code=EPAYTEST`. */
export function esewaSignatureMessage(fields: Readonly<Record<string, string>>, signedFieldNames: string): string {
  return splitFieldNames(signedFieldNames)
    .map((name) => {
      const value = fields[name];
      if (value === undefined) throw new RangeError(`signed field ${name} is missing`);
      return `${name}=${value}`;
    })
    .join(',');
}

export function signEsewaFields(
  fields: Readonly<Record<string, string>>,
  signedFieldNames: string,
  secret: string,
): string {
  return createHmac('sha256', secret).update(esewaSignatureMessage(fields, signedFieldNames), 'utf8').digest('base64');
}

/** True only when every signed field is present and the signature matches; never throws on hostile input. */
export function verifyEsewaSignature(
  fields: Readonly<Record<string, string>>,
  signedFieldNames: string,
  signature: string,
  secret: string,
): boolean {
  let expected: Buffer;
  try {
    expected = Buffer.from(signEsewaFields(fields, signedFieldNames, secret), 'base64');
  } catch {
    return false;
  }
  const offered = Buffer.from(signature, 'base64');
  // Base64 decoding ignores junk, so compare the canonical re-encoding too.
  return (
    offered.length === expected.length && offered.toString('base64') === signature && timingSafeEqual(offered, expected)
  );
}

export function splitFieldNames(signedFieldNames: string): string[] {
  return signedFieldNames
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}
