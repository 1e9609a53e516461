import { z } from 'zod';
import type { ZodOpenApiOperationObject, ZodOpenApiPathsObject } from 'zod-openapi';
import { gatewayParamSchema } from '../../orders/checkout.schema';
import { rateLimited } from '../responses';

const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });

const responses: ZodOpenApiOperationObject['responses'] = {
  '200': html('An orderpay result page, when the order has no returnUrl'),
  '303': {
    description: 'Back to the order’s returnUrl, with `orderId`, `gateway` and `outcome` (paid, processing, failed)',
    headers: z.object({ location: z.string() }),
  },
  '400': html(
    'Not verifiable (a tampered or unsigned eSewa success), or not for the order’s own gateway and current intent ' +
      '(`callback_refused` for non-browser clients): nothing stored, nothing signalled',
  ),
  ...rateLimited,
  '404': html('No such payment service'),
  '503': html('Could not be recorded now: reload the page'),
};

const callback = (summary: string, path: z.ZodObject): { get: ZodOpenApiOperationObject } => ({
  get: {
    tags: ['payer'],
    summary,
    description:
      'Where a wallet sends the payer’s browser back. The gateway’s handler verifies what it can (eSewa signs its ' +
      'success redirect; Khalti signs nothing), the callback is stored in the webhook audit log (de-duplicated by ' +
      'a deterministic event ID) and signalled to the order; an unsigned one is only a hint that makes the ' +
      'workflow look the payment up.',
    requestParams: { path },
    responses,
  },
});

export const callbacksPaths: ZodOpenApiPathsObject = {
  '/callbacks/{gateway}': callback(
    'Wallet return without a sub-path (Khalti’s return_url)',
    z.object({ gateway: gatewayParamSchema }),
  ),
  '/callbacks/{gateway}/{route}': callback(
    'Wallet return with a route (eSewa’s success_url: `/callbacks/esewa/success?data=…`)',
    z.object({ gateway: gatewayParamSchema, route: z.string() }),
  ),
  '/callbacks/{gateway}/{route}/{ref}': callback(
    'Wallet return with a route and a reference (eSewa’s failure_url: `/callbacks/esewa/failure/<transaction_uuid>`)',
    z.object({ gateway: gatewayParamSchema, route: z.string(), ref: z.string() }),
  ),
};
