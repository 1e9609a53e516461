// zod schemas for the form-encoded parameters of the /v1 endpoints the sandbox implements. Form encoding
// carries every value as a string, so integers arrive as digit strings and are checked as such: "12.5" or "1e3"
// is refused like Stripe refuses it, never rounded.
import { z } from 'zod';
import { invalidParameter, type SandboxApiError } from './stripe.objects';

const integerString = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a non-negative integer')
  .transform(Number);
const positiveIntegerString = integerString.refine((n) => n > 0, 'must be greater than 0');
const metadata = z.record(z.string(), z.string().max(500)).optional();
const absoluteUrl = z.url({ protocol: /^https?$/ });

export const sessionCreateParamsSchema = z.object({
  mode: z.literal('payment', { error: 'only mode=payment is supported by the sandbox' }),
  line_items: z
    .array(
      z.object({
        quantity: positiveIntegerString,
        price_data: z.object({
          currency: z.string().regex(/^[a-z]{3}$/, 'must be a three-letter lower-case ISO currency code'),
          unit_amount: integerString,
          product_data: z.object({ name: z.string().min(1).max(250) }),
        }),
      }),
    )
    .min(1, 'at least one line item is required'),
  success_url: absoluteUrl,
  cancel_url: absoluteUrl.optional(),
  client_reference_id: z.string().min(1).max(200).optional(),
  customer_email: z.email().optional(),
  expires_at: integerString.optional(),
  metadata,
  payment_intent_data: z.object({ metadata }).optional(),
  /** A filter over the account's methods (API version 2026-09-30.endive on); absent, the "Dashboard" set applies. */
  allowed_payment_method_types: z
    .array(z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be a payment method type such as card'))
    .min(1)
    .optional(),
});
export type SessionCreateParams = z.infer<typeof sessionCreateParamsSchema>;

export const refundCreateParamsSchema = z
  .object({
    payment_intent: z.string().min(1).optional(),
    charge: z.string().min(1).optional(),
    amount: positiveIntegerString.optional(),
    reason: z.enum(['duplicate', 'fraudulent', 'requested_by_customer']).optional(),
    metadata,
  })
  .refine((params) => params.payment_intent !== undefined || params.charge !== undefined, {
    message: 'one of payment_intent or charge is required',
    path: ['payment_intent'],
  });
export type RefundCreateParams = z.infer<typeof refundCreateParamsSchema>;

/** `created[gte]`/`created[lt]` (unix seconds), `limit` (1-100, default 10) and `starting_after` (an object ID). */
export const listParamsSchema = z.object({
  created: z.object({ gte: integerString.optional(), lt: integerString.optional() }).optional(),
  limit: integerString.refine((n) => n >= 1 && n <= 100, 'must be between 1 and 100').default(10),
  starting_after: z.string().min(1).optional(),
});
export type ListParams = z.infer<typeof listParamsSchema>;

export const expandParamsSchema = z.object({
  expand: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((value) => (value === undefined ? [] : Array.isArray(value) ? value : [value])),
});

/** Parses parameters or throws the 400 Stripe would send, naming the first bad parameter in bracket notation. */
export function parseParams<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw toParameterError(result.error, input);
}

function toParameterError(error: z.ZodError, input: unknown): SandboxApiError {
  const issue = error.issues[0];
  const path = issue?.path ?? [];
  const param = path.map((part, index) => (index === 0 ? String(part) : `[${String(part)}]`)).join('');
  const missing = issue?.code === 'invalid_type' && valueAt(input, path) === undefined;
  return invalidParameter(
    param,
    missing ? `Missing required param: ${param}.` : `Invalid ${param}: ${issue?.message ?? 'invalid value'}`,
    missing ? 'parameter_missing' : 'parameter_invalid',
  );
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}
