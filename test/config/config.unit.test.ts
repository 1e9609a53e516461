import { apiConfigSchema, ConfigError, loadConfig, sandboxConfigSchema, workerConfigSchema } from '../../config/env';
import { DEFAULT_MAX_PAYMENT_ATTEMPTS } from '../../domain/payment-attempts';

describe('process configuration', () => {
  it('when nothing is set, then every process gets the documented defaults', () => {
    const api = loadConfig(apiConfigSchema, {});
    expect(api).toMatchObject({
      PORT: 3000,
      ORDER_TTL: 15 * 60_000,
      ORDER_GRACE_PERIOD: 60 * 60_000,
      POLL_INITIAL_INTERVAL: 30_000,
      POLL_BACKOFF_COEFFICIENT: 2,
      POLL_MAX_INTERVAL: 5 * 60_000,
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'orderpay-orders',
      STRIPE_WEBHOOK_SECRETS: ['whsec_orderpay_sandbox'],
    });
    expect(loadConfig(workerConfigSchema, {}).STRIPE_API_BASE).toBe('http://127.0.0.1:12111');
    expect(loadConfig(workerConfigSchema, {})).toMatchObject({
      WORKER_METRICS_PORT: 9464,
      TEMPORAL_SDK_METRICS_PORT: 9465,
    });
    expect(loadConfig(sandboxConfigSchema, {}).SANDBOX_PORT).toBe(12111);
  });

  it('when values are set, then they are parsed: durations, numbers and secret lists', () => {
    const api = loadConfig(apiConfigSchema, {
      PORT: '8080',
      ORDER_TTL: '1h30m',
      STRIPE_WEBHOOK_SECRETS: 'whsec_new, whsec_old',
    });
    expect(api).toMatchObject({ PORT: 8080, ORDER_TTL: 5_400_000, STRIPE_WEBHOOK_SECRETS: ['whsec_new', 'whsec_old'] });
  });

  it('when a metrics port is not a port, then the worker refuses to start and names the variable', () => {
    expect(() => loadConfig(workerConfigSchema, { WORKER_METRICS_PORT: '70000' })).toThrow(/WORKER_METRICS_PORT/);
    expect(() => loadConfig(workerConfigSchema, { TEMPORAL_SDK_METRICS_PORT: 'x' })).toThrow(
      /TEMPORAL_SDK_METRICS_PORT/,
    );
    expect(loadConfig(workerConfigSchema, { WORKER_METRICS_PORT: '0' }).WORKER_METRICS_PORT).toBe(0);
  });

  it('when the webhook delivery pacing is set, then it is parsed; a busy concurrency above the full one is refused', () => {
    expect(loadConfig(apiConfigSchema, {})).toMatchObject({
      WEBHOOK_DELIVERY_CONCURRENCY: 8,
      WEBHOOK_DELIVERY_BUSY_CONCURRENCY: 1,
      WEBHOOK_INTAKE_BUSY_PER_SECOND: 50,
    });
    expect(
      loadConfig(apiConfigSchema, { WEBHOOK_DELIVERY_BUSY_CONCURRENCY: '4', WEBHOOK_INTAKE_BUSY_PER_SECOND: '0' }),
    ).toMatchObject({ WEBHOOK_DELIVERY_BUSY_CONCURRENCY: 4, WEBHOOK_INTAKE_BUSY_PER_SECOND: 0 });
    expect(() =>
      loadConfig(apiConfigSchema, { WEBHOOK_DELIVERY_CONCURRENCY: '2', WEBHOOK_DELIVERY_BUSY_CONCURRENCY: '3' }),
    ).toThrow(/WEBHOOK_DELIVERY_BUSY_CONCURRENCY/);
    expect(() => loadConfig(apiConfigSchema, { WEBHOOK_DELIVERY_BUSY_CONCURRENCY: '0' })).toThrow(
      /WEBHOOK_DELIVERY_BUSY_CONCURRENCY/,
    );
  });

  it('when the worker tuning variables are set, then they are parsed; unset leaves the measured defaults', () => {
    expect(
      loadConfig(workerConfigSchema, {
        WORKER_MAX_CACHED_WORKFLOWS: '500',
        WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '20',
        WORKER_MAX_CONCURRENT_ACTIVITIES: '50',
        WORKER_STICKY_TIMEOUT: '5s',
      }),
    ).toMatchObject({
      WORKER_MAX_CACHED_WORKFLOWS: 500,
      WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: 20,
      WORKER_MAX_CONCURRENT_ACTIVITIES: 50,
      WORKER_STICKY_TIMEOUT: 5_000,
    });
    const defaults = loadConfig(workerConfigSchema, {});
    expect(defaults.WORKER_MAX_CACHED_WORKFLOWS).toBe(250);
    expect(defaults.WORKER_STICKY_TIMEOUT).toBe(3_000);
    expect(() => loadConfig(workerConfigSchema, { WORKER_MAX_CACHED_WORKFLOWS: 'many' })).toThrow(
      /WORKER_MAX_CACHED_WORKFLOWS/,
    );
    expect(() => loadConfig(workerConfigSchema, { WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '1' })).toThrow(
      /WORKER_MAX_CONCURRENT_WORKFLOW_TASKS/,
    );
  });

  it('when the Khalti variables are unset, then the worker targets the Khalti sandbox and the sandbox links last an hour', () => {
    expect(loadConfig(workerConfigSchema, {})).toMatchObject({
      KHALTI_BASE_URL: 'https://dev.khalti.com/api/v2/',
      KHALTI_SECRET_KEY: 'live_secret_key_orderpay_sandbox',
    });
    expect(loadConfig(sandboxConfigSchema, {})).toMatchObject({
      SANDBOX_KHALTI_SECRET_KEY: 'live_secret_key_orderpay_sandbox',
      SANDBOX_KHALTI_EXPIRY: 60 * 60_000,
    });
    expect(loadConfig(sandboxConfigSchema, { SANDBOX_KHALTI_EXPIRY: '5m' }).SANDBOX_KHALTI_EXPIRY).toBe(300_000);
    expect(() => loadConfig(workerConfigSchema, { KHALTI_BASE_URL: 'not a url' })).toThrow(/KHALTI_BASE_URL/);
  });

  it('when SANDBOX_STATE_FILE is unset or empty, then the sandbox keeps its state in memory only', () => {
    expect(loadConfig(sandboxConfigSchema, {}).SANDBOX_STATE_FILE).toBeUndefined();
    expect(loadConfig(sandboxConfigSchema, { SANDBOX_STATE_FILE: ' ' }).SANDBOX_STATE_FILE).toBeUndefined();
    expect(loadConfig(sandboxConfigSchema, { SANDBOX_STATE_FILE: '.data/sandbox/state.json' })).toMatchObject({
      SANDBOX_STATE_FILE: '.data/sandbox/state.json',
    });
  });

  it('when ORDER_TTL is 7 days, then it is accepted: the longest TTL an order may have', () => {
    expect(loadConfig(apiConfigSchema, { ORDER_TTL: '7d' }).ORDER_TTL).toBe(7 * 86_400_000);
    expect(loadConfig(apiConfigSchema, {})).toMatchObject({ GRACE_POLL_INTERVAL: 300_000, ORDER_HISTORY_LIMIT: 5_000 });
  });

  it('when API_KEY_CACHE_TTL is unset, then 5s; 0 turns the cache off; past 60s or not a duration is refused', () => {
    expect(loadConfig(apiConfigSchema, {}).API_KEY_CACHE_TTL).toBe(5_000);
    expect(loadConfig(apiConfigSchema, { API_KEY_CACHE_TTL: '0' }).API_KEY_CACHE_TTL).toBe(0);
    expect(loadConfig(apiConfigSchema, { API_KEY_CACHE_TTL: '500ms' }).API_KEY_CACHE_TTL).toBe(500);
    expect(loadConfig(apiConfigSchema, { API_KEY_CACHE_TTL: '60s' }).API_KEY_CACHE_TTL).toBe(60_000);
    expect(() => loadConfig(apiConfigSchema, { API_KEY_CACHE_TTL: '61s' })).toThrow(/API_KEY_CACHE_TTL/);
    expect(() => loadConfig(apiConfigSchema, { API_KEY_CACHE_TTL: 'soon' })).toThrow(/API_KEY_CACHE_TTL/);
  });

  it('when ORDER_MAX_ATTEMPTS is unset, then it is the shared default; 1 and 20 are its bounds', () => {
    expect(loadConfig(apiConfigSchema, {}).ORDER_MAX_ATTEMPTS).toBe(DEFAULT_MAX_PAYMENT_ATTEMPTS);
    expect(loadConfig(apiConfigSchema, { ORDER_MAX_ATTEMPTS: '1' }).ORDER_MAX_ATTEMPTS).toBe(1);
    expect(loadConfig(apiConfigSchema, { ORDER_MAX_ATTEMPTS: '20' }).ORDER_MAX_ATTEMPTS).toBe(20);
    expect(loadConfig(apiConfigSchema, {})).toMatchObject({
      RATE_LIMIT_ATTEMPTS_PER_ORDER: 3,
      RATE_LIMIT_ATTEMPTS_WINDOW: 300_000,
    });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['ORDER_TTL', '15 minutes'],
    ['ORDER_TTL', '8d'],
    ['GRACE_POLL_INTERVAL', '0s'],
    ['ORDER_HISTORY_LIMIT', '60000'],
    ['ORDER_MAX_ATTEMPTS', '0'],
    ['ORDER_MAX_ATTEMPTS', '21'],
    ['ORDER_MAX_ATTEMPTS', '2.5'],
    ['RATE_LIMIT_ATTEMPTS_PER_ORDER', '0'],
    ['RATE_LIMIT_ATTEMPTS_WINDOW', 'soon'],
    ['POLL_MAX_INTERVAL', '0s'],
    ['POLL_BACKOFF_COEFFICIENT', '0.5'],
    ['PUBLIC_BASE_URL', 'not a url'],
    ['STRIPE_WEBHOOK_SECRETS', ' , '],
    ['LOG_LEVEL', 'loud'],
    ['ORDERPAY_BOOTSTRAP_API_KEY', 'op_test_short'],
    ['ORDERPAY_BOOTSTRAP_API_KEY', 'sk_test_0123456789abcdefghijklmnopqrstuvwxyz'],
    ['ORDERPAY_CLIENT_SECRET_KEY', 'too-short'],
  ])('when %s is %p, then start-up fails with a message naming the variable', (name, value) => {
    expect(() => loadConfig(apiConfigSchema, { [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig(apiConfigSchema, { [name]: value })).toThrow(new RegExp(`\\b${name}\\b`));
  });

  it('when ORDERPAY_ENV is production without ORDERPAY_CLIENT_SECRET_KEY, then start-up fails naming it', () => {
    expect(() => loadConfig(apiConfigSchema, { ORDERPAY_ENV: 'production' })).toThrow(/ORDERPAY_CLIENT_SECRET_KEY/);
    // Production refuses the other sandbox defaults too (test/config/production-config.unit.test.ts); the key is no longer one.
    const key = 'a-production-client-secret-key-0123456789';
    expect(() => loadConfig(apiConfigSchema, { ORDERPAY_ENV: 'production', ORDERPAY_CLIENT_SECRET_KEY: key })).toThrow(
      /^(?!.*ORDERPAY_CLIENT_SECRET_KEY).*$/s,
    );
  });
});
