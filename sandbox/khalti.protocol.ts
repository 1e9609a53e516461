// Khalti's Web Checkout (KPG-2) as Khalti documents it (https://docs.khalti.com/khalti-epayment), written here from
// those docs and not taken from the adapter (gateways/khalti), so that the adapter is tested against the documented
// API rather than against its own reading of it.

/** Initiation refuses less than Rs 10: "Amount should be greater than Rs. 10, that is 1000 paisa." */
export const KHALTI_MIN_AMOUNT_PAISA = 1_000;

/** The payment lookup's status words. */
export const KHALTI_STATUSES = [
  'Completed',
  'Pending',
  'Initiated',
  'Refunded',
  'Expired',
  'User canceled',
  'Partially Refunded',
] as const;
export type KhaltiStatus = (typeof KHALTI_STATUSES)[number];
