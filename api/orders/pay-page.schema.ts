// What the pay link's "Try again" form may post, parsed with zod at the edge like every other body.
import { z } from 'zod';
import { GATEWAY_NAMES } from '../../contracts/order.contract';

/** POST /pay/:orderId/attempts: the gateway the payer chose, or none (the last attempt's gateway). */
export const startAttemptFormSchema = z.strictObject({
  gateway: z.enum(GATEWAY_NAMES).optional(),
});
export type StartAttemptForm = z.infer<typeof startAttemptFormSchema>;
