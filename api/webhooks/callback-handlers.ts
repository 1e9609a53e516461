// The wallets whose payers come back through GET /callbacks/<gateway>/…, built from the API's config. One place
// for the API process and the tests alike; a wallet's handler plugs in here.
import type { ApiConfig } from '../../config/env';
import type { GatewayName } from '../../contracts/order.contract';
import { createEsewaCallbackHandler } from '../../gateways/esewa/esewa.callbacks';
import type { CallbackHandler } from '../../gateways/gateway';
import { createKhaltiCallbackHandler } from '../../gateways/khalti/khalti.callback-handler';

export function walletCallbackHandlers(
  config: Pick<ApiConfig, 'ESEWA_PRODUCT_CODE' | 'ESEWA_SECRET_KEY'>,
): Partial<Record<GatewayName, CallbackHandler>> {
  return {
    esewa: createEsewaCallbackHandler({ productCode: config.ESEWA_PRODUCT_CODE, secretKey: config.ESEWA_SECRET_KEY }),
    khalti: createKhaltiCallbackHandler(),
  };
}
