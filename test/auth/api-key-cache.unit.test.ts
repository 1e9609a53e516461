// The merchant key cache (API_KEY_CACHE_TTL) with an injected clock and a fake database: a key that checked out is
// not looked up again within the TTL; after it the database decides again, so a key revoked elsewhere is refused;
// a revocation through this process forgets the key at once; unknown and revoked keys are never kept.
import { apiKeyDigest } from '../../api/auth/api-key';
import { createApiKeyAuthenticator } from '../../api/auth/api-key-auth';
import { ApiKeyCache } from '../../api/auth/api-key-cache';
import { createLogger } from '../../config/logger';
import type { Pool } from '../../db/pool';

const KEY = 'op_test_cache-unit-test-key-0123456789abcdef';
const OTHER_KEY = 'op_test_cache-unit-test-other-key-0123456789';

/** api_keys as a map the test edits; counts digest lookups, answers last-used updates. */
function fakeDatabase() {
  const rows = new Map<string, { id: string; name: string; revoked: boolean }>();
  let lookups = 0;
  const pool = {
    query: (sql: string, params: unknown[]) => {
      if (sql.startsWith('UPDATE api_keys SET last_used_at')) return Promise.resolve({ rows: [], rowCount: 1 });
      lookups += 1;
      const digest = params[0] as Buffer;
      const row = rows.get(digest.toString('hex'));
      return Promise.resolve({
        rows: row
          ? [
              {
                id: row.id,
                name: row.name,
                prefix: 'op_test_cach',
                key_hash: digest,
                scopes: ['orders:write'],
                created_at: new Date(0),
                last_used_at: null,
                revoked_at: row.revoked ? new Date(0) : null,
              },
            ]
          : [],
      });
    },
  } as unknown as Pool;
  return {
    pool,
    lookups: () => lookups,
    add: (key: string, id: string) => rows.set(apiKeyDigest(key).toString('hex'), { id, name: id, revoked: false }),
    revoke: (key: string) => {
      const row = rows.get(apiKeyDigest(key).toString('hex'));
      if (row) row.revoked = true;
    },
  };
}

function setup(ttlMs: number) {
  let nowMs = 1_000_000;
  const clock = {
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
  const db = fakeDatabase();
  const cache = new ApiKeyCache(ttlMs, () => nowMs);
  const authenticate = createApiKeyAuthenticator({
    config: { ADMIN_API_TOKEN: undefined },
    pool: db.pool,
    logger: createLogger('test', 'silent'),
    apiKeyCache: cache,
  });
  return { db, cache, clock, authenticate };
}

describe('API key cache', () => {
  it('when a key checked out within the TTL is offered again, then the database is not asked', async () => {
    const { db, authenticate, clock } = setup(5_000);
    db.add(KEY, 'key_a');
    expect(await authenticate(KEY)).toMatchObject({ keyId: 'key_a', scopes: ['orders:write'] });
    clock.advance(4_999);
    expect(await authenticate(KEY)).toMatchObject({ keyId: 'key_a' });
    expect(db.lookups()).toBe(1);
  });

  it('when a key is revoked elsewhere, then it works until its entry expires and is refused from then on', async () => {
    const { db, authenticate, clock } = setup(5_000);
    db.add(KEY, 'key_a');
    await authenticate(KEY);
    db.revoke(KEY);
    clock.advance(4_000);
    expect(await authenticate(KEY)).toBeDefined();
    clock.advance(1_000);
    expect(await authenticate(KEY)).toBeUndefined();
    // Refused keys are not kept: every later request asks the database again.
    expect(await authenticate(KEY)).toBeUndefined();
    expect(db.lookups()).toBe(3);
  });

  it('when this process revokes a key (forget), then its next request is looked up and refused', async () => {
    const { db, cache, authenticate } = setup(5_000);
    db.add(KEY, 'key_a');
    db.add(OTHER_KEY, 'key_b');
    await authenticate(KEY);
    await authenticate(OTHER_KEY);
    db.revoke(KEY);
    cache.forget('key_a');
    expect(await authenticate(KEY)).toBeUndefined();
    expect(await authenticate(OTHER_KEY)).toMatchObject({ keyId: 'key_b' });
    expect(db.lookups()).toBe(3);
  });

  it('when a key is unknown, then it is looked up on every request, even after it is created', async () => {
    const { db, authenticate } = setup(5_000);
    expect(await authenticate(KEY)).toBeUndefined();
    db.add(KEY, 'key_a');
    expect(await authenticate(KEY)).toMatchObject({ keyId: 'key_a' });
    expect(db.lookups()).toBe(2);
  });

  it('when the TTL is 0, then every request looks its key up', async () => {
    const { db, authenticate } = setup(0);
    db.add(KEY, 'key_a');
    await authenticate(KEY);
    await authenticate(KEY);
    expect(db.lookups()).toBe(2);
  });

  it('when the cache is full, then the oldest entry gives way and the newest is kept', () => {
    const nowMs = 0;
    const cache = new ApiKeyCache(5_000, () => nowMs, 2);
    const principal = (keyId: string) => ({ keyId, name: keyId, scopes: ['orders:read' as const] });
    cache.remember(apiKeyDigest('a'), principal('a'));
    cache.remember(apiKeyDigest('b'), principal('b'));
    cache.remember(apiKeyDigest('c'), principal('c'));
    expect(cache.get(apiKeyDigest('a'))).toBeUndefined();
    expect(cache.get(apiKeyDigest('b'))).toMatchObject({ keyId: 'b' });
    expect(cache.get(apiKeyDigest('c'))).toMatchObject({ keyId: 'c' });
  });
});
