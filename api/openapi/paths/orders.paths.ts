import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import {
  cancelBodySchema,
  checkoutBodySchema,
  fulfilmentAnswerSchema,
  orderIdSchema,
} from '../../orders/checkout.schema';
import { idempotencyKeySchema } from '../../http/idempotency';
import {
  checkoutAnswerSchema,
  orderStatusQuerySchema,
  publicOrderStatusSchema,
} from '../../orders/order-status.schema';
import { fulfilmentResponseSchema, orderResponseSchema } from '../../http/responses.schema';
import { commonErrors, error, json, keyErrors, rateLimited, replayedHeader, retryAfterHeader } from '../responses';

/** A merchant route: an API key with `scope` (the description says which). */
const merchant = (scope: string) => ({
  tags: ['orders'],
  security: [{ apiKey: [] }],
  description: `Needs an API key with the \`${scope}\` scope.`,
});

const orderPath = z.object({ orderId: orderIdSchema.meta({ description: 'The merchant’s order ID' }) });

export const ordersPaths: ZodOpenApiPathsObject = {
  '/orders': {
    post: {
      ...merchant('orders:write'),
      summary: 'Create an order and its payment intent (idempotent)',
      description:
        'Needs an API key with the `orders:write` scope. ' +
        'Starts the order workflow and waits up to CHECKOUT_TIMEOUT for the hosted payment page. The same request ' +
        'again answers 200 with `Idempotent-Replayed: true`; an order already recorded is answered from the database ' +
        '(200, its current status) under any key, without starting a workflow; a different request under the same ' +
        'key or order ID is a 409. The answer carries the order’s `clientSecret` for the payer’s browser ' +
        '(GET /orders/{orderId}/status). With `fulfilment: {"mode": "confirm", "timeout": "2h"}` the paid order ' +
        'waits for POST /orders/{orderId}/fulfilment; a failure, or no answer within the timeout, refunds it.',
      requestParams: {
        header: z.object({
          'idempotency-key': idempotencyKeySchema.optional().meta({ description: 'Defaults to the order ID' }),
        }),
      },
      requestBody: {
        required: true,
        content: { 'application/json': { schema: checkoutBodySchema.meta({ id: 'CheckoutRequest' }) } },
      },
      responses: {
        ...commonErrors,
        ...keyErrors,
        '200': {
          ...json('The same request was answered before (Idempotent-Replayed: true)', checkoutAnswerSchema),
          headers: replayedHeader,
        },
        '201': json('Order created; send the payer to paymentUrl', checkoutAnswerSchema),
        '409': error('`idempotency_conflict` or `order_closed`'),
        '415': error('`unsupported_media_type`'),
        '502': error('`gateway_rejected`: the gateway refused to create the payment'),
        '503': {
          ...error('`checkout_pending` (the order carries on; repeat the request), or a dependency is down'),
          headers: retryAfterHeader,
        },
      },
    },
  },
  '/orders/{orderId}': {
    get: {
      ...merchant('orders:read'),
      summary: 'Read an order with its refunds, attempts and timeline',
      requestParams: { path: orderPath },
      responses: {
        ...commonErrors,
        ...keyErrors,
        '200': json('The order', orderResponseSchema),
        '404': error('`order_not_found`'),
      },
    },
  },
  '/orders/{orderId}/cancel': {
    post: {
      ...merchant('orders:write'),
      summary: 'Cancel an order; after payment this is a full refund, also after the grace window',
      requestParams: { path: orderPath },
      requestBody: { content: { 'application/json': { schema: cancelBodySchema.meta({ id: 'CancelRequest' }) } } },
      responses: {
        ...commonErrors,
        ...keyErrors,
        '200': json('The order after the cancellation', orderResponseSchema),
        '404': error('`order_not_found`'),
        '409': error('`invalid_transition`, or `order_closed` (closed unpaid)'),
        '415': error('`unsupported_media_type`'),
        '503': {
          ...error('`cancel_pending` (repeat the request or read the order), or a dependency is down'),
          headers: retryAfterHeader,
        },
      },
    },
  },
  '/orders/{orderId}/fulfilment': {
    post: {
      ...merchant('orders:write'),
      summary: 'Confirm or fail the fulfilment of a paid order that asked for confirmation (idempotent)',
      description:
        'Needs an API key with the `orders:write` scope. For an order created with `fulfilment.mode: "confirm"`, ' +
        'once it is PAID. `fulfilled` ends the wait; `failed` refunds what is left of the payment (at eSewa, which ' +
        'has no refund API, an operator refunds by hand) and the order ends REFUNDED with a `fulfilment_failed` ' +
        'timeline entry. No answer by `fulfilment.dueAt` does the same with `fulfilment_timeout`. The same answer ' +
        'again is 200 with the same body (a repeated `failed` keeps the first reason), also after the order closed.',
      requestParams: { path: orderPath },
      requestBody: {
        required: true,
        content: { 'application/json': { schema: fulfilmentAnswerSchema.meta({ id: 'FulfilmentRequest' }) } },
      },
      responses: {
        ...commonErrors,
        ...keyErrors,
        '200': json('The fulfilment as recorded (the refund of a failure follows)', fulfilmentResponseSchema),
        '404': error('`order_not_found`'),
        '409': error(
          '`fulfilment_conflict` (answered differently before, or timed out), `fulfilment_not_requested`, ' +
            '`invalid_transition` (not paid yet, or refunded in full before an answer), or `order_closed`',
        ),
        '415': error('`unsupported_media_type`'),
        '503': {
          ...error('`fulfilment_pending` (repeat the request), or a dependency is down'),
          headers: retryAfterHeader,
        },
      },
    },
  },
  '/orders/{orderId}/status': {
    get: {
      tags: ['orders'],
      summary: 'The payer’s view of an order: status, amount, currency and expiry (client secret, no API key)',
      description:
        'For the payer’s browser, which must never hold an API key. A wrong or missing `client_secret` answers the ' +
        'same 404 as an unknown order. No customer data, refunds or return URL.',
      requestParams: { path: orderPath, query: orderStatusQuerySchema },
      responses: {
        ...commonErrors,
        '200': json('The order’s public status', publicOrderStatusSchema),
        '404': error('`order_not_found`: no such order, or not its client secret'),
        ...rateLimited,
      },
    },
  },
};
