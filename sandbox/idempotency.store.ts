// Stripe's idempotency contract: the first answer for a key is stored with a fingerprint of the request; the
// same key with the same request gets that answer again, with any other request it is a 400 idempotency_error.
// Keys are kept for the life of the sandbox (Stripe keeps them for 24 hours).

export interface StoredAnswer {
  status: number;
  body: unknown;
}

export type IdempotencyLookup = { kind: 'new' } | { kind: 'replay'; answer: StoredAnswer } | { kind: 'conflict' };

export type IdempotencySnapshot = [string, { fingerprint: string; answer: StoredAnswer }][];

export interface IdempotencyStore {
  lookup(key: string, fingerprint: string): IdempotencyLookup;
  save(key: string, fingerprint: string, answer: StoredAnswer): void;
  clear(): void;
  snapshot(): IdempotencySnapshot;
  restore(snapshot: IdempotencySnapshot): void;
}

export function createIdempotencyStore(): IdempotencyStore {
  const entries = new Map<string, { fingerprint: string; answer: StoredAnswer }>();
  return {
    snapshot: () => [...entries],
    restore(snapshot) {
      entries.clear();
      for (const [key, entry] of snapshot) entries.set(key, entry);
    },
    lookup(key, fingerprint) {
      const entry = entries.get(key);
      if (!entry) return { kind: 'new' };
      if (entry.fingerprint !== fingerprint) return { kind: 'conflict' };
      return { kind: 'replay', answer: entry.answer };
    },
    save(key, fingerprint, answer) {
      entries.set(key, { fingerprint, answer: structuredClone(answer) });
    },
    clear() {
      entries.clear();
    },
  };
}

/** Method, path and parameters, with object keys sorted so that field order does not matter. */
export function requestFingerprint(method: string, path: string, params: unknown): string {
  return `${method.toUpperCase()} ${path} ${canonicalJson(params)}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
