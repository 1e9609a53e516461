// The checks of a settlement report that look at every accepted line, made while the lines stream into COPY rather
// than as a second pass over a million stored rows: whether a row's time is inside the report's window, and whether
// its (kind, transaction ID) may repeat an earlier line's. Both answer exactly or not at all: a time this module
// cannot compare exactly, or a report too large to remember, leaves the check to SQL (settlement-reports.repo.ts),
// which stays the authority on both.
import type { SettlementRow } from '../../gateways/settlement';

/** ISO 8601 in UTC with at most milliseconds: what Date.parse reads as exactly the instant PostgreSQL stores. */
const UTC_TO_THE_MILLISECOND = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z$/;

/** 2^21 keys (a 32 MiB table) at most: beyond that the duplicate check is SQL's, so memory stays bounded. */
export const MAX_REMEMBERED_KEYS = 1 << 21;

export type WindowPosition = 'inside' | 'outside' | 'unknown';

export class ReportLineChecks {
  /** Rows whose window position SQL must decide. */
  windowUnchecked = 0;
  /** True once two accepted rows may share kind and transaction ID, or once the keys no longer fit: SQL decides. */
  mayHaveDuplicates = false;
  private readonly keys: FingerprintSet;

  constructor(
    private readonly windowStartMs: number,
    private readonly windowEndMs: number,
    maxKeys = MAX_REMEMBERED_KEYS,
  ) {
    this.keys = new FingerprintSet(maxKeys);
  }

  /** Where the row's time falls; 'unknown' when only PostgreSQL can say exactly. */
  windowPosition(row: SettlementRow): WindowPosition {
    if (!UTC_TO_THE_MILLISECOND.test(row.occurredAt)) {
      this.windowUnchecked += 1;
      return 'unknown';
    }
    const at = Date.parse(row.occurredAt);
    return at >= this.windowStartMs && at < this.windowEndMs ? 'inside' : 'outside';
  }

  /** Remembers an accepted row's key; a key seen before (or a set that is full) hands the check to SQL. */
  remember(row: SettlementRow): void {
    if (this.mayHaveDuplicates) return;
    if (!this.keys.add(row.kind, row.transactionId)) this.mayHaveDuplicates = true;
  }
}

/**
 * A set of 64-bit fingerprints (two 32-bit FNV-1a hashes) of (kind, transaction ID) in open addressing over typed
 * arrays: at most 16 bytes per key instead of a string per key in a Set. Equal keys always collide, so "never seen"
 * is exact; a fingerprint seen before is only a maybe (two different keys of a report sharing all 64 bits is rare,
 * and costs no more than the exact SQL check it triggers).
 */
export class FingerprintSet {
  private high = new Uint32Array(1024);
  private low = new Uint32Array(1024);
  private size = 0;

  constructor(private readonly maxKeys: number) {}

  /** False when the key may have been added before, or when the set is full. */
  add(kind: 'payment' | 'refund', id: string): boolean {
    if (this.size >= this.maxKeys) return false;
    // The kind is one of two words: it seeds the hashes instead of being hashed with the ID each time.
    let h1 = kind === 'payment' ? 0x811c9dc5 : 0x050c5d1f;
    let h2 = kind === 'payment' ? 0x9747b28c : 0x2f3a1c7d;
    for (let i = 0; i < id.length; i += 1) {
      const c = id.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    // FNV-1a's low bits follow the last characters closely (pi_1, pi_2…): mixed, so the slots spread evenly
    // instead of clustering into long probe runs.
    h1 ^= h1 >>> 16;
    h1 = Math.imul(h1, 0x85ebca6b);
    h1 ^= h1 >>> 13;
    h1 = Math.imul(h1, 0xc2b2ae35);
    h1 ^= h1 >>> 16;
    h1 >>>= 0;
    // Zero marks an empty slot.
    h2 = h2 >>> 0 || 1;
    if ((this.size + 1) * 2 > this.high.length) this.grow();
    return this.insert(h1, h2);
  }

  private insert(h1: number, h2: number): boolean {
    const mask = this.high.length - 1;
    for (let slot = h1 & mask; ; slot = (slot + 1) & mask) {
      const stored = this.low[slot] as number;
      if (stored === 0) {
        this.high[slot] = h1;
        this.low[slot] = h2;
        this.size += 1;
        return true;
      }
      if (stored === h2 && this.high[slot] === h1) return false;
    }
  }

  private grow(): void {
    const { high, low } = this;
    this.high = new Uint32Array(high.length * 2);
    this.low = new Uint32Array(low.length * 2);
    this.size = 0;
    for (let slot = 0; slot < low.length; slot += 1) {
      if (low[slot] !== 0) this.insert(high[slot] as number, low[slot] as number);
    }
  }
}
