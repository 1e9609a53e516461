// The principals of keys this API process checked lately, so a merchant's stream of requests costs one database
// lookup per key per API_KEY_CACHE_TTL instead of one per request. The price is revocation: another process (or the
// keys CLI) revoking a key is seen here only once the entry expires, so a revoked key may work for up to the TTL. A
// revocation through this process's admin API forgets the key at once. Only keys that checked out are kept: an
// unknown or revoked key is looked up on every request, as without the cache.
import { timingSafeEqual } from 'node:crypto';
import type { Principal } from './api-key-auth';

/** Far more keys than a deployment has: a bound on memory, not an eviction policy anyone should meet. */
const DEFAULT_MAX_ENTRIES = 10_000;

interface Entry {
  digest: Buffer;
  principal: Principal;
  expiresAtMs: number;
}

export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>();

  /** A TTL of 0 keeps nothing: every request looks its key up. */
  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries: number = DEFAULT_MAX_ENTRIES,
  ) {}

  /** The principal of a key checked less than the TTL ago, or undefined. */
  get(digest: Buffer): Principal | undefined {
    const name = digest.toString('hex');
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    if (this.now() >= entry.expiresAtMs) {
      this.entries.delete(name);
      return undefined;
    }
    // The map found it by the digest; compared again in constant time, as the database lookup's result is.
    return timingSafeEqual(entry.digest, digest) ? entry.principal : undefined;
  }

  remember(digest: Buffer, principal: Principal): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) this.dropExpiredOrOldest();
    this.entries.set(digest.toString('hex'), { digest, principal, expiresAtMs: this.now() + this.ttlMs });
  }

  /** Forgets a key by ID: its revocation through this process takes effect on the next request. */
  forget(keyId: string): void {
    for (const [name, entry] of this.entries) {
      if (entry.principal.keyId === keyId) this.entries.delete(name);
    }
  }

  private dropExpiredOrOldest(): void {
    const now = this.now();
    for (const [name, entry] of this.entries) {
      if (now >= entry.expiresAtMs) this.entries.delete(name);
    }
    // Maps iterate in insertion order: the first entry is the oldest.
    const oldest = this.entries.keys().next();
    if (this.entries.size >= this.maxEntries && !oldest.done) this.entries.delete(oldest.value);
  }
}
