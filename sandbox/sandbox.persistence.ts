// Keeps the sandbox's state in a JSON file (SANDBOX_STATE_FILE), so `npm start` can be restarted without losing the
// checkout sessions of orders that are still open. A whole snapshot per write is fine at sandbox scale; bursts of
// changes are coalesced into one write, and every write replaces the file atomically (temp file, then rename).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { IdempotencySnapshot } from './idempotency.store';
import type { SandboxStoreSnapshot } from './sandbox.store';

export interface SandboxSnapshot {
  version: 1;
  store: SandboxStoreSnapshot;
  idempotency: IdempotencySnapshot;
}

const entries = z.array(z.tuple([z.string(), z.unknown()]));
// Only the envelope is checked: the objects inside were written by this same code.
const snapshotEnvelope = z.object({
  version: z.literal(1),
  store: z.object({
    sessions: entries,
    paymentIntents: entries,
    charges: entries,
    refunds: entries,
    events: entries,
    stats: z.record(z.string(), z.number()),
    sessionsByOrderId: z.array(z.tuple([z.string(), z.number()])),
  }),
  idempotency: entries,
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
  if (!snapshotEnvelope.safeParse(parsed).success) {
    throw new SandboxStateError(`sandbox state file ${file} does not hold sandbox state; move it away to start empty`);
  }
  return parsed as SandboxSnapshot;
}

export interface SnapshotWriter {
  /** Asks for a write soon; many calls within the coalescing window make one write. */
  schedule(): void;
  /** Writes now if anything is pending (on stop, so the last change is not lost). */
  flush(): void;
}

export function createSnapshotWriter(
  file: string,
  take: () => SandboxSnapshot,
  onError: (error: unknown) => void,
  coalesceMs = 25,
): SnapshotWriter {
  let timer: NodeJS.Timeout | undefined;
  const write = () => {
    timer = undefined;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, JSON.stringify(take()));
      renameSync(temporary, file);
    } catch (error) {
      // The sandbox keeps serving from memory; the next change tries again.
      onError(error);
    }
  };
  return {
    schedule() {
      timer ??= setTimeout(write, coalesceMs);
    },
    flush() {
      if (!timer) return;
      clearTimeout(timer);
      write();
    },
  };
}
