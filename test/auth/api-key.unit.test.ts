// Key format and the development key of `npm start`: the prefix follows ORDERPAY_ENV, keys are random, and the
// development key is made once and read back on later starts.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { API_KEY_PATTERN, apiKeyDigest, generateApiKey, keyEnvironment } from '../../api/auth/api-key';
import { clientSecrets } from '../../api/auth/client-secret';
import { ensureDevApiKey } from '../../scripts/dev-api-key';

describe('API keys', () => {
  it('when ORDERPAY_ENV is production, then keys are op_live_; otherwise op_test_', () => {
    expect(generateApiKey(keyEnvironment('production'))).toMatch(/^op_live_[A-Za-z0-9_-]{43}$/);
    expect(generateApiKey(keyEnvironment('development'))).toMatch(/^op_test_[A-Za-z0-9_-]{43}$/);
    expect(generateApiKey(keyEnvironment('staging'))).toMatch(/^op_test_/);
  });

  it('when keys are generated, then each is new and matches the accepted pattern, and its digest is 32 bytes', () => {
    const keys = new Set(Array.from({ length: 100 }, () => generateApiKey('test')));
    expect(keys.size).toBe(100);
    for (const key of keys) expect(API_KEY_PATTERN.test(key)).toBe(true);
    expect(apiKeyDigest('op_test_x').length).toBe(32);
  });

  it('when npm start runs twice on the same data directory, then the development key is the same, kept private', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'orderpay-devkey-'));
    const first = ensureDevApiKey(dataDir, 'development');
    expect(first).toMatch(/^op_test_/);
    expect(ensureDevApiKey(dataDir, 'development')).toBe(first);
    const file = path.join(dataDir, 'dev-api-key');
    expect(readFileSync(file, 'utf8').trim()).toBe(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('client secrets', () => {
  const secrets = clientSecrets({ ORDERPAY_CLIENT_SECRET_KEY: 'unit-test-client-secret-key-0123456789' });

  it('when a secret is issued twice for an order, then it is the same, and it verifies for that order only', () => {
    const secret = secrets.issue('ord-1');
    expect(secrets.issue('ord-1')).toBe(secret);
    expect(secret).toMatch(/^ord-1_secret_[A-Za-z0-9_-]{43}$/);
    expect(secrets.verify('ord-1', secret)).toBe(true);
    expect(secrets.verify('ord-2', secret)).toBe(false);
    expect(secrets.verify('ord-1', `${secret}x`)).toBe(false);
    expect(secrets.verify('ord-1', '')).toBe(false);
  });

  it('when the server key changes, then earlier secrets no longer verify', () => {
    const rotated = clientSecrets({ ORDERPAY_CLIENT_SECRET_KEY: 'another-client-secret-key-0123456789abc' });
    expect(rotated.verify('ord-1', secrets.issue('ord-1'))).toBe(false);
  });
});
