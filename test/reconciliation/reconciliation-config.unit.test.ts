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

describe('reconciliation safety settings', () => {
  it('when nothing is set, then foreign payments are flagged, closed orders are asked about for 7 days, and activities heartbeat within 30s', () => {
    const config = loadConfig(workerConfigSchema, {});
    expect(config.RECONCILIATION_FOREIGN_PAYMENT_ACTION('stripe')).toBe('flag');
    expect(config.RECONCILIATION_UNPAID_LOOKBACK).toBe(7 * 86_400_000);
    expect(config.RECONCILIATION_EDGE_TOLERANCE).toBe(15 * 60_000);
    expect(config.RECONCILIATION_BULK_TIMEOUT).toBe(30 * 60_000);
    expect(config.RECONCILIATION_BATCH_TIMEOUT).toBe(5 * 60_000);
    expect(config.RECONCILIATION_HEARTBEAT_TIMEOUT).toBe(30_000);
    expect(config.RECONCILIATION_LOOKUP_CONCURRENCY).toBe(8);
    expect(config.RECONCILIATION_LOOKUP_ATTEMPTS).toBe(5);
  });

  it('when foreign payments are to be refunded on one gateway and the concurrency is out of range, then the override applies and the bad value is refused', () => {
    const config = loadConfig(workerConfigSchema, { RECONCILIATION_FOREIGN_PAYMENT_ACTION: 'flag, khalti=refund' });
    expect(config.RECONCILIATION_FOREIGN_PAYMENT_ACTION('khalti')).toBe('refund');
    expect(config.RECONCILIATION_FOREIGN_PAYMENT_ACTION('stripe')).toBe('flag');
    expect(() => loadConfig(workerConfigSchema, { RECONCILIATION_FOREIGN_PAYMENT_ACTION: 'record' })).toThrow(
      /RECONCILIATION_FOREIGN_PAYMENT_ACTION/,
    );
    expect(() => loadConfig(workerConfigSchema, { RECONCILIATION_LOOKUP_CONCURRENCY: '0' })).toThrow(
      /RECONCILIATION_LOOKUP_CONCURRENCY/,
    );
  });
});
