import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { orderIdSchema } from '../../orders/checkout.schema';
import { rateLimited } from '../responses';

const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });

export const payPagePaths: ZodOpenApiPathsObject = {
  '/pay/{orderId}': {
    get: {
      tags: ['payer'],
      summary: 'eSewa payment start: a self-submitting form to eSewa with the signed fields (the order’s paymentUrl)',
      description:
        'Built from the order row while the order is AWAITING_PAYMENT: `amount`, `tax_amount`, `total_amount`, ' +
        '`transaction_uuid`, `product_code`, `product_service_charge`, `product_delivery_charge`, `success_url`, ' +
        '`failure_url`, `signed_field_names`, `signature`, posted to ESEWA_FORM_URL. A submit button covers ' +
        'browsers without script.',
      requestParams: { path: z.object({ orderId: orderIdSchema }) },
      responses: {
        '200': html('The form page'),
        '404': html('No eSewa order with this ID'),
        '409': html('The order is not awaiting payment (paid, expired, cancelled…): nothing to pay'),
        ...rateLimited,
      },
    },
  },
};
