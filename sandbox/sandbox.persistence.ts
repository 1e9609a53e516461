// Keeps the sandbox's state in a JSON file (SANDBOX_STATE_FILE), so `npm start` can be restarted without losing the
// checkout sessions of orders that are still open. A whole snapshot per write is fine at sandbox scale; bursts of
// changes are coalesced into one write, and every write replaces the file atomically (temp file, then rename).
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { EsewaSnapshot } from './esewa.store';
import type { IdempotencySnapshot } from './idempotency.store';
import type { KhaltiStoreSnapshot } from './khalti.store';
import type { SandboxStoreSnapshot } from './sandbox.store';
import type { PendingWebhook } from './webhook.dispatcher';

export interface SandboxSnapshot {
  version: 1;
  store: SandboxStoreSnapshot;
  idempotency: IdempotencySnapshot;
  /** Deliveries not yet acknowledged or abandoned; absent in files written before they were kept. */
  webhooks?: PendingWebhook[];
  /** eSewa transactions; absent in files written before the eSewa mode existed. */
  esewa?: EsewaSnapshot;
  /** Khalti mode's payments; absent in files written before it existed. */
  khalti?: KhaltiStoreSnapshot;
}

// Only what the sandbox relies on right after loading is checked (the sweep reads every session's status and
// expiry); the objects themselves were written by this same code.
const objects = z.array(z.tuple([z.string(), z.looseObject({ id: z.string() })]));
const snapshotEnvelope = z.object({
  version: z.literal(1),
  store: z.object({
    sessions: z.array(
      z.tuple([
        z.string(),
        z.looseObject({
          session: z.looseObject({ id: z.string(), status: z.string(), expires_at: z.number() }),
          productName: z.string(),
        }),
      ]),
    ),
    paymentIntents: objects,
    charges: objects,
    refunds: objects,
    events: objects,
    stats: z.record(z.string(), z.number()),
    sessionsByOrderId: z.array(z.tuple([z.string(), z.number()])),
  }),
  idempotency: z.array(z.tuple([z.string(), z.looseObject({ fingerprint: z.string(), answer: z.looseObject({}) })])),
  webhooks: z.array(z.object({ eventId: z.string(), eventType: z.string(), payload: z.string() })).optional(),
  esewa: z
    .array(
      z.tuple([z.string(), z.looseObject({ transactionUuid: z.string(), status: z.string(), totalPaisa: z.number() })]),
    )
    .optional(),
  // Lookups and expiry read every payment's status, expiry and transaction ID right after loading.
  khalti: z
    .object({
      payments: z.array(
        z.tuple([
          z.string(),
          z.looseObject({
            pidx: z.string(),
            status: z.string(),
            amount: z.number(),
            expiresAt: z.number(),
            transactionId: z.string().nullable(),
            refundedAmount: z.number(),
          }),
        ]),
      ),
      stats: z.record(z.string(), z.number()),
      initiatedByOrderId: z.array(z.tuple([z.string(), z.number()])),
    })
    .optional(),
});

export class SandboxStateError extends Error {
  override readonly name = 'SandboxStateError';
}

/** The saved state, or undefined when the file does not exist yet. A damaged file is an error, never "empty". */
export function loadSandboxSnapshot(file: string): SandboxSnapshot | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SandboxStateError(`cannot read sandbox state file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SandboxStateError(`sandbox state file ${file} is not valid JSON; move it away to start empty`);
  }
  const checked = snapshotEnvelope.safeParse(parsed);
  if (!checked.success) {
    const where = checked.error.issues[0]?.path.join('.') || '(top level)';
    throw new SandboxStateError(
      `sandbox state file ${file} does not hold sandbox state (at ${where}); move it away to start empty`,
    );
  }
  return parsed as SandboxSnapshot;
}

/** Creates the state file's directory at start, so a path the sandbox cannot write to stops it right away. */
export function prepareStateDirectory(file: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
  } catch (error) {
    throw new SandboxStateError(
      `cannot create the directory of sandbox state file ${file}: ${(error as Error).message}`,
    );
  }
}

export interface SnapshotWriter {
  /** Asks for a write soon; every call within the coalescing window, or during a write, makes one more write. */
  schedule(): void;
  /**
   * Writes the state one last time and waits for it; later calls to schedule() are ignored. Called once nothing
   * can change the state any more, so the last change before a stop is not lost.
   */
  close(): Promise<void>;
}

export function createSnapshotWriter(
  file: string,
  take: () => SandboxSnapshot,
  onError: (error: unknown) => void,
  coalesceMs = 25,
): SnapshotWriter {
  // One write at a time, so one temp file name is enough and a slow disk cannot reorder snapshots.
  const temporary = `${file}.tmp`;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let dirty = false;
  let closed = false;

  /** Resolves to whether the file now holds the snapshot. */
  async function write(): Promise<boolean> {
    dirty = false;
    try {
      // Serialised synchronously, so the file holds one consistent moment; only the I/O waits on the event loop.
      const text = JSON.stringify(take());
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(temporary, text);
      await rename(temporary, file);
      return true;
    } catch (error) {
      // The sandbox keeps serving from memory; the next change (or the stop) tries again. No retry timer of its
      // own, so a full disk logs once per change rather than forever.
      dirty = true;
      onError(error);
      return false;
    }
  }

  function start(): void {
    timer = undefined;
    writing = write().then((written) => {
      writing = undefined;
      // Changes made while this write was under way get their own.
      if (written && dirty && !closed) timer = setTimeout(start, coalesceMs);
    });
  }

  return {
    schedule() {
      if (closed) return;
      dirty = true;
      if (!timer && !writing) timer = setTimeout(start, coalesceMs);
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      await writing;
      // Unconditionally: a change whose write was still waiting for its timer or its response must reach the file.
      start();
      await writing;
    },
  };
}
