// Khalti's return URL: after the hosted page the payer's browser comes back with a GET carrying the outcome in the
// query (`pidx`, `status`, `transaction_id`, `tidx`, `amount`, `total_amount`, `purchase_order_id`, ...). Nothing in
// it is signed and anyone can type it into a browser, so it is only a hint: it names the order and asks the workflow
// for a lookup, and it never carries an amount or a payment reference anyone could trust.
import { z } from 'zod';
import type { PaymentEvent, PaymentEventKind } from '../../contracts/order.contract';
import { WebhookPayloadError } from '../gateway-errors';

export interface KhaltiCallback {
  orderId: string;
  /** The same for every delivery of the same outcome for the same pidx (a refresh, a second redirect). */
  eventId: string;
  pidx: string;
  /** The status word the browser brought, for logs; a lookup decides what happened. */
  claimedStatus: string;
  /** Always unverified: the workflow answers it with a status lookup. */
  paymentEvent: PaymentEvent;
}

/** Khalti's IDs (pidx, transaction IDs) are short alphanumeric strings. */
const khaltiId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, "_" or "-"');
/** Empty on a cancelled payment (`transaction_id=`), so empty is allowed; anything else must look like an ID. */
const optionalKhaltiId = z.union([z.literal(''), khaltiId]).optional();
/** Paisa as the browser brought it; read for shape only, never used as money. */
const optionalPaisa = z
  .string()
  .regex(/^\d{0,15}$/, 'must be digits')
  .optional();

/** Every field is a plain string: a repeated parameter arrives as an array and is refused rather than guessed at. */
export const khaltiCallbackQuerySchema = z.object({
  pidx: khaltiId,
  status: z.string().min(1).max(40),
  purchase_order_id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be an orderpay order ID'),
  transaction_id: optionalKhaltiId,
  tidx: optionalKhaltiId,
  txnId: optionalKhaltiId,
  amount: optionalPaisa,
  total_amount: optionalPaisa,
  purchase_order_name: z.string().max(200).optional(),
  mobile: z.string().max(20).optional(),
});
export type KhaltiCallbackQuery = z.infer<typeof khaltiCallbackQuerySchema>;

/** The kind the browser claims; `captured` here still means "go and look", since the event is unverified. */
const CLAIMED_KINDS: Readonly<Record<string, PaymentEventKind>> = {
  Completed: 'captured',
  'User canceled': 'cancelled',
  Expired: 'cancelled',
};

/**
 * Parses the return URL's query. Throws WebhookPayloadError (a 400 at the HTTP edge) when a field we read is
 * missing, repeated or malformed; fields we do not read are ignored, as Khalti adds new ones.
 */
export function parseKhaltiCallback(query: unknown, receivedAt: Date): KhaltiCallback {
  const parsed = khaltiCallbackQuerySchema.safeParse(query);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(query)'}: ${issue.message}`);
    throw new WebhookPayloadError(`not a Khalti return: ${problems.join('; ')}`);
  }
  const { pidx, status, purchase_order_id: orderId } = parsed.data;
  const kind: PaymentEventKind = Object.hasOwn(CLAIMED_KINDS, status)
    ? (CLAIMED_KINDS[status] ?? 'pending')
    : 'pending';
  // The order is part of the ID: a forged return naming another order with a real pidx must not take the ID of
  // the genuine return (it is refused anyway, since the pidx is not that order's intent).
  const eventId = `khalti-return:${orderId}:${pidx}:${kind}`;
  return {
    orderId,
    eventId,
    pidx,
    claimedStatus: status,
    paymentEvent: { eventId, kind, verified: false, intentId: pidx, occurredAt: receivedAt.toISOString() },
  };
}
