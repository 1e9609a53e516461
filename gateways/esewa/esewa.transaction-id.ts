// eSewa's transaction_uuid may hold only letters, digits and hyphens; order IDs may also hold "." and "_".
// The mapping escapes with "-" so it is deterministic, reversible and collision-free: "-" becomes "-0", "." "-1"
// and "_" "-2". Every "-" in a transaction UUID starts an escape, so two order IDs never share one.
const ESCAPES: Readonly<Record<string, string>> = { '-': '-0', '.': '-1', _: '-2' };
const UNESCAPES: Readonly<Record<string, string>> = { '0': '-', '1': '.', '2': '_' };

export function esewaTransactionUuid(orderId: string): string {
  return orderId.replace(/[-._]/g, (char) => ESCAPES[char] ?? char);
}

/** The order ID of a transaction UUID made by esewaTransactionUuid, or undefined for any other string. */
export function orderIdOfEsewaTransactionUuid(transactionUuid: string): string | undefined {
  if (!/^(?:[A-Za-z0-9]|-[012])+$/.test(transactionUuid)) return undefined;
  return transactionUuid.replace(/-([012])/g, (_match, code: string) => UNESCAPES[code] ?? '');
}
