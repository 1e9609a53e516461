import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { orderIdSchema } from '../../orders/checkout.schema';
import { startAttemptFormSchema } from '../../orders/pay-page.schema';
import { errorBodySchema } from '../../http/responses.schema';
import { rateLimited, retryAfterHeader } from '../responses';

const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });
/** A refusal: an HTML page for a browser that asks for one, the one error shape for anything else. */
const refusal = (description: string) => ({
  description,
  content: { 'text/html': { schema: z.string() }, 'application/json': { schema: errorBodySchema } },
});

export const payPagePaths: ZodOpenApiPathsObject = {
  '/pay/{orderId}': {
    get: {
      tags: ['payer'],
      summary: 'The order’s pay link, for every gateway: the order, its last attempt’s outcome and the way to pay',
      description:
        'Shows the order ID and amount, and how the last payment attempt ended in plain words (declined with the ' +
        'issuer’s reason, cancelled, expired). While the order is AWAITING_PAYMENT: an open eSewa attempt gets a ' +
        'self-submitting form to ESEWA_FORM_URL signed for that attempt’s `transaction_uuid` (`amount`, ' +
        '`tax_amount`, `total_amount`, `transaction_uuid`, `product_code`, `product_service_charge`, ' +
        '`product_delivery_charge`, `success_url`, `failure_url`, `signed_field_names`, `signature`; a submit ' +
        'button covers browsers without script); an open Stripe or Khalti attempt a "Continue to payment" link to ' +
        'its payment page; no open attempt a "Try again" form that posts to `/pay/{orderId}/attempts`, with a ' +
        'choice of gateway when the order allows more than one. Nothing else about the order is shown, and the ' +
        'page can neither cancel nor refund.',
      requestParams: { path: z.object({ orderId: orderIdSchema }) },
      responses: {
        '200': html('The pay page'),
        '404': refusal('`order_not_found`: no order with this ID'),
        '409': refusal('`order_closed`: the order is not awaiting payment (paid, expired, cancelled…): nothing to pay'),
        ...rateLimited,
      },
    },
  },
  '/pay/{orderId}/attempts': {
    post: {
      tags: ['payer'],
      summary: 'Start (or resume) a payment attempt from the pay link; 303 to where the payer pays',
      description:
        'The pay link’s "Try again" button. The order’s workflow answers with the open attempt, or starts a new ' +
        'one at the chosen gateway (default: the last attempt’s), and the payer is sent to its payment page (for ' +
        'eSewa, the pay link, which then serves the signed form). Public, so limited per client IP and per order, ' +
        'and new attempts also per order by RATE_LIMIT_ATTEMPTS_PER_ORDER per RATE_LIMIT_ATTEMPTS_WINDOW.',
      requestParams: { path: z.object({ orderId: orderIdSchema }) },
      requestBody: {
        required: false,
        content: { 'application/x-www-form-urlencoded': { schema: startAttemptFormSchema } },
      },
      responses: {
        '303': {
          description: 'Go to the open attempt’s payment page',
          headers: z.object({ location: z.string().meta({ description: 'The attempt’s paymentUrl' }) }),
        },
        '400': refusal(
          '`validation_failed` (an unknown gateway or field), `gateway_not_allowed` (the order does not offer it)',
        ),
        '404': refusal('`order_not_found`'),
        '409': refusal('`invalid_transition` or `order_closed`: the order cannot be paid any more'),
        '413': refusal('`payload_too_large`'),
        '415': refusal('`unsupported_media_type`: only a form body'),
        '503': {
          ...refusal('`temporal_unavailable`: nothing was started; try again after `Retry-After` seconds'),
          headers: retryAfterHeader,
        },
        ...rateLimited,
      },
    },
  },
};
