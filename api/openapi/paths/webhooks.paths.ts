import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { gatewayParamSchema } from '../../orders/checkout.schema';
import { webhookReceiptSchema } from '../../http/responses.schema';
import { error, json, retryAfterHeader } from '../responses';

export const webhooksPaths: ZodOpenApiPathsObject = {
  '/webhooks/{gateway}': {
    post: {
      tags: ['webhooks'],
      summary: 'Receive a signed gateway webhook',
      description:
        'Verifies the signature over the raw body, stores the event, de-duplicates it by event ID and answers; the ' +
        'event is signalled to its order after the answer (a sweeper retries deliveries that did not get through, ' +
        'for instance while Temporal is down). A 2xx means the event is stored; a 503 that it is not, so the ' +
        'gateway must deliver again.',
      requestParams: {
        path: z.object({ gateway: gatewayParamSchema }),
        header: z.object({
          'stripe-signature': z.string().optional().meta({ description: 'Stripe: the signature header (required)' }),
        }),
      },
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: z.record(z.string(), z.unknown()).meta({ description: 'The gateway’s event, exactly as signed' }),
          },
        },
      },
      responses: {
        '200': json(
          'Stored; delivered to its order after the answer (or left to reconciliation)',
          webhookReceiptSchema,
        ),
        '400': error('`invalid_payload`: signed, but not an event this gateway sends'),
        '401': error('`invalid_signature`'),
        '404': error('`unknown_gateway`'),
        '413': error('`payload_too_large`'),
        '429': {
          ...error(
            '`rate_limited`: this webhook failed verification, from an address with too many failures; a webhook that verifies is never limited',
          ),
          headers: retryAfterHeader,
        },
        '500': error('`internal_error`'),
        '503': error('`database_unavailable`: the event was not stored; deliver again'),
      },
    },
  },
};
