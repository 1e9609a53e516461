// The payer-facing order status (GET /orders/:orderId/status) and the client secret in the checkout answer.
import { z } from 'zod';
import { checkoutResponseSchema, minorUnits, orderStatusSchema, timestamp } from '../http/responses.schema';

export const clientSecretSchema = z
  .string()
  .min(1)
  .max(256)
  .meta({ description: 'The order’s `clientSecret` from the checkout answer', example: 'demo-1_secret_3q2-…' });

export const orderStatusQuerySchema = z.object({ client_secret: clientSecretSchema.optional() });

export const publicOrderStatusSchema = z
  .object({
    orderId: z.string(),
    status: orderStatusSchema,
    amount: minorUnits,
    currency: z.string(),
    expiresAt: timestamp,
  })
  .meta({ id: 'PublicOrderStatus' });
export type PublicOrderStatusBody = z.infer<typeof publicOrderStatusSchema>;

/** The checkout answer as sent: the use case's body plus the payer's client secret. */
export const checkoutAnswerSchema = checkoutResponseSchema
  .extend({
    clientSecret: z.string().meta({
      description:
        'Hand this (never your API key) to the payer’s browser: it reads GET /orders/{orderId}/status and nothing else',
    }),
  })
  .meta({ id: 'CheckoutAnswer' });
