// ORDERPAY_ENV=production: every process refuses sandbox/UAT credentials, test endpoints and missing keys, names
// each offending variable, and never echoes a value. Development keeps the sandbox defaults.
import {
  adminAccessProblems,
  apiConfigSchema,
  ConfigError,
  loadConfig,
  productionProblems,
  sandboxConfigSchema,
  workerConfigSchema,
} from '../../config/env';
import { generateCodecKey } from '../../config/payload-codec';

const codecKeys = generateCodecKey('k1');
/** A complete live configuration of each process: the baseline every test breaks one thing of. */
const liveApi = {
  ORDERPAY_ENV: 'production',
  TEMPORAL_CODEC_KEYS: codecKeys,
  STRIPE_WEBHOOK_SECRETS: 'whsec_live_0123456789abcdef',
  ADMIN_API_TOKEN: 'admin-token-0123456789abcdef',
  CODEC_AUTH_TOKEN: 'codec-token-0123456789abcdef',
  ESEWA_FORM_URL: 'https://epay.esewa.com.np/api/epay/main/v2/form',
  ESEWA_PRODUCT_CODE: 'NP-ES-MERCHANT',
  ESEWA_SECRET_KEY: 'live-esewa-secret-0123456789',
  ORDERPAY_CLIENT_SECRET_KEY: 'live-client-secret-key-0123456789abcdef',
};
const liveWorker = {
  ORDERPAY_ENV: 'production',
  TEMPORAL_CODEC_KEYS: codecKeys,
  STRIPE_API_BASE: 'https://api.stripe.com',
  STRIPE_SECRET_KEY: 'sk_live_0123456789abcdef',
  ESEWA_STATUS_URL: 'https://epay.esewa.com.np/api/epay/transaction/status/',
  ESEWA_PRODUCT_CODE: 'NP-ES-MERCHANT',
  KHALTI_BASE_URL: 'https://khalti.com/api/v2/',
  KHALTI_SECRET_KEY: 'live_secret_key_0123456789abcdef',
};

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('ORDERPAY_ENV=production', () => {
  it('when every secret and endpoint is live, then the api and worker start', () => {
    expect(loadConfig(apiConfigSchema, liveApi).ORDERPAY_ENV).toBe('production');
    expect(loadConfig(workerConfigSchema, liveWorker).TEMPORAL_CODEC_KEYS?.[0]?.id).toBe('k1');
  });

  it('when nothing but ORDERPAY_ENV is set, then the api names every default and missing secret', () => {
    const message = refusal(() => loadConfig(apiConfigSchema, { ORDERPAY_ENV: 'production' }));
    for (const variable of [
      'TEMPORAL_CODEC_KEYS',
      'STRIPE_WEBHOOK_SECRETS',
      'ORDERPAY_CLIENT_SECRET_KEY',
      'ESEWA_FORM_URL',
      'ESEWA_PRODUCT_CODE',
      'ESEWA_SECRET_KEY',
      'CODEC_AUTH_TOKEN',
    ]) {
      expect(message).toContain(`${variable}:`);
    }
    expect(message).not.toContain('8gBm/:&EnhH.1/q');
    expect(message).not.toContain('whsec_orderpay_sandbox');
  });

  it('when nothing but ORDERPAY_ENV is set, then the worker names every default secret and sandbox/UAT endpoint', () => {
    const message = refusal(() => loadConfig(workerConfigSchema, { ORDERPAY_ENV: 'production' }));
    for (const variable of [
      'TEMPORAL_CODEC_KEYS',
      'STRIPE_API_BASE',
      'STRIPE_SECRET_KEY',
      'ESEWA_STATUS_URL',
      'ESEWA_PRODUCT_CODE',
      'KHALTI_BASE_URL',
      'KHALTI_SECRET_KEY',
    ]) {
      expect(message).toContain(`${variable}:`);
    }
    expect(message).not.toContain('sk_test_orderpay_sandbox');
    expect(message).not.toContain('live_secret_key_orderpay_sandbox');
  });

  it.each([
    ['ESEWA_SECRET_KEY', '8gBm/:&EnhH.1/q', /sandbox\/UAT default/],
    ['ESEWA_PRODUCT_CODE', 'EPAYTEST', /sandbox\/UAT default/],
    ['STRIPE_WEBHOOK_SECRETS', 'whsec_live_0123456789abcdef,whsec_orderpay_sandbox', /sandbox\/UAT default/],
    ['ESEWA_FORM_URL', 'https://rc-epay.esewa.com.np/api/epay/main/v2/form', /test environment \(rc-epay/],
    ['ESEWA_FORM_URL', 'https://uat.esewa.com.np/epay/main', /test environment \(uat\.esewa/],
    ['ESEWA_FORM_URL', 'http://127.0.0.1:12111/api/epay/main/v2/form', /this machine/],
  ])('when the api gets %s = %s, then it is refused by name', (variable, value, reason) => {
    const message = refusal(() => loadConfig(apiConfigSchema, { ...liveApi, [variable]: value }));
    expect(message).toMatch(new RegExp(`${variable}: [^;]*${reason.source}`));
    expect(message.match(/: /g)).toHaveLength(2);
  });

  it.each([
    ['STRIPE_SECRET_KEY', 'sk_test_51Habc', /Stripe test-mode key/],
    ['STRIPE_SECRET_KEY', 'sk_test_orderpay_sandbox', /sandbox\/UAT default|test-mode/],
    ['STRIPE_API_BASE', 'http://localhost:12111', /this machine/],
    ['STRIPE_API_BASE', 'http://sandbox:12111', /sandbox port 12111/],
    ['ESEWA_STATUS_URL', 'https://rc.esewa.com.np/api/epay/transaction/status/', /test environment/],
    ['KHALTI_BASE_URL', 'https://dev.khalti.com/api/v2/', /test environment \(dev\.khalti\.com\)/],
    ['KHALTI_SECRET_KEY', 'live_secret_key_orderpay_sandbox', /sandbox\/UAT default/],
  ])('when the worker gets %s = %s, then it is refused by name', (variable, value, reason) => {
    const message = refusal(() => loadConfig(workerConfigSchema, { ...liveWorker, [variable]: value }));
    expect(message).toMatch(new RegExp(`${variable}: [^;]*(${reason.source})`));
  });

  it('when the sandbox is started in production, then it refuses to run at all', () => {
    expect(refusal(() => loadConfig(sandboxConfigSchema, { ORDERPAY_ENV: 'production' }))).toMatch(
      /ORDERPAY_ENV: the sandbox fakes every gateway/,
    );
  });

  it('when no admin token is set, then configuration leaves it to the database (an admin key), and refuses a default token', () => {
    expect(adminAccessProblems({})).toEqual([]);
    expect(adminAccessProblems({ ADMIN_API_TOKEN: 'admin-token-0123456789abcdef' })).toEqual([]);
    expect(adminAccessProblems({ ADMIN_API_TOKEN: 'sk_test_0123456789abcdef' })).toEqual([
      { variable: 'ADMIN_API_TOKEN', reason: 'is a Stripe test-mode key' },
    ]);
  });
});

describe('ORDERPAY_ENV=development (the default)', () => {
  it('when nothing is set, then every process starts on the sandbox defaults without encryption keys', () => {
    const api = loadConfig(apiConfigSchema, {});
    expect(api.ORDERPAY_ENV).toBe('development');
    expect(api.TEMPORAL_CODEC_KEYS).toBeUndefined();
    expect(productionProblems('api', api)).toEqual([]);
    expect(productionProblems('worker', loadConfig(workerConfigSchema, {}))).toEqual([]);
    expect(loadConfig(sandboxConfigSchema, {}).ORDERPAY_ENV).toBe('development');
  });

  it('when ORDERPAY_ENV is something else, then it is refused', () => {
    expect(refusal(() => loadConfig(apiConfigSchema, { ORDERPAY_ENV: 'prod' }))).toMatch(/ORDERPAY_ENV/);
  });

  it('when TEMPORAL_CODEC_KEYS is malformed, then the process refuses to start naming it, not the key', () => {
    const message = refusal(() => loadConfig(workerConfigSchema, { TEMPORAL_CODEC_KEYS: 'k1:c2hvcnQ=' }));
    expect(message).toMatch(/TEMPORAL_CODEC_KEYS: key "k1" must be 32 bytes/);
    expect(message).not.toContain('c2hvcnQ=');
  });
});
