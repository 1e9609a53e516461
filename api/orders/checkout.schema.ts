// What the API accepts, parsed with zod at the edge. Nothing unparsed reaches a use case or a workflow.
import { z } from 'zod';
import { GATEWAY_NAMES, ORDER_ID_PATTERN, type GatewayName } from '../../contracts/order.contract';
import { parseDurationMs } from '../../domain/duration';
import { GATEWAY_MAX_AMOUNT_MINOR, WALLET_CURRENCY, WALLET_GATEWAYS } from '../../gateways/gateway-limits';
import { KHALTI_MIN_AMOUNT_PAISA } from '../../gateways/khalti/khalti.schemas';

/**
 * Currencies: the ISO 4217 shape, and a code ICU knows as a current currency (Node's Intl table). Checking the
 * table here turns a typo such as "USX" into a 400 naming the field instead of a workflow that fails at the
 * gateway with a 502. The gateway stays the judge of which currencies it actually settles.
 */
const KNOWN_CURRENCIES: ReadonlySet<string> = new Set(
  typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('currency') : [],
);

export const orderIdSchema = z
  .string()
  .regex(ORDER_ID_PATTERN, 'must be 1 to 64 characters of letters, digits, ".", "_" or "-"');

const currencySchema = z
  .string()
  .refine(
    (code) => /^[A-Z]{3}$/.test(code) && (KNOWN_CURRENCIES.size === 0 || KNOWN_CURRENCIES.has(code)),
    'must be an ISO 4217 currency code in upper case, such as USD',
  );

const customerSchema = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  email: z.email().max(254).optional(),
  phone: z
    .string()
    .regex(/^\+?[0-9][0-9 ()-]{2,31}$/, 'must be a phone number of digits, spaces, "(", ")", "-" and a leading "+"')
    .optional(),
});

const WALLETS: readonly string[] = WALLET_GATEWAYS;

/**
 * How long the merchant has, from payment, to confirm fulfilment. At least a second; at most 7 days, because the
 * order's workflow stays open until then and a refund must still be possible at every gateway.
 */
export const MIN_FULFILMENT_TIMEOUT_MS = 1_000;
export const MAX_FULFILMENT_TIMEOUT_MS = 7 * 86_400_000;

const fulfilmentSchema = z
  .strictObject({
    mode: z.literal('confirm'),
    timeout: z
      .string()
      .transform((text, ctx) => {
        const ms = parseDurationMs(text);
        if (ms === undefined || ms < MIN_FULFILMENT_TIMEOUT_MS || ms > MAX_FULFILMENT_TIMEOUT_MS) {
          ctx.addIssue({ code: 'custom', message: 'must be a duration such as 30s, 15m, 2h or 1d, from 1s to 7d' });
          return z.NEVER;
        }
        return ms;
      })
      .meta({ description: 'How long after payment the merchant has to answer (1s to 7d)', example: '2h' }),
  })
  .meta({ description: 'Ask for fulfilment confirmation: a failure or no answer in time refunds the payment' });

const checkoutFieldsSchema = z.strictObject({
  orderId: orderIdSchema,
  /** Integer minor units (cents, paisa); floats never carry money. */
  amount: z
    .number()
    .int('must be an integer count of minor units')
    .positive('must be greater than zero')
    .max(Number.MAX_SAFE_INTEGER),
  currency: currencySchema,
  gateway: z.enum(GATEWAY_NAMES),
  description: z.string().max(200).optional(),
  customer: customerSchema.optional(),
  returnUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
    .max(2048)
    .optional(),
  /** Absent: the order is done once paid. */
  fulfilment: fulfilmentSchema.optional(),
  /**
   * The gateways the payer may choose from for a new attempt at the order's pay link, `gateway` among them. Absent:
   * only `gateway` (and the request hashes as it did before this field existed).
   */
  gateways: z
    .array(z.enum(GATEWAY_NAMES))
    .min(1, 'must name at least one gateway')
    .max(GATEWAY_NAMES.length)
    .optional()
    .meta({
      description:
        'The gateways the payer may choose from when starting a new attempt at the pay link; distinct, including ' +
        '`gateway`, each taking this amount and currency. Absent: only `gateway`.',
      example: ['esewa', 'khalti'],
    }),
});

/** Why `gateway` cannot take this amount in this currency: the wallets settle only NPR, Khalti has a minimum. */
function gatewayRefusals(
  gateway: GatewayName,
  { amount, currency }: { amount: number; currency: string },
): { field: 'amount' | 'currency'; message: string }[] {
  const refusals: { field: 'amount' | 'currency'; message: string }[] = [];
  if (WALLETS.includes(gateway) && currency !== WALLET_CURRENCY) {
    refusals.push({ field: 'currency', message: `must be ${WALLET_CURRENCY} for gateway ${gateway}` });
  }
  const maxAmount = GATEWAY_MAX_AMOUNT_MINOR[gateway];
  if (amount > maxAmount) {
    refusals.push({ field: 'amount', message: `must be at most ${maxAmount} minor units for gateway ${gateway}` });
  }
  if (gateway === 'khalti' && amount < KHALTI_MIN_AMOUNT_PAISA) {
    refusals.push({
      field: 'amount',
      message: `must be at least ${KHALTI_MIN_AMOUNT_PAISA} paisa (Rs ${KHALTI_MIN_AMOUNT_PAISA / 100}) for gateway khalti`,
    });
  }
  return refusals;
}

/**
 * Rules that tie fields together: `gateway` must take the amount and currency, and so must every gateway in
 * `gateways`, which names each once and includes `gateway`, so a payer is never offered a gateway that would refuse.
 */
export const checkoutBodySchema = checkoutFieldsSchema.superRefine((order, ctx) => {
  for (const refusal of gatewayRefusals(order.gateway, order)) {
    ctx.addIssue({ code: 'custom', path: [refusal.field], message: refusal.message });
  }
  if (order.gateways === undefined) return;
  if (new Set(order.gateways).size !== order.gateways.length) {
    ctx.addIssue({ code: 'custom', path: ['gateways'], message: 'must name each gateway only once' });
  }
  if (!order.gateways.includes(order.gateway)) {
    ctx.addIssue({ code: 'custom', path: ['gateways'], message: `must include the gateway ${order.gateway}` });
  }
  for (const gateway of new Set(order.gateways)) {
    if (gateway === order.gateway) continue;
    for (const refusal of gatewayRefusals(gateway, order)) {
      ctx.addIssue({ code: 'custom', path: ['gateways'], message: `${refusal.field} ${refusal.message}` });
    }
  }
});
export type CheckoutBody = z.infer<typeof checkoutBodySchema>;

export const cancelBodySchema = z.strictObject({ reason: z.string().trim().min(1).max(200).optional() }).optional();

export const gatewayParamSchema = z.enum(GATEWAY_NAMES);

/** POST /orders/:orderId/fulfilment: the merchant's answer for a paid order that asked for confirmation. */
export const fulfilmentAnswerSchema = z.discriminatedUnion('status', [
  z.strictObject({ status: z.literal('fulfilled') }),
  z.strictObject({ status: z.literal('failed'), reason: z.string().trim().min(1).max(200) }),
]);
export type FulfilmentAnswerBody = z.infer<typeof fulfilmentAnswerSchema>;
