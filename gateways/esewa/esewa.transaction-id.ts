// eSewa's transaction_uuid may hold only letters, digits and hyphens; order IDs may also hold "." and "_".
// The mapping escapes with "-" so it is deterministic, reversible and collision-free: "-" becomes "-0", "." "-1"
// and "_" "-2". Every "-" in a transaction UUID starts an escape, so two order IDs never share one.
//
// An order's later payment attempts need a transaction UUID of their own (eSewa serves one try per UUID). Attempt 1
// keeps the bare escaped order ID (orders created before attempts existed are still looked up by it); attempt n > 1
// appends "-9<n>". No escape starts with "-9", so the suffix is never part of an escaped order ID, and n is written
// without leading zeros, so each (order, attempt) has exactly one UUID.
const ESCAPES: Readonly<Record<string, string>> = { '-': '-0', '.': '-1', _: '-2' };
const UNESCAPES: Readonly<Record<string, string>> = { '0': '-', '1': '.', '2': '_' };
const ATTEMPT_SUFFIX = '-9';
const TRANSACTION_UUID_PATTERN = /^((?:[A-Za-z0-9]|-[012])+)(?:-9([1-9][0-9]*))?$/;

export interface EsewaTransactionRef {
  orderId: string;
  attemptNumber: number;
}

export function esewaTransactionUuid(orderId: string, attemptNumber = 1): string {
  if (!Number.isSafeInteger(attemptNumber) || attemptNumber < 1) {
    throw new RangeError(`esewaTransactionUuid: attemptNumber must be a positive integer, got ${attemptNumber}`);
  }
  const escaped = orderId.replace(/[-._]/g, (char) => ESCAPES[char] ?? char);
  return attemptNumber === 1 ? escaped : `${escaped}${ATTEMPT_SUFFIX}${attemptNumber}`;
}

/** The order and attempt of a transaction UUID made by esewaTransactionUuid, or undefined for any other string. */
export function parseEsewaTransactionUuid(transactionUuid: string): EsewaTransactionRef | undefined {
  const match = TRANSACTION_UUID_PATTERN.exec(transactionUuid);
  if (!match?.[1]) return undefined;
  const attemptNumber = match[2] === undefined ? 1 : Number(match[2]);
  // "-91" would be a second spelling of attempt 1, and a number past 2^53 would not read back as itself.
  if (match[2] !== undefined && (attemptNumber < 2 || !Number.isSafeInteger(attemptNumber))) return undefined;
  const orderId = match[1].replace(/-([012])/g, (_match, code: string) => UNESCAPES[code] ?? '');
  return { orderId, attemptNumber };
}

/** The order ID of a transaction UUID made by esewaTransactionUuid (any attempt), or undefined for any other string. */
export function orderIdOfEsewaTransactionUuid(transactionUuid: string): string | undefined {
  return parseEsewaTransactionUuid(transactionUuid)?.orderId;
}
