// Routes an order's gateway name to its adapter. A gateway that is not configured in this worker refuses, so the
// order fails with intent_rejected instead of retrying forever.
import type { GatewayName } from '../contracts/order.contract';
import type { PaymentGateway } from './gateway';
import { GatewayRejectedError } from './gateway-errors';

export function gatewayRegistry(
  adapters: Partial<Record<GatewayName, PaymentGateway>>,
): (name: GatewayName) => PaymentGateway {
  return (name) => {
    const adapter = adapters[name];
    if (!adapter)
      throw new GatewayRejectedError(`gateway ${name} is not configured in this worker`, 'gateway_not_configured');
    return adapter;
  };
}
