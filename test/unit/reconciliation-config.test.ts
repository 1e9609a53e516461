import { ConfigError, loadConfig, workerConfigSchema } from '../../config/env';

describe('reconciliation configuration', () => {
  it('when nothing is set, then stripe is reconciled daily with an hour of overlap, refunding late and unknown payments', () => {
    const config = loadConfig(workerConfigSchema, {});
    expect(config.RECONCILIATION_GATEWAYS).toEqual(['stripe']);
    expect(config.RECONCILIATION_INTERVAL).toBe(24 * 3_600_000);
    expect(config.RECONCILIATION_OVERLAP).toBe(3_600_000);
    expect(config.RECONCILIATION_LATE_SUCCESS_ACTION('stripe')).toBe('refund');
    expect(config.RECONCILIATION_UNKNOWN_PAYMENT_ACTION('stripe')).toBe('refund');
  });

  it('when a default and a per-gateway override are given, then the gateway gets its override', () => {
    const config = loadConfig(workerConfigSchema, {
      RECONCILIATION_LATE_SUCCESS_ACTION: 'refund, stripe=accept',
      RECONCILIATION_UNKNOWN_PAYMENT_ACTION: 'record',
      RECONCILIATION_GATEWAYS: '',
      RECONCILIATION_INTERVAL: '6h',
    });
    expect(config.RECONCILIATION_LATE_SUCCESS_ACTION('stripe')).toBe('accept');
    expect(config.RECONCILIATION_UNKNOWN_PAYMENT_ACTION('stripe')).toBe('record');
    expect(config.RECONCILIATION_GATEWAYS).toEqual([]);
    expect(config.RECONCILIATION_INTERVAL).toBe(6 * 3_600_000);
  });

  it('when an action or gateway is unknown, then the worker refuses to start, naming the variable', () => {
    expect(() => loadConfig(workerConfigSchema, { RECONCILIATION_LATE_SUCCESS_ACTION: 'ignore' })).toThrow(
      /RECONCILIATION_LATE_SUCCESS_ACTION: "ignore" is not one of refund, accept/,
    );
    expect(() => loadConfig(workerConfigSchema, { RECONCILIATION_UNKNOWN_PAYMENT_ACTION: 'nowhere=refund' })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig(workerConfigSchema, { RECONCILIATION_GATEWAYS: 'paypal' })).toThrow(
      /RECONCILIATION_GATEWAYS/,
    );
  });
});
