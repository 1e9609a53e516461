// The order policy each workflow gets at checkout: the defaults, eSewa's late first status check, and a per-gateway
// poll cadence (GATEWAY_POLL_CADENCE) that lets a gateway with reliable signed webhooks poll less.
import { orderPolicy } from '../../api/orders/checkout-order.use-case';
import { apiConfigSchema, loadConfig } from '../../config/env';

describe('orderPolicy', () => {
  it('when no cadence is configured, then Stripe polls every 15 minutes and the wallets with POLL_* and GRACE_POLL_INTERVAL', () => {
    const config = loadConfig(apiConfigSchema, {});
    expect(orderPolicy(config, 'stripe')).toMatchObject({
      poll: { initialIntervalMs: 900_000, backoffCoefficient: 2, maxIntervalMs: 900_000 },
      gracePollIntervalMs: 900_000,
    });
    expect(orderPolicy(config, 'khalti')).toMatchObject({
      poll: { initialIntervalMs: 30_000, backoffCoefficient: 2, maxIntervalMs: 300_000 },
      gracePollIntervalMs: 300_000,
    });
  });

  it('when GATEWAY_POLL_CADENCE is set empty, then every gateway polls with POLL_* and GRACE_POLL_INTERVAL', () => {
    const config = loadConfig(apiConfigSchema, { GATEWAY_POLL_CADENCE: '' });
    expect(orderPolicy(config, 'stripe')).toMatchObject({
      poll: { initialIntervalMs: 30_000, backoffCoefficient: 2, maxIntervalMs: 300_000 },
      gracePollIntervalMs: 300_000,
    });
    expect(orderPolicy(config, 'khalti').poll).toEqual(orderPolicy(config, 'stripe').poll);
  });

  it('when Stripe has a cadence of its own, then only Stripe orders poll less', () => {
    const config = loadConfig(apiConfigSchema, { GATEWAY_POLL_CADENCE: 'stripe=15m/15m/15m, khalti=1m/10m' });
    expect(orderPolicy(config, 'stripe')).toMatchObject({
      poll: { initialIntervalMs: 900_000, backoffCoefficient: 2, maxIntervalMs: 900_000 },
      gracePollIntervalMs: 900_000,
    });
    expect(orderPolicy(config, 'khalti')).toMatchObject({
      poll: { initialIntervalMs: 60_000, maxIntervalMs: 600_000 },
      gracePollIntervalMs: 300_000,
    });
    expect(orderPolicy(config, 'esewa').poll).toMatchObject({ initialIntervalMs: 300_000, maxIntervalMs: 300_000 });
  });

  it('when eSewa is given a shorter cadence, then its first status check still waits ESEWA_FIRST_STATUS_CHECK', () => {
    const config = loadConfig(apiConfigSchema, { GATEWAY_POLL_CADENCE: 'esewa=10s/20s' });
    expect(orderPolicy(config, 'esewa').poll).toMatchObject({ initialIntervalMs: 300_000, maxIntervalMs: 300_000 });
  });

  it.each(['stripe=15m', 'paypal=1m/2m', 'stripe=soon/15m', 'stripe=1m/2m/3m/4m', 'stripe=1m/2m/0s'])(
    'when GATEWAY_POLL_CADENCE is "%s", then start-up fails naming the variable',
    (value) => {
      expect(() => loadConfig(apiConfigSchema, { GATEWAY_POLL_CADENCE: value })).toThrow(/GATEWAY_POLL_CADENCE/);
    },
  );

  it('when ORDER_MAX_ATTEMPTS is set, then the policy of every gateway carries it as maxAttempts; unset, the default 5', () => {
    expect(orderPolicy(loadConfig(apiConfigSchema, {}), 'stripe').maxAttempts).toBe(5);
    const config = loadConfig(apiConfigSchema, { ORDER_MAX_ATTEMPTS: '7' });
    for (const gateway of ['stripe', 'esewa', 'khalti'] as const)
      expect(orderPolicy(config, gateway).maxAttempts).toBe(7);
  });
});
