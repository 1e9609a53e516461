// Khalti's return URL (GET /callbacks/khalti?pidx=…) through the shared callback mechanism: parseKhaltiCallback
// reads the query; the answer is always an unverified hint, so the workflow looks the payment up at Khalti.
import type { CallbackHandler, IncomingCallback, ParsedCallback } from '../gateway';
import { WebhookPayloadError } from '../gateway-errors';
import { parseKhaltiCallback } from './khalti.callback';

export function createKhaltiCallbackHandler(options: { now?: () => Date } = {}): CallbackHandler {
  const now = options.now ?? (() => new Date());
  return {
    gateway: 'khalti',
    parse({ path, query }: IncomingCallback): ParsedCallback {
      if (path.length > 0) throw new WebhookPayloadError('no such Khalti callback');
      const callback = parseKhaltiCallback(query, now());
      return {
        eventId: callback.eventId,
        eventType: `return:${callback.claimedStatus}`,
        orderId: callback.orderId,
        paymentEvent: callback.paymentEvent,
        // Unsigned: the payer is told what the browser claims only as far as it cannot mislead them.
        payerOutcome: callback.paymentEvent.kind === 'cancelled' ? 'failed' : 'processing',
      };
    },
  };
}
