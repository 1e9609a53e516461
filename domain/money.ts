// Exact conversion between integer paisa (what orders hold) and the decimal rupee strings wallets put on the
// wire. Pure string and integer arithmetic: a float never touches money here. Workflow-safe.

const PAISA_PER_RUPEE = 100n;
const MAX_PAISA = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Paisa to the rupee string eSewa expects: whole rupees without decimals ("1000"), otherwise two decimals
 * ("1000.50"). Throws on anything that is not a non-negative safe integer.
 */
export function paisaToRupees(paisa: number): string {
  if (!Number.isSafeInteger(paisa) || paisa < 0) {
    throw new RangeError(`paisa must be a non-negative safe integer, got ${String(paisa)}`);
  }
  const value = BigInt(paisa);
  const rupees = value / PAISA_PER_RUPEE;
  const rest = value % PAISA_PER_RUPEE;
  return rest === 0n ? rupees.toString() : `${rupees.toString()}.${rest.toString().padStart(2, '0')}`;
}

// Plain digits, or digits grouped by thousands with commas ("1,000"); an optional fraction of any length whose
// digits past the second are zeros ("1000.0", "1000.50", "1000.500").
const RUPEES_PATTERN = /^(?<whole>\d+|\d{1,3}(?:,\d{3})+)(?:\.(?<fraction>\d+))?$/;

/**
 * A rupee string as eSewa sends it ("1000", "1000.0", "1,000.50") to paisa, or undefined when it is not an exact
 * amount of paisa (more than two significant decimals, a sign, an exponent, blanks, or beyond a safe integer).
 */
export function rupeesToPaisa(text: string): number | undefined {
  const match = RUPEES_PATTERN.exec(text);
  const whole = match?.groups?.whole;
  if (whole === undefined) return undefined;
  const fraction = match?.groups?.fraction ?? '';
  if (/[^0]/.test(fraction.slice(2))) return undefined;
  const paisa = BigInt(whole.replaceAll(',', '')) * PAISA_PER_RUPEE + BigInt(fraction.slice(0, 2).padEnd(2, '0'));
  return paisa <= MAX_PAISA ? Number(paisa) : undefined;
}
