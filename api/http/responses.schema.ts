// What the public API answers, as zod schemas. They are the source of the OpenAPI document (api/openapi) and the
// types the use cases return, so the document cannot drift from the responses without the compiler noticing.
import { z } from 'zod';
import {
  FULFILMENT_STATUSES,
  GATEWAY_NAMES,
  ORDER_STATUSES,
  PAYMENT_ATTEMPT_STATUSES,
} from '../../contracts/order.contract';

export const timestamp = z.iso.datetime().meta({ description: 'An ISO 8601 UTC timestamp' });
export const minorUnits = z.number().int().meta({ description: 'Integer minor units (cents, paisa) of the currency' });

export const orderStatusSchema = z.enum(ORDER_STATUSES).meta({ id: 'OrderStatus', description: 'Order status' });
export const gatewayNameSchema = z.enum(GATEWAY_NAMES).meta({ id: 'Gateway', description: 'Payment gateway' });

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable, machine-readable error code', example: 'validation_failed' }),
      message: z.string().meta({ description: 'Human-readable explanation; never internal details' }),
      details: z.unknown().optional().meta({ description: 'Depends on the code, e.g. the invalid fields' }),
    }),
  })
  .meta({ id: 'Error', description: 'The one error shape of every route' });

export const checkoutResponseSchema = z
  .object({
    orderId: z.string(),
    status: orderStatusSchema,
    paymentUrl: z.string().nullable().meta({ description: 'The hosted payment page to send the payer to' }),
    expiresAt: timestamp,
    amount: minorUnits,
    currency: z.string(),
    gateway: gatewayNameSchema,
  })
  .meta({ id: 'CheckoutResponse' });
export type CheckoutResponseBody = z.infer<typeof checkoutResponseSchema>;

const orderRefundSchema = z
  .object({
    refundId: z.string().meta({ description: '`refund-<orderId>-<n>`, also the gateway idempotency key' }),
    amount: minorUnits,
    currency: z.string(),
    reason: z.string(),
    state: z.string().meta({
      description: 'requested, pending, awaiting_manual (an operator must refund and confirm it), succeeded or failed',
    }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'OrderRefund' });

export const fulfilmentStatusSchema = z.enum(FULFILMENT_STATUSES).meta({
  description:
    'awaiting_payment: not paid yet; awaiting_confirmation: paid, the answer is due by dueAt; fulfilled or failed: ' +
    "the merchant's answer; timed_out: no answer by dueAt; not_needed: refunded in full before an answer came. " +
    'failed and timed_out are compensated by a refund.',
});

export const orderFulfilmentSchema = z
  .object({
    mode: z.literal('confirm'),
    timeoutMs: z.number().int().positive().meta({ description: 'The time the merchant has to answer, from payment' }),
    status: fulfilmentStatusSchema,
    dueAt: timestamp.nullable().meta({ description: 'When no answer counts as a failure; set once paid' }),
    reason: z.string().nullable().meta({ description: "The merchant's reason for a failed fulfilment" }),
    answeredAt: timestamp.nullable().meta({ description: 'When the answer (or the timeout) was recorded' }),
  })
  .meta({ id: 'OrderFulfilment', description: 'Fulfilment confirmation, for an order that asked for it' });

export const paymentAttemptSchema = z
  .object({
    number: z.number().int().positive().meta({ description: '1, 2, ...: the order of the attempts' }),
    gateway: gatewayNameSchema,
    status: z.enum(PAYMENT_ATTEMPT_STATUSES).meta({
      description:
        'open: the payer may pay it now (at most one is); declined: the gateway declined the try; cancelled: the ' +
        'payer cancelled or the wallet reported a failure; expired: the intent expired, or the order closed while it ' +
        'was open; superseded: the payer started another attempt; paid: its capture paid the order',
    }),
    failureReason: z.string().nullable().meta({
      description: 'Why it ended unpaid: payment_declined, cancelled_at_gateway, superseded, order_closed',
    }),
    declineCode: z
      .string()
      .nullable()
      .meta({ description: "The gateway's decline code for a declined attempt (Stripe: insufficient_funds, ...)" }),
    intentId: z.string().meta({ description: "The gateway's intent: a Stripe session, an eSewa UUID, a Khalti pidx" }),
    paymentUrl: z.string().nullable(),
    startedAt: timestamp,
    endedAt: timestamp.nullable(),
    createdAt: timestamp.meta({ description: 'The same as startedAt (kept for clients of earlier versions)' }),
  })
  .meta({ id: 'PaymentAttempt' });

export const orderResponseSchema = z
  .object({
    orderId: z.string(),
    status: orderStatusSchema,
    amount: minorUnits,
    currency: z.string(),
    gateway: gatewayNameSchema,
    description: z.string().nullable(),
    intentId: z.string().nullable(),
    paymentUrl: z.string().nullable(),
    expiresAt: timestamp,
    capturedAmount: minorUnits,
    refundedAmount: minorUnits,
    failureReason: z.string().nullable(),
    needsAttention: z.boolean().meta({ description: 'Something went wrong that an operator must look at' }),
    paidAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    refunds: z.array(orderRefundSchema),
    attempts: z.array(paymentAttemptSchema).meta({
      description: 'Every payment attempt, oldest first; the order stays payable across declined or abandoned ones',
    }),
    timeline: z.array(
      z.object({
        at: timestamp,
        fromStatus: orderStatusSchema.nullable(),
        status: orderStatusSchema,
        reason: z.string(),
      }),
    ),
    fulfilment: orderFulfilmentSchema.optional(),
  })
  .meta({ id: 'Order', description: 'An order as recorded: status, amounts, intent, refunds and timeline' });
export type OrderResponseBody = z.infer<typeof orderResponseSchema>;

export const fulfilmentResponseSchema = z
  .object({ orderId: z.string(), fulfilment: orderFulfilmentSchema })
  .meta({ id: 'FulfilmentAnswer', description: 'The fulfilment as recorded; the same answer again returns the same' });
export type FulfilmentResponseBody = z.infer<typeof fulfilmentResponseSchema>;

export const webhookReceiptSchema = z
  .object({
    received: z.literal(true),
    duplicate: z.literal(true).optional().meta({ description: 'The event was already processed' }),
  })
  .meta({ id: 'WebhookReceipt' });

export const healthResponseSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });

export const readinessResponseSchema = z
  .object({
    status: z.literal('ready'),
    checks: z.record(z.string(), z.enum(['ok', 'unavailable'])),
  })
  .meta({ id: 'Readiness' });
