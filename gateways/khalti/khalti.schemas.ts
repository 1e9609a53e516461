// The parts of Khalti's ePayment (KPG-2) API orderpay reads, as zod schemas. Every response is parsed with these, so
// a field we rely on that is missing or mistyped fails loudly instead of becoming `undefined`. Status words stay
// plain strings: an unknown word must mean "not final yet, look closer", never a parse failure.
import { z } from 'zod';

/** Khalti amounts are integer paisa; a fraction means we are not talking to Khalti. */
const paisa = z.number().int().nonnegative();

export const KHALTI_CURRENCY = 'NPR';
/** Khalti refuses payments under Rs 10 ("Amount should be greater than Rs. 10, that is 1000 paisa"). */
export const KHALTI_MIN_AMOUNT_PAISA = 1_000;

/** The lookup status words KPG-2 documents. */
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

export function isKhaltiStatus(word: string): word is KhaltiStatus {
  return (KHALTI_STATUSES as readonly string[]).includes(word);
}

export const khaltiInitiateRequestSchema = z.object({
  return_url: z.url(),
  website_url: z.url(),
  amount: paisa.min(1),
  purchase_order_id: z.string().min(1),
  purchase_order_name: z.string().min(1),
  customer_info: z
    .object({ name: z.string().optional(), email: z.string().optional(), phone: z.string().optional() })
    .optional(),
});
export type KhaltiInitiateRequest = z.infer<typeof khaltiInitiateRequestSchema>;

export const khaltiInitiateResponseSchema = z.object({
  pidx: z.string().min(1),
  payment_url: z.url(),
  /** ISO 8601 with Nepal's offset, e.g. 2023-05-25T16:26:16.471649+05:45. */
  expires_at: z.iso.datetime({ offset: true }),
  expires_in: z.number().int().nonnegative(),
});
export type KhaltiInitiateResponse = z.infer<typeof khaltiInitiateResponseSchema>;

export const khaltiLookupResponseSchema = z.object({
  pidx: z.string().min(1),
  total_amount: paisa,
  status: z.string().min(1),
  /** Null until the payer has paid. */
  transaction_id: z.string().min(1).nullish(),
  fee: paisa.nullish(),
  refunded: z.boolean().nullish(),
});
export type KhaltiLookupResponse = z.infer<typeof khaltiLookupResponseSchema>;

/**
 * Khalti's error bodies: `{"detail": "...", "error_key": "..."}`, or a validation error that names each field
 * (`{"amount": ["..."], "error_key": "validation_error"}`). Everything is optional: we only read it for messages.
 */
export const khaltiErrorBodySchema = z.looseObject({
  detail: z.string().optional(),
  error_key: z.string().optional(),
  status_code: z.number().optional(),
});
export type KhaltiErrorBody = z.infer<typeof khaltiErrorBodySchema>;

/** The refund answer: `{"detail": "Transaction refund successful."}`; it carries no refund ID. */
export const khaltiRefundResponseSchema = z.looseObject({
  detail: z.string().optional(),
});
